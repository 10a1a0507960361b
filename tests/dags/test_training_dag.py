"""The training DAGs: one per source with a target, scheduled on the processed-data Asset, and
training errors sorted into skip (too little data yet) or fail (no retry can help)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from harvest.features import FeatureSpecError
from harvest.training import TrackingUnavailable, TrainingDataError
from harvest_airflow.errors import translate_errors
from harvest_airflow.training import skipped_until_more_data

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "include" / "harvest" / "sources"


@pytest.fixture(scope="module")
def dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags" / "harvest_training.py"))
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["harvest_train_catalogue", "harvest_train_demo"]
    return bag.dags["harvest_train_demo"]


def test_one_training_dag_per_source_with_a_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("catalogue", "demo"):
        text = (SOURCES / f"{name}.yaml").read_text()
        if name == "catalogue":
            text = re.sub(r"(?m)^target: .*$", "", text)
            assert "target:" not in text
        (sources / f"{name}.yaml").write_text(text)
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path / "home"))
    assert sorted(DagBag(str(REPO / "dags" / "harvest_training.py")).dags) == ["harvest_train_demo"]
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(tmp_path / "missing"))
    assert DagBag(str(REPO / "dags" / "harvest_training.py")).dags == {}


def test_scheduled_on_the_processed_asset(dag) -> None:  # type: ignore[no-untyped-def]
    uris = [asset.uri for asset in dag.timetable.asset_condition.objects]
    assert uris == ["x-harvest://processed/demo"]
    assert {"harvest", "training"} <= set(dag.tags)


def test_wiring(dag) -> None:  # type: ignore[no-untyped-def]
    down = {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}
    assert down == {
        "plan": ["score", "train", "tune", "workers"],
        "workers": ["tune"],
        "tune": ["train"],
        "train": ["score"],
        "score": [],
    }
    for task in dag.tasks:
        assert task.retries == 2 and task.execution_timeout is not None


def test_training_errors_become_skip_or_fail() -> None:
    """Too little data yet skips; the rest is translated once (retryable: retried, else failed)."""
    with (
        pytest.raises(AirflowSkipException, match=r"source demo: not trained: .*fewer than"),
        skipped_until_more_data("demo"),
    ):
        raise TrainingDataError("3 rows, fewer than 200", more_data_helps=True)
    for error, kind in (
        (TrainingDataError("target 'price' is constant"), AirflowFailException),
        (FeatureSpecError("the spec has no target"), AirflowFailException),
        (TrackingUnavailable("http://mlflow:5000 unreachable"), AirflowException),
    ):

        @translate_errors
        def task(error: Exception = error) -> None:
            with skipped_until_more_data("demo"):
                raise error

        with pytest.raises(kind, match=re.escape(str(error))) as caught:
            task()
        assert type(caught.value) is kind and caught.value.__cause__ is error


def test_mlflow_connection_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest.config import SpecError
    from harvest_airflow.training import _settings_and_spec, plan_training

    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(SOURCES))
    monkeypatch.setenv("HARVEST_MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_MLFLOW", "http://mlflow:5000")
    settings, spec = _settings_and_spec("demo")
    assert (settings.mlflow_tracking_uri, spec.name) == ("http://mlflow:5000", "demo")
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_MLFLOW")
    assert _settings_and_spec("demo")[0].mlflow_tracking_uri == "sqlite:///elsewhere.db"
    with pytest.raises(SpecError, match=r"nosuch\.yaml: cannot read the file"):
        _settings_and_spec("nosuch")
    with pytest.raises(AirflowFailException, match=r"nosuch\.yaml: cannot read the file"):
        plan_training("nosuch")  # a bad spec fails the task at once
