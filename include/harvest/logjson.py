"""Component logs as JSON lines, for Logstash (``deploy/logstash/pipeline/harvest.conf``).

Off by default: every process logs as it always did. With ``HARVEST_LOG_FORMAT=json``
(``Settings.log_format``) the Harvest app logs one JSON object per line on stdout, and each crawl
child also appends one per record to ``HARVEST_LOG_DIR/crawl-<host>.jsonl``
(``Settings.json_log_dir``, default ``HARVEST_HOME/logs``; its text lines still reach the task log
through the parent). The Airflow components use Airflow's own
``[logging] json_logs`` instead (structlog, stdout). The formatter is python-json-logger's.

A line (``exc_info`` only with an exception, ``source`` to ``try_number`` only where known)::

    {"timestamp": "2026-03-02T02:00:01.500000+00:00", "level": "info", "logger": "scrapy.core.engine",
     "message": "Spider opened", "component": "crawl", "source": "demo", "date": "2026-03-02",
     "dag_id": "harvest_demo", "task_id": "scrape", "run_id": "scheduled__...", "try_number": 1}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import logging.handlers
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "HarvestJsonFormatter",
    "airflow_task_fields",
    "log_json_to_file",
    "log_json_to_stream",
]

# What Airflow's task runner exports to the task's process (and so to a crawl child it starts)
_AIRFLOW_CONTEXT = {
    "AIRFLOW_CTX_DAG_ID": "dag_id",
    "AIRFLOW_CTX_TASK_ID": "task_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "run_id",
    "AIRFLOW_CTX_TRY_NUMBER": "try_number",
}


def airflow_task_fields(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``dag_id``, ``task_id``, ``run_id``, ``try_number`` of the Airflow task this process
    runs in (from ``AIRFLOW_CTX_*``), each only where set; ``{}`` outside a task."""
    env = os.environ if env is None else env
    fields: dict[str, Any] = {
        key: env[var] for var, key in _AIRFLOW_CONTEXT.items() if env.get(var)
    }
    if str(fields.get("try_number", "")).isdigit():
        fields["try_number"] = int(fields["try_number"])
    return fields


class HarvestJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with the keys the Logstash pipeline reads: ``timestamp``
    (ISO 8601, UTC), ``level`` (lower case, as Airflow's), ``logger``, ``message``,
    ``component``, then ``fields`` (source, date, dag_id...) and any ``extra=`` of the call."""

    def __init__(self, component: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"component": component, **(fields or {})},
            timestamp=True,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["timestamp"] = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat()
        log_data["level"] = str(log_data["level"]).lower()


def _install(handler: logging.Handler, *, replace: bool) -> logging.Handler:
    root = logging.getLogger()
    for old in list(root.handlers):
        if replace or isinstance(old.formatter, HarvestJsonFormatter):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    return handler


def log_json_to_stream(
    component: str, fields: Mapping[str, Any] | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Make the root logger write JSON lines to ``stream`` (stdout), in place of its handlers
    (a second call replaces the first). Loggers that exist and do not propagate (Streamlit's:
    its own handler each, on stderr) write JSON to ``stream`` too; one created later keeps its
    library's text format. Return the handler."""
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    handler.setFormatter(HarvestJsonFormatter(component, fields))
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate:
            for own in logger.handlers:
                if isinstance(own, logging.StreamHandler) and not isinstance(
                    own, logging.FileHandler
                ):
                    # logging's last-resort handler (and its kind): stderr is a read-only
                    # property; it keeps its stream, its lines still turn JSON
                    with contextlib.suppress(AttributeError):
                        own.setStream(stream)
                    own.setFormatter(HarvestJsonFormatter(component, fields))
    if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.INFO)
    return _install(handler, replace=True)


def log_json_to_file(
    component: str,
    log_dir: Path,
    fields: Mapping[str, Any] | None = None,
    level: int = logging.INFO,
) -> logging.Handler:
    """Add a root handler appending JSON lines to ``log_dir/<component>-<host>.jsonl`` beside
    the handlers already there (one file per host: several processes of a host append to it, a
    line per write), records of ``level`` and up. A ``WatchedFileHandler``, so logrotate may
    move the file. Return it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{component}-{socket.gethostname()}.jsonl"
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(HarvestJsonFormatter(component, fields))
    return _install(handler, replace=False)
