"""Airflow's logging configuration, with dag, task, run and try on every task log record in
Elasticsearch.

With ``[logging] remote_logging`` on and ``[elasticsearch] write_to_es``, Airflow 3.3's
``ElasticsearchRemoteLogIO`` uploads each finished task's log (JSON lines) with only ``log_id``
and ``offset`` added (the provider adds the task instance id from Airflow 3.4 on). The UI and
the Kibana link find a try by ``log_id``; people filtering in Kibana, and the saved search that
``deploy/kibana/setup.py`` provisions, need ``dag_id``, ``task_id``, ``run_id``, ``map_index`` and
``try_number`` as fields of their own, and ``message`` (structlog calls it ``event``).

Use it with ``[logging] logging_config_class = harvest_airflow.task_logs.LOGGING_CONFIG``:
``LOGGING_CONFIG`` is Airflow's default dict unchanged, ``REMOTE_TASK_LOG`` is
:class:`HarvestElasticsearchRemoteLogIO` when Airflow's own choice is Elasticsearch and Airflow's
choice otherwise (S3, GCS..., or ``None`` without remote logging). A subclass rather than a log
shipper of our own: the provider keeps writing, retrying and reading back; this only adds fields.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from contextvars import ContextVar
from os import PathLike
from typing import Any, Protocol

from airflow.config_templates import airflow_local_settings as _airflow
from airflow.providers.elasticsearch.log.es_task_handler import ElasticsearchRemoteLogIO

__all__ = [
    "DEFAULT_REMOTE_CONN_ID",
    "LOGGING_CONFIG",
    "REMOTE_TASK_LOG",
    "HarvestElasticsearchRemoteLogIO",
    "with_task_fields",
]


class TaskInstanceLike(Protocol):
    """What identifies a task try (a ``RuntimeTaskInstance`` has these)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int


_UPLOADING: ContextVar[TaskInstanceLike | None] = ContextVar("harvest_uploading_ti", default=None)


def with_task_fields(
    records: Iterable[dict[str, Any]], ti: TaskInstanceLike
) -> list[dict[str, Any]]:
    """``records`` with ``dag_id``, ``task_id``, ``run_id``, ``map_index``, ``try_number`` set
    from ``ti``; ``message`` and ``@timestamp`` (Kibana's defaults) copied from structlog's
    ``event`` and ``timestamp`` where a record has none."""
    fields = {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
    }
    out = []
    for record in records:
        record = {**record, **fields}
        if "message" not in record and "event" in record:
            record["message"] = record["event"]
        if "@timestamp" not in record and "timestamp" in record:
            record["@timestamp"] = record["timestamp"]
        out.append(record)
    return out


class HarvestElasticsearchRemoteLogIO(ElasticsearchRemoteLogIO):
    """The provider's Elasticsearch writer and reader; each uploaded record also carries the
    fields of :func:`with_task_fields`. Built by the provider's own ``from_config()``."""

    def upload(self, path: PathLike[str] | str, ti: Any = None) -> None:
        token = _UPLOADING.set(ti)
        try:
            super().upload(path, ti)
        finally:
            _UPLOADING.reset(token)

    def _parse_raw_log(
        self, log: str, log_id: str, extra_fields: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        records = super()._parse_raw_log(log, log_id, extra_fields)
        ti = _UPLOADING.get()
        return records if ti is None else with_task_fields(records, ti)


LOGGING_CONFIG: dict[str, Any] = copy.deepcopy(_airflow.DEFAULT_LOGGING_CONFIG)
DEFAULT_REMOTE_CONN_ID: str | None = getattr(_airflow, "DEFAULT_REMOTE_CONN_ID", None)
REMOTE_TASK_LOG: Any = (
    HarvestElasticsearchRemoteLogIO.from_config()
    if isinstance(_airflow.REMOTE_TASK_LOG, ElasticsearchRemoteLogIO)
    else _airflow.REMOTE_TASK_LOG
)
