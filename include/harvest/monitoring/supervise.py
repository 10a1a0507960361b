"""One supervisor run: read every source's run history (Airflow REST API), partition results
(warehouse) and trainings (MLflow), evaluate its SLA, work out which alerts to send, and push the
metrics.

A failure of the Airflow API, the warehouse or the tracking store is reported, never raised: it
is logged, sent as ``harvest.supervisor.up`` 0 and ``harvest.supervisor.errors.<component>``,
and listed in the result's ``errors`` (``airflow_api``, ``warehouse``, ``mlflow``); sources and
checks that could not be judged keep their alert state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import statsd

from harvest.config.spec import SourceSpec
from harvest.monitoring.airflow_api import AirflowApiError
from harvest.monitoring.alerts import Alert, AlertState, transitions
from harvest.monitoring.history import PartitionResult, RunRecord
from harvest.monitoring.metrics import emit_statuses, emit_supervisor_run
from harvest.monitoring.model_trend import (
    TrainingHistory,
    TrainingHistoryUnavailable,
    check_model_error_trend,
)
from harvest.monitoring.results import read_partition_results
from harvest.monitoring.sla import SourceStatus, evaluate_source
from harvest.storage.warehouse.errors import WarehouseError

if TYPE_CHECKING:
    from harvest.storage.warehouse import Warehouse

log = logging.getLogger(__name__)

HISTORY_DAYS = 30


class RunHistory(Protocol):
    """Where runs come from (:class:`~harvest.monitoring.airflow_api.AirflowApi`)."""

    def dag_runs(
        self, dag_ids: Iterable[str], since: dt.datetime
    ) -> dict[str, list[RunRecord]]: ...


PartitionHistory = Callable[[SourceSpec, dt.date], Sequence[PartitionResult]]


def warehouse_partitions(warehouse: Warehouse) -> PartitionHistory:
    """Partition results read from ``warehouse``."""
    return lambda spec, since: read_partition_results(warehouse, spec, since)


@dataclass
class SupervisorRun:
    """What one run found: statuses, alerts to send, the state to keep, and its own errors
    (component -> message: ``airflow_api``, ``warehouse``)."""

    statuses: list[SourceStatus]
    alerts: list[Alert]
    state: AlertState
    errors: dict[str, str] = field(default_factory=dict)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def with_repair(alert: Alert, repairs: Callable[[str], str | None]) -> Alert:
    """A miss alert with its source's pending repair proposal appended (when there is one)."""
    line = repairs(alert.source) if alert.kind == "miss" else None
    return dataclasses.replace(alert, message=f"{alert.message}; {line}") if line else alert


def supervise(
    specs: Sequence[SourceSpec],
    runs: RunHistory,
    partitions: PartitionHistory,
    state: Mapping[str, Mapping[str, str]],
    now: dt.datetime,
    client: statsd.StatsClient | None = None,
    history_days: int = HISTORY_DAYS,
    trainings: TrainingHistory | None = None,
    repairs: Callable[[str], str | None] | None = None,
) -> SupervisorRun:
    """Evaluate every spec at ``now`` over ``history_days`` of history, and with ``trainings``
    (read from MLflow) the trend of each champion's holdout error
    (:mod:`harvest.monitoring.model_trend`); never raises for an unreachable Airflow API,
    warehouse or tracking store (see the module docstring). ``repairs``: a source's pending
    spec patch proposal in one line (:mod:`harvest.learning.proposals`), added to each of the
    source's miss alerts."""
    started = time.perf_counter()
    errors: dict[str, str] = {}
    since = now - dt.timedelta(days=history_days)
    try:
        history = runs.dag_runs([spec.dag_id for spec in specs], since)
    except AirflowApiError as exc:
        errors["airflow_api"] = str(exc)
        log.error("supervisor: cannot read run history, no source judged: %s", exc)
        history = None
    statuses = []
    for spec in specs if history is not None else ():
        try:
            results = partitions(spec, since.date())
        except WarehouseError as exc:
            message = f"source {spec.name}: cannot read partition results: {exc}"
            errors["warehouse"] = "; ".join(filter(None, [errors.get("warehouse"), message]))
            log.error("supervisor: %s", message)
            continue
        source_runs = history.get(spec.dag_id, []) if history else []
        status = evaluate_source(spec, source_runs, results, now)
        window = spec.sla.model_error_trend
        if trainings is not None and spec.target is not None and window is not None:
            try:
                trend = check_model_error_trend(spec, trainings(spec, window))
            except TrainingHistoryUnavailable as exc:
                message = f"source {spec.name}: cannot read trainings: {exc}"
                errors["mlflow"] = "; ".join(filter(None, [errors.get("mlflow"), message]))
                log.error("supervisor: %s", message)
            else:
                status = dataclasses.replace(status, checks=(*status.checks, trend))
        statuses.append(status)
    alerts, new_state = transitions(statuses, state)
    if repairs is not None:
        alerts = [with_repair(alert, repairs) for alert in alerts]
    emit_statuses(client, statuses)
    duration = time.perf_counter() - started
    emit_supervisor_run(client, duration, errors)
    return SupervisorRun(statuses, alerts, new_state, errors, duration)
