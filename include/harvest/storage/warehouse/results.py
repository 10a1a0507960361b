"""Result writers: the quarantine, validation results and partition summaries of a partition,
each replaced whole in one transaction (a re-run gives the same rows)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from harvest.fields import field_kind
from harvest.partitions import partition_date
from harvest.storage.warehouse.arrow import (
    _check_partition_column,
    _constant,
    _observed,
    _required,
    _to_arrow,
)
from harvest.storage.warehouse.copy import bulk_insert
from harvest.storage.warehouse.engine import begin
from harvest.storage.warehouse.errors import FrameError
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    PARTITION_LOADS,
    QUARANTINE,
    VALIDATION_RESULTS,
)


@dataclass(frozen=True)
class PartitionSummary:
    """The per-partition counts the supervisor and dashboards read (``partition_loads``)."""

    source: str
    logical_date: dt.date
    scraped: int
    valid: int
    quarantined: int
    duplicates: int
    imputed: int
    loaded: int
    validation_passed: bool
    loaded_at: dt.datetime | None = None
    updated: int | None = None  # listings: known keys loaded with changed fields
    versions_opened: int | None = None  # catalogue (see harvest.storage.warehouse.versions)
    versions_closed: int | None = None
    versions_unchanged: int | None = None
    warnings: dict[str, Any] | None = None  # {name: {"severity": ..., counts...}}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logical_date"] = self.logical_date.isoformat()
        data["loaded_at"] = self.loaded_at.isoformat() if self.loaded_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionSummary:
        data = dict(data)
        data["logical_date"] = partition_date(data["logical_date"])
        loaded_at = data.get("loaded_at")
        if isinstance(loaded_at, str):
            data["loaded_at"] = dt.datetime.fromisoformat(loaded_at)
        if isinstance(data.get("warnings"), str):  # SQLite's JSON comes back as text
            data["warnings"] = json.loads(data["warnings"])
        if data["loaded_at"] is not None and data["loaded_at"].tzinfo is None:
            data["loaded_at"] = data["loaded_at"].replace(tzinfo=dt.UTC)  # SQLite drops the zone
        return cls(**data)


def replace_quarantine(
    engine: sa.Engine,
    source: str,
    logical_date: dt.date | str,
    stage: str,
    issues: pd.DataFrame,
    severity: str = "warning",
) -> int:
    """Make the quarantine of one partition and stage hold exactly ``issues`` (one transaction).

    ``issues`` has :data:`harvest.records.ISSUE_COLUMNS` (``value``/``reason`` may be
    missing) and optionally ``severity`` (else ``severity``); repeated issues are kept once.
    """
    day = partition_date(logical_date)
    where = f"quarantine of source {source}, logical date {day}, stage {stage}"
    _check_partition_column(issues, "source", source, where)
    _check_partition_column(issues, "logical_date", day, where)
    keys = ["url", "field", "check"]
    for key in keys:
        _required(issues, key, where)
    frame = issues.drop_duplicates(subset=keys, keep="last")
    n = len(frame)
    arrays = {
        "source": _constant(source, n, pa.string()),
        "logical_date": _constant(day, n, pa.date32()),
        "stage": _constant(stage, n, pa.string()),
    }
    for column in ["url", "field", "check", "value", "reason", "severity"]:
        if column in frame:
            arrays[column] = _to_arrow(frame[column], "text", column, where)
        else:
            arrays[column] = _constant(severity if column == "severity" else None, n, pa.string())
    data = pa.table(arrays)
    for column in [*keys, "severity"]:
        if data[column].null_count:
            raise FrameError(f"{where}: {data[column].null_count} issue(s) have no {column!r}")
    scope = sa.and_(
        QUARANTINE.c.source == source,
        QUARANTINE.c.logical_date == day,
        QUARANTINE.c.stage == stage,
    )
    with begin(engine) as conn:
        conn.execute(sa.delete(QUARANTINE).where(scope))
        bulk_insert(conn, QUARANTINE, data)
    return n


def replace_validation_results(
    engine: sa.Engine, source: str, logical_date: dt.date | str, results: pd.DataFrame
) -> int:
    """Make the validation results of one partition exactly ``results`` (one transaction).

    Needs ``expectation`` and ``success``; ``column`` (None or '' for the whole partition),
    ``severity``, ``element_count``, ``unexpected_count``, ``pass_rate``, ``observed_value``
    (stored as text, JSON for non-strings) and ``details`` (JSON) are optional.
    """
    day = partition_date(logical_date)
    where = f"validation results of source {source}, logical date {day}"
    _check_partition_column(results, "source", source, where)
    _check_partition_column(results, "logical_date", day, where)
    frame = results.copy()
    for column in ("expectation", "success"):
        _required(frame, column, where)
    frame["column"] = frame["column"].fillna("") if "column" in frame else ""
    frame = frame.drop_duplicates(subset=["expectation", "column"], keep="last")
    n = len(frame)
    kinds = {
        "expectation": "text",
        "column": "text",
        "severity": "text",
        "success": "bool",
        "element_count": "int",
        "unexpected_count": "int",
        "pass_rate": "float",
    }
    arrays = {
        "source": _constant(source, n, pa.string()),
        "logical_date": _constant(day, n, pa.date32()),
    }
    for column, kind in kinds.items():
        arrays[column] = (
            _to_arrow(frame[column], kind, column, where)
            if column in frame
            else _constant(None, n, field_kind(kind).arrow_type())
        )
    arrays["observed_value"] = pa.array(
        [_observed(v) for v in frame.get("observed_value", pd.Series([None] * n))],
        type=pa.string(),
    )
    arrays["details"] = pa.array(
        [
            None if v is None else json.dumps(v, default=str, sort_keys=True)
            for v in frame.get("details", pd.Series([None] * n))
        ],
        type=pa.string(),
    )
    data = pa.table(arrays)
    if data["success"].null_count or data["expectation"].null_count:
        raise FrameError(f"{where}: every result needs 'expectation' and 'success'")
    with begin(engine) as conn:
        conn.execute(
            sa.delete(VALIDATION_RESULTS).where(
                VALIDATION_RESULTS.c.source == source,
                VALIDATION_RESULTS.c.logical_date == day,
            )
        )
        bulk_insert(conn, VALIDATION_RESULTS, data)
    return n


def record_partition(engine: sa.Engine, summary: PartitionSummary) -> None:
    """Insert or replace the summary row of one partition."""
    values = asdict(summary)
    values["loaded_at"] = summary.loaded_at or dt.datetime.now(dt.UTC)
    insert = postgresql.insert if engine.dialect.name != "sqlite" else sqlite.insert
    stmt = insert(PARTITION_LOADS).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "logical_date"],
        set_={k: stmt.excluded[k] for k in values if k not in ("source", "logical_date")},
    )
    with begin(engine) as conn:
        conn.execute(stmt)


def replace_crawl_monitors(
    engine: sa.Engine,
    source: str,
    logical_date: dt.date | str,
    results: Sequence[Mapping[str, Any]],
    checked_at: dt.datetime | None = None,
) -> int:
    """Make the crawl monitors of one partition exactly ``results`` (one transaction): each a
    mapping with ``monitor``, ``status`` (passed | failed | skipped), ``severity`` and
    ``message``. Raises :class:`FrameError` naming the partition for a result missing a key."""
    day = partition_date(logical_date)
    moment = checked_at or dt.datetime.now(dt.UTC)
    rows = []
    for result in results:
        missing = [k for k in ("monitor", "status", "severity") if not result.get(k)]
        if missing:
            raise FrameError(
                f"crawl monitors of source {source}, logical date {day}: {dict(result)!r} has "
                f"no {', '.join(missing)}"
            )
        rows.append(
            {
                "source": source,
                "logical_date": day,
                "monitor": str(result["monitor"]),
                "status": str(result["status"]),
                "severity": str(result["severity"]),
                "message": str(result.get("message") or ""),
                "checked_at": moment,
            }
        )
    rows = list({row["monitor"]: row for row in rows}.values())  # a monitor once: the last
    with begin(engine) as conn:
        conn.execute(
            sa.delete(CRAWL_MONITORS).where(
                CRAWL_MONITORS.c.source == source, CRAWL_MONITORS.c.logical_date == day
            )
        )
        if rows:
            conn.execute(sa.insert(CRAWL_MONITORS), rows)
    return len(rows)
