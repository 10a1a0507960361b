"""Training, registry and scoring end to end on a small warehouse (SQLite file) and a local
MLflow store: first model becomes champion, a challenger short of the margin keeps it, bad
training sets and an unreachable tracking server register nothing, scoring is idempotent.
The Optuna study storage is also exercised on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import SourceSpec
from harvest.storage.warehouse import open_warehouse
from harvest.training import TrackingUnavailable, TrainingDataError, TrainingSettings
from harvest.training.run import train_source
from harvest.training.scoring import score_partition
from harvest.training.tuning import storage_url, study_storage, tune
from harvest_demo import SiteConfig
from harvest_demo.shown import shown_partition

DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(5)]
FAST = TrainingSettings(trials=2, shap_sample=60, min_rows=100, models=("lightgbm",))


def _spec(name: str, **changes: Any) -> SourceSpec:
    data = yaml.safe_load((DEFAULT_SOURCES_DIR / "demo.yaml").read_text())
    data.update(name=name, **changes)
    return SourceSpec.model_validate(data)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("harvest")
    return Settings.from_env({"HARVEST_HOME": str(home)})


@pytest.fixture(scope="module")
def loaded(settings: Settings) -> dict[str, SourceSpec]:
    """Warehouse with five days of demo listings (source ``demo``), the same rows under a
    constant price (``flat``), and under a spec whose target column was never loaded."""
    config = SiteConfig(listings_per_day=80)
    specs = {"demo": _spec("demo"), "flat": _spec("flat")}
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.migrate(specs.values())
        for day in DAYS:
            frame = shown_partition(config, day)
            warehouse.load_partition(specs["demo"], day, frame)
            warehouse.load_partition(
                specs["flat"], day, frame.assign(price=1200.0, price_eur=1200.0)
            )
    fields = yaml.safe_load((DEFAULT_SOURCES_DIR / "demo.yaml").read_text())["detail"]["fields"]
    fields["rent"] = {"css": "[data-field=rent]::text", "kind": "price"}
    specs["no_target"] = _spec(
        "demo", detail={"key": "listing_id", "fields": fields}, target="rent"
    )
    return specs


def _versions(settings: Settings, name: str) -> list[Any]:
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return list(mlflow.MlflowClient().search_model_versions(f"name='{name}'"))


def _champion(settings: Settings, name: str) -> str | None:
    from harvest.training.tracking import champion_version, connect

    found = champion_version(connect(settings.mlflow_tracking_uri).MlflowClient(), name)
    return None if found is None else str(found.version)


def test_bad_training_sets_register_nothing(settings: Settings, loaded: dict) -> None:
    with pytest.raises(TrainingDataError, match="fewer than the 100000 needed"):
        train_source(loaded["demo"], settings, dataclasses.replace(FAST, min_rows=100_000))
    with pytest.raises(TrainingDataError, match=r"source flat.*target 'price_eur' is constant"):
        train_source(loaded["flat"], settings, FAST)
    with pytest.raises(TrainingDataError, match="target column 'rent' is missing"):
        train_source(loaded["no_target"], settings, FAST)
    with pytest.raises(TrainingDataError, match="no table processed_nothing"):
        train_source(_spec("nothing"), settings, FAST)
    assert not _versions(settings, "harvest_demo") and not _versions(settings, "harvest_flat")


def test_unreachable_tracking_server_names_the_uri(settings: Settings, loaded: dict) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    uri = f"http://127.0.0.1:{port}"
    offline = dataclasses.replace(settings, mlflow_tracking_uri=uri)
    with pytest.raises(TrackingUnavailable, match=f"MLflow tracking server {uri} is unreachable"):
        train_source(loaded["demo"], offline, FAST)
    assert not _versions(settings, "harvest_demo")


def test_first_model_becomes_champion_and_a_weaker_one_does_not(
    settings: Settings, loaded: dict
) -> None:
    first = train_source(loaded["demo"], settings, FAST)
    assert (first.version, first.promoted) == ("1", True)
    assert first.reason.startswith("first model: beats the naive baseline: RMSE")
    vs_baseline = first.comparisons["baseline"]
    assert vs_baseline["rows"] == first.split["split_holdout_rows"] >= 30
    assert vs_baseline["low"] < vs_baseline["difference"] < vs_baseline["high"] < 0
    assert first.holdout_rmse < first.baseline_rmse
    assert first.metrics["rmse_vs_noise_floor"] == pytest.approx(first.holdout_rmse / 60.0)
    low, high = first.metrics["rmse_vs_noise_floor_low"], first.metrics["rmse_vs_noise_floor_high"]
    assert low < first.metrics["rmse_vs_noise_floor"] < high  # the error vs the floor, with its CI
    assert high == pytest.approx(first.metrics["holdout_rmse_high"] / 60.0)
    assert _champion(settings, "harvest_demo") == "1"

    # same data, same holdout, but the challenger must be 90% better: it cannot be
    second = train_source(loaded["demo"], settings, dataclasses.replace(FAST, promotion_margin=0.9))
    assert (second.version, second.promoted) == ("2", False)
    assert second.champion_rmse == pytest.approx(first.holdout_rmse)
    assert second.reason.startswith("kept the champion: the candidate is not better")
    vs_champion = second.comparisons["champion"]
    assert vs_champion["rows"] == second.split["split_holdout_rows"]
    # the interval and the test are the run's metrics, the method its parameter
    import mlflow

    logged = mlflow.get_run(second.run_id).data
    assert logged.metrics["vs_champion_high"] == pytest.approx(vs_champion["high"])
    assert logged.metrics["vs_baseline_p_value"] == pytest.approx(
        second.comparisons["baseline"]["p_value"]
    )
    assert logged.params["promotion_test"].startswith("paired percentile bootstrap 95% CI")
    assert logged.metrics["rmse_vs_noise_floor_low"] < logged.metrics["rmse_vs_noise_floor"]
    assert _champion(settings, "harvest_demo") == "1"
    tags = {str(v.version): v.tags for v in _versions(settings, "harvest_demo")}
    assert tags["2"]["promotion"] == second.reason and tags["2"]["promoted"] == "False"

    import mlflow

    run = mlflow.get_run(first.run_id)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id, "shap")}
    assert "shap/shap_summary.png" in artifacts and len(artifacts) >= 2
    assert run.data.params["split_holdout_dates"] == "2026-03-04..2026-03-05"
    assert run.data.tags["promotion"] == first.reason


def test_scoring_the_latest_partition_is_idempotent(settings: Settings, loaded: dict) -> None:
    if _champion(settings, "harvest_demo") is None:
        train_source(loaded["demo"], settings, FAST)
    first = score_partition(loaded["demo"], settings)
    again = score_partition(loaded["demo"], settings)
    assert first.logical_date == again.logical_date == "2026-03-05"
    engine = sa.create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        rows = pd.read_sql("select * from predictions_demo", conn)
        loaded_rows = conn.execute(
            sa.text("select count(*) from processed_demo where logical_date = '2026-03-05'")
        ).scalar()
    engine.dispose()
    assert len(rows) == first.rows == loaded_rows
    assert rows["prediction"].notna().all() and (rows["model_version"] == "1").all()
    explanation = rows["explanation"].iloc[0]
    explanation = yaml.safe_load(explanation) if isinstance(explanation, str) else explanation
    assert len(explanation) == 3 and {"feature", "value", "contribution"} <= set(explanation[0])


def test_lime_second_opinion_is_logged_and_counted_beside_shap(
    settings: Settings, loaded: dict
) -> None:
    """LIME explains a bounded, seeded sample of holdout rows (training) and of scored rows
    (scoring); rows whose top feature differs from SHAP's are counted, logged and reported."""
    import mlflow

    lime = dataclasses.replace(FAST, lime_sample=12)
    report = train_source(loaded["demo"], settings, lime)
    opinion = report.second_opinion
    assert opinion["rows"] == 12 and 0 <= opinion["disagreements"] <= 12
    logged = mlflow.get_run(report.run_id).data.metrics
    assert logged["lime_rows"] == 12
    assert logged["lime_shap_top_disagreements"] == opinion["disagreements"]
    assert logged["lime_shap_top_disagreement_share"] == pytest.approx(opinion["share"])
    assert report.metrics["lime_shap_top_disagreements"] == opinion["disagreements"]  # statsd
    saved = mlflow.artifacts.load_dict(f"runs:/{report.run_id}/lime/explanations.json")
    rows = saved["explanations"]
    assert len(rows) == 12 and sum(not r["agree"] for r in rows) == opinion["disagreements"]
    assert {"record_key", "shap_top", "lime_top", "lime_score", "lime"} <= set(rows[0])
    # both name the model's input features (those SHAP's importances list)
    features = mlflow.artifacts.load_dict(f"runs:/{report.run_id}/feature_importances.json")
    assert {r["shap_top"] for r in rows} | {r["lime_top"] for r in rows} <= set(features)
    again = train_source(loaded["demo"], settings, lime)  # seeded: the same sample and answers
    assert again.second_opinion == opinion

    scored = score_partition(loaded["demo"], settings, training=lime)
    assert scored.second_opinion["rows"] == 12
    assert 0 <= scored.second_opinion["disagreements"] <= 12
    bounded = score_partition(loaded["demo"], settings, training=FAST)  # the default, 50
    assert bounded.second_opinion["rows"] == min(FAST.lime_sample, bounded.rows) == 50


def test_optuna_study_lives_in_postgres_with_a_heartbeat(postgres_url: str, tmp_path: Path) -> None:
    assert storage_url(postgres_url, tmp_path) == postgres_url
    assert storage_url("sqlite:///x.db", tmp_path) == f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = study_storage(postgres_url)
    assert storage.heartbeat_interval == 60
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((200, 3)), columns=["a", "b", "c"])
    y = pd.Series(x["a"] * 10 + rng.normal(0, 0.1, 200))
    name = f"harvest_test_{dt.datetime.now():%H%M%S%f}"
    study = tune(
        "lightgbm", (x[:150], y[:150], x[150:], y[150:]),
        storage=storage, study_name=name, trials=2, timeout_seconds=None, seed=0, n_jobs=1,
    )  # fmt: skip
    assert len(study.trials) == 2
    # a second worker on the same study runs only what is missing
    again = tune(
        "lightgbm", (x[:150], y[:150], x[150:], y[150:]),
        storage=storage, study_name=name, trials=3, timeout_seconds=None, seed=1, n_jobs=1,
    )  # fmt: skip
    assert len(again.trials) == 3
    import optuna

    optuna.delete_study(study_name=name, storage=storage)


def test_a_registration_failing_half_way_leaves_no_version(
    settings: Settings, loaded: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest.training.tracking import connect, register

    if _champion(settings, "harvest_demo") is None:
        train_source(loaded["demo"], settings, FAST)
    champion = _champion(settings, "harvest_demo")
    mlflow = connect(settings.mlflow_tracking_uri)
    source = mlflow.MlflowClient().get_model_version("harvest_demo", champion).source
    before = len(_versions(settings, "harvest_demo"))

    def registry_gone(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("registry went away")

    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", registry_gone)
    with pytest.raises(RuntimeError, match="registry went away"):
        register(mlflow, source, "harvest_demo", True, "test", {"source": "demo"})
    monkeypatch.undo()
    assert len(_versions(settings, "harvest_demo")) == before
    assert _champion(settings, "harvest_demo") == champion


# --- ordinary data that broke training (issue 20): each trains, dropping what it must with a
# warning naming the source, or fails once with a named error that is not retried


def _load(settings: Settings, spec: SourceSpec, frames: dict[dt.date, pd.DataFrame]) -> None:
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.migrate([spec])
        for day, frame in frames.items():
            warehouse.load_partition(spec, day, frame)


def _days(n: int) -> list[dt.date]:
    return [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(n)]


def test_features_without_information_are_dropped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """floor never filled, balcony always false, built_year mostly one value: Winsorizer said
    "contain NaN" / "low variation" and Airflow retried it twice for nothing."""
    spec = _spec("sparse")
    config = SiteConfig(listings_per_day=80)

    def sparse(day: dt.date) -> pd.DataFrame:
        frame = shown_partition(config, day)
        year = np.where(np.arange(len(frame)) % 10 == 0, 1950, 1990)
        return frame.assign(floor=None, balcony=False, built_year=year)

    _load(settings, spec, {day: sparse(day) for day in DAYS})
    with caplog.at_level("WARNING", logger="harvest.training.run"):
        report = train_source(spec, settings, FAST)
    assert report.dropped_features == {"floor": "never filled", "balcony": "constant (0.0)"}
    assert "source sparse: feature(s) left out, they carry no information in the " in caplog.text
    assert "training rows: floor: never filled; balcony: constant (0.0)" in caplog.text
    assert report.holdout_rmse < report.baseline_rmse  # built_year (no spread) stays, uncapped
    import mlflow

    params = mlflow.get_run(report.run_id).data.params
    assert params["features_dropped"] == "floor: never filled; balcony: constant (0.0)"


@pytest.mark.parametrize(
    ("bad", "valid", "holdout"),
    [
        pytest.param(5, "2026-03-05", "2026-03-07..2026-03-08", id="validation date"),
        pytest.param(7, "2026-03-05", "2026-03-06..2026-03-07", id="holdout date"),
    ],
)
def test_a_bad_night_on_the_validation_or_holdout_date_is_left_out(
    settings: Settings, bad: int, valid: str, holdout: str
) -> None:
    """Prices x100 on the validation date emptied that window ("0 feature(s) (shape=(0, 8))");
    on a holdout date it decided the promotion."""
    spec = _spec(f"badnight{bad}")
    config = SiteConfig(listings_per_day=60)
    days = _days(8)
    frames = {day: shown_partition(config, day) for day in days}
    frames[days[bad]] = frames[days[bad]].assign(
        price=lambda f: f["price"] * 100, price_eur=lambda f: f["price_eur"] * 100
    )
    _load(settings, spec, frames)
    report = train_source(spec, settings, FAST)
    assert report.split["bad_dates_dropped"] == days[bad].isoformat()
    assert report.split["split_valid_dates"] == f"{valid}..{valid}"
    assert report.split["split_holdout_dates"] == holdout
    assert report.promoted and report.holdout_rmse < report.baseline_rmse


def test_an_infinite_target_is_left_out_when_every_row_is_kept(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """``target_outlier_fold: null``: an infinite price crashed XGBoost and LightGBM was
    promoted with RMSE 1.2e36."""
    spec = _spec("infinite", features={"target_outlier_fold": None, "noise_floor": 60})
    config = SiteConfig(listings_per_day=80)
    frames = {day: shown_partition(config, day) for day in DAYS}
    last = frames[DAYS[-1]]
    frames[DAYS[-1]] = last.assign(price_eur=last["price_eur"].where(last.index != 0, np.inf))
    _load(settings, spec, frames)
    both = dataclasses.replace(FAST, models=("lightgbm", "xgboost"))
    with caplog.at_level("WARNING", logger="harvest.training.data"):
        report = train_source(spec, settings, both)
    assert "1 row(s) with an infinite price_eur (date(s) 2026-03-05)" in caplog.text
    # the demo's prices shown x10 are kept too (no target_outlier_fold): an RMSE in the
    # thousands, not 1e36; and XGBoost tuned instead of crashing
    assert report.holdout_rmse < 10_000 and np.isfinite(report.metrics["xgboost_valid_rmse"])


def test_a_holdout_of_a_few_rows_fails_once_with_what_to_do(settings: Settings) -> None:
    spec = _spec("tiny")
    config = SiteConfig(listings_per_day=80)
    frames = {day: shown_partition(config, day) for day in DAYS}
    for day in DAYS[-2:]:
        frames[day] = frames[day].head(1)
    _load(settings, spec, frames)
    with pytest.raises(
        TrainingDataError,
        match=r"source tiny: the holdout window \(2026-03-04..2026-03-05\) has 2 row\(s\), "
        r"fewer than the 30 needed.*raise features.holdout_days",
    ) as caught:
        train_source(spec, settings, FAST)
    assert not caught.value.retryable and not caught.value.more_data_helps
    from airflow.sdk.exceptions import AirflowFailException

    from harvest_airflow.errors import airflow_error

    assert isinstance(airflow_error(caught.value), AirflowFailException)  # failed at once
    assert not _versions(settings, "harvest_tiny")


def test_a_champion_whose_files_are_lost_is_reported_and_replaced(settings: Settings) -> None:
    """Lost model files made every later training and scoring fail with "No such artifact"."""
    import shutil

    from harvest.training.tracking import ModelUnavailable

    spec = _spec("lost")
    config = SiteConfig(listings_per_day=80)
    _load(settings, spec, {day: shown_partition(config, day) for day in DAYS})
    assert train_source(spec, settings, FAST).version == "1"
    shutil.rmtree(settings.home / "mlartifacts" / "harvest_lost")  # a storage that lost them
    with pytest.raises(
        ModelUnavailable,
        match=r"source lost: harvest_lost@champion cannot score 2026-03-05: model harvest_lost "
        r"version 1 cannot be loaded.*next training \(harvest_train_lost\)",
    ) as caught:
        score_partition(spec, settings)
    assert not caught.value.retryable
    second = train_source(spec, settings, FAST)
    assert (second.version, second.promoted) == ("2", True)
    assert second.reason.startswith("replaces version 1, the champion could not be loaded")
    assert "; first model: beats the naive baseline" in second.reason
    assert score_partition(spec, settings).model_version == "2"


def test_a_first_model_no_better_than_the_baseline_is_not_promoted(settings: Settings) -> None:
    """Prices shuffled across listings: nothing a feature says predicts them. A first model
    3.2x worse than the baseline was promoted; now the interval decides, and there is none."""
    spec = _spec("noise")
    config = SiteConfig(listings_per_day=80)
    frames = {}
    for n, day in enumerate(DAYS):
        frame = shown_partition(config, day)
        shuffled = frame["price_eur"].sample(frac=1.0, random_state=n).to_numpy()
        frames[day] = frame.assign(price=shuffled, price_eur=shuffled)
    _load(settings, spec, frames)
    report = train_source(spec, settings, FAST)
    assert (report.version, report.promoted) == ("1", False)
    assert report.reason.startswith("not promoted: not better than the naive baseline")
    assert report.comparisons["baseline"]["high"] >= 0
    assert _champion(settings, "harvest_noise") is None


def test_the_registered_model_scores_rows_without_an_optional_column(
    settings: Settings, loaded: dict
) -> None:
    """``mlflow.pyfunc`` refused rows without balcony ("Model is missing inputs") though
    Harvest's scoring takes them; only the spec's required fields are required now."""
    import mlflow

    if _champion(settings, "harvest_demo") is None:
        train_source(loaded["demo"], settings, FAST)
    model = mlflow.pyfunc.load_model("models:/harvest_demo@champion")
    inputs = {c.name: c.required for c in model.metadata.get_input_schema().inputs}
    assert inputs["city"] and not inputs["balcony"] and not inputs["area"]
    rows = shown_partition(SiteConfig(listings_per_day=20), DAYS[-1])
    # numbers as the input example gives them (float): MLflow refuses a nullable Int64 column
    rows = rows[["city", "district", "area", "rooms", "title"]].dropna().astype({"rooms": float})
    predicted = model.predict(rows)
    assert len(predicted) == len(rows) and np.isfinite(np.asarray(predicted)).all()


# --- the deep-learning challenger (the optional `dl` extra: Keras 3 on TensorFlow)


def _keras_or_skip() -> None:
    import os

    from harvest.training.network import available

    why = available()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs the dl extra (make venv-dl), but: {why}")
        pytest.skip(f"the deep-learning challenger cannot run here: {why}")


def test_without_keras_the_network_challenger_is_skipped_with_a_warning(
    settings: Settings,
    loaded: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from harvest.training import network

    monkeypatch.setattr(network, "available", lambda: "keras is not installed (make venv-dl)")
    both = dataclasses.replace(FAST, models=("lightgbm", "keras"))
    with caplog.at_level("WARNING", logger="harvest.training.run"):
        report = train_source(loaded["demo"], settings, both)
    assert report.model_kind == "lightgbm"
    assert report.skipped_candidates == {"keras": "keras is not installed (make venv-dl)"}
    assert "source demo: the deep-learning challenger was skipped: keras is not" in caplog.text


def test_the_network_challenger_trains_and_is_registered_like_the_others(
    settings: Settings,
) -> None:
    """A Keras network (embedded categories, standardised numbers, early stopping, seeded)
    tuned in its Optuna study, registered, explained (permutation SHAP) and loadable through
    ``mlflow.pyfunc`` like LightGBM and XGBoost."""
    _keras_or_skip()
    import mlflow

    spec = _spec("network")
    config = SiteConfig(listings_per_day=80)
    _load(settings, spec, {day: shown_partition(config, day) for day in DAYS})
    network_only = dataclasses.replace(FAST, trials=1, models=("keras",), shap_sample=30)
    report = train_source(spec, settings, network_only)
    assert (report.model_kind, report.version) == ("keras", "1")
    assert report.skipped_candidates == {}
    assert np.isfinite(report.holdout_rmse) and report.metrics["fit_seconds"] > 0
    print(  # noqa: T201 - the figures the issue asks for, in the test log
        f"network: holdout RMSE {report.holdout_rmse:.1f} (floor 60: "
        f"{report.holdout_rmse / 60:.2f}), baseline {report.baseline_rmse:.1f}, "
        f"fit {report.metrics['fit_seconds']:.1f} s; {report.reason}"
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(report.run_id, "shap")}
    assert "shap/shap_summary.png" in artifacts
    # LIME's second opinion on the network too (its category codes as LIME categories)
    assert report.second_opinion["rows"] == 30 and report.metrics["lime_local_r2_median"] > 0
    model = mlflow.pyfunc.load_model("models:/harvest_network/1")
    rows = shown_partition(SiteConfig(listings_per_day=20), DAYS[-1])
    rows = rows[["city", "district", "area", "title"]].dropna()
    assert np.isfinite(np.asarray(model.predict(rows))).all()
