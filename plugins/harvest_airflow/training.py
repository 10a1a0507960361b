"""Airflow adapters of training: what the ``harvest_train_<source>`` tasks call.

Settings come from Airflow Connections (``harvest_mlflow`` for the tracking URI besides the
stage operators' ones) then the environment, the spec from the sources folder,
both at execute time. A training set that is too small skips the run (more data will come);
other failures go through :func:`harvest_airflow.errors.translate_errors` like the stage
operators': a constant or missing target fails it at once (a retry cannot fix the spec or the
data), an unreachable MLflow or warehouse is retried.
``harvest.training`` (pandas, scikit-learn, LightGBM, MLflow) is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from harvest_airflow.errors import translate_errors

if TYPE_CHECKING:
    from harvest.config import Settings, SourceSpec

log = logging.getLogger(__name__)

MLFLOW_CONN_ID = "harvest_mlflow"  # e.g. http://mlflow:5000; else HARVEST_MLFLOW_TRACKING_URI
WORKERS_ON_POSTGRES = 2  # mapped tuning tasks sharing each study; SQLite gets one


def _settings_and_spec(source: str) -> tuple[Settings, SourceSpec]:
    from harvest.config import load_spec
    from harvest_airflow.hooks import HarvestHook

    hook = HarvestHook()
    settings = hook.get_conn()
    mlflow_uri = hook.connection_uri(MLFLOW_CONN_ID)
    if mlflow_uri:
        log.info("Using Airflow connection %s for the MLflow tracking URI", MLFLOW_CONN_ID)
        settings = settings.with_overrides(mlflow_tracking_uri=mlflow_uri)
    path = settings.sources_dir / f"{source}.yaml"
    return settings, load_spec(path)  # SpecError: not retryable, names file and field


@contextlib.contextmanager
def skipped_until_more_data(source: str) -> Iterator[None]:
    """A training set too small yet (``TrainingDataError.more_data_helps``) skips the task;
    every other error goes on to :func:`~harvest_airflow.errors.translate_errors`."""
    from harvest.training import TrainingDataError

    try:
        yield
    except TrainingDataError as exc:
        if exc.more_data_helps:
            raise AirflowSkipException(f"source {source}: not trained: {exc}") from exc
        raise


@translate_errors
def plan_training(source: str) -> dict[str, Any]:
    """The latest processed date (the training set's end, which names the run's studies) and
    the tuning workers: several on PostgreSQL, one on the embedded SQLite default."""
    from harvest.storage.warehouse import open_warehouse

    settings, _spec = _settings_and_spec(source)
    with skipped_until_more_data(source), open_warehouse(settings) as warehouse:
        until = warehouse.latest_date(source)
        postgres = warehouse.dialect == "postgresql"
    if until is None:
        raise AirflowSkipException(f"source {source}: no processed rows yet")
    workers = WORKERS_ON_POSTGRES if postgres else 1
    return {"until": until.isoformat(), "workers": list(range(workers))}


@translate_errors
def tune_worker(source: str, until: str, worker: int) -> dict[str, Any]:
    """Run this worker's share of every candidate's Optuna study (seed offset by ``worker``)."""
    from harvest.training import TrainingSettings
    from harvest.training.run import prepare, tune_candidates

    settings, spec = _settings_and_spec(source)
    training = TrainingSettings.from_env()
    day = dt.date.fromisoformat(until)
    with skipped_until_more_data(source):
        prepared = prepare(spec, settings, training, day)
    studies = tune_candidates(prepared, settings, training, day, worker=worker)
    return {kind: {"study": s.study_name, "best_rmse": s.best_value} for kind, s in studies.items()}


@translate_errors
def train(source: str, until: str) -> dict[str, Any]:
    """Fit the best candidate, track, register, maybe promote (see ``train_source``)."""
    from harvest import training
    from harvest.monitoring.stage_metrics import measured_stage

    settings, spec = _settings_and_spec(source)
    with measured_stage(settings, "train") as stage:
        with skipped_until_more_data(source):
            report = training.train(spec, settings, until=dt.date.fromisoformat(until))
        result = stage.report = report.to_dict()
    log.info("source %s: %s", source, report.reason)
    return result


@translate_errors
def score(source: str, until: str) -> dict[str, Any]:
    """Score partition ``until`` with the champion into ``predictions_<source>``."""
    from harvest import training
    from harvest.monitoring.stage_metrics import measured_stage
    from harvest.training.scoring import NoChampion

    settings, spec = _settings_and_spec(source)
    with measured_stage(settings, "score") as stage:
        try:
            result = training.score(spec, settings, dt.date.fromisoformat(until)).to_dict()
        except NoChampion as exc:
            raise AirflowSkipException(str(exc)) from exc
        stage.report = result
    return result
