"""The supervisor's model_error_trend check on trainings read from a real MLflow tracking store
(a local SQLite one, as the embedded defaults use), never from Airflow's metadata database:
runs logged the way ``train_source`` logs them, a champion drifting up (alert) and one that
stays flat with noise (no alert), through the supervisor task's own reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec
from harvest.monitoring.supervise import supervise
from harvest.training.history import champion_errors
from harvest_airflow.supervisor import mlflow_trainings

NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
# (holdout_rmse of the candidate, champion_holdout_rmse or None, promoted) per training
RISING = [(64.0, None, True), (66.0, 66.5, False), (63.0, 65.1, True), (75.0, 70.2, False),
          (72.0, 69.0, False), (160.0, 150.0, False), (80.0, 77.4, False),
          (79.9, 80.1, True), (90.0, 86.3, False), (95.0, 92.0, False)]  # fmt: skip
FLAT = [(64.0, None, True), (70.0, 71.5, False), (62.1, 66.0, True), (69.0, 68.2, False),
        (65.0, 60.9, False), (71.0, 70.3, False), (63.8, 65.0, True), (66.0, 66.0, False),
        (62.0, 61.2, False), (70.0, 67.4, False)]  # fmt: skip


def _spec(name: str) -> SourceSpec:
    data = yaml.safe_load((DEFAULT_SOURCES_DIR / "demo.yaml").read_text())
    return SourceSpec.model_validate({**data, "name": name})


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    import os

    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    import mlflow

    home: Path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    for source, history in (("rising", RISING), ("flat", FLAT)):
        experiment = mlflow.create_experiment(f"harvest_{source}", (home / source).as_uri())
        for n, (rmse, champion, promoted) in enumerate(history):
            with mlflow.start_run(experiment_id=experiment, run_name=f"{source} {n}"):
                metrics = {"holdout_rmse": rmse, "baseline_rmse": 480.0}
                if champion is not None:
                    metrics["champion_holdout_rmse"] = champion
                mlflow.log_metrics(metrics)
                mlflow.set_tags({"source": source, "promoted": str(promoted)})
    return uri


def test_the_champions_error_per_training_comes_from_mlflow(tracking_uri: str) -> None:
    errors = champion_errors(tracking_uri, "rising", 10)
    # promoted: the new model's error; kept: the champion's on the same holdout
    assert [rmse for _run, rmse, _promoted in errors] == [
        64.0, 66.5, 63.0, 70.2, 69.0, 150.0, 77.4, 79.9, 86.3, 92.0,
    ]  # fmt: skip
    assert [promoted for *_rest, promoted in errors][:3] == [True, False, True]
    assert len({run for run, *_rest in errors}) == 10
    assert [e[1] for e in champion_errors(tracking_uri, "rising", 4)] == [77.4, 79.9, 86.3, 92.0]
    assert champion_errors(tracking_uri, "never_trained", 10) == []
    missing = tracking_uri.replace("mlflow.db", "none.db")
    assert champion_errors(missing, "rising", 10) == []  # no store yet: none, and none made
    assert not Path(missing.removeprefix("sqlite:///")).exists()


class NoRuns:
    def dag_runs(self, dag_ids: object, since: object) -> dict[str, list[object]]:
        return {}


def test_the_supervisor_alerts_on_the_rising_champion_only(tracking_uri: str) -> None:
    specs = [_spec("rising"), _spec("flat"), _spec("never_trained")]
    run = supervise(
        specs, NoRuns(), lambda s, d: [], {}, NOW, trainings=mlflow_trainings(tracking_uri)
    )
    assert run.ok, run.errors
    trend = {s.source: s.check("model_error_trend") for s in run.statuses}
    assert trend["rising"].missed is True, trend["rising"].message
    assert trend["flat"].missed is False, trend["flat"].message
    assert trend["never_trained"].missed is None  # no training yet: not judged
    alerts = [a.text for a in run.alerts if a.check == "model_error_trend"]
    assert alerts == [
        "[harvest] SLA MISSED: source rising, model_error_trend: " + trend["rising"].message
    ]
    assert "64.0 -> 92.0" in alerts[0]


def test_an_unreachable_tracking_server_is_the_supervisors_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    reader = mlflow_trainings(f"http://127.0.0.1:{port}")
    run = supervise([_spec("rising")], NoRuns(), lambda s, d: [], {}, NOW, trainings=reader)
    assert not run.ok and f"127.0.0.1:{port} is unreachable" in run.errors["mlflow"]
