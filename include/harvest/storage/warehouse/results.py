"""Result writers: the quarantine, validation results, crawl monitors, crawl figures and
summary of a partition. Each frame is checked and made Arrow rows first (``*_rows``, before any transaction),
then replaced whole on a connection (``replace_*``): :class:`~.core.Warehouse` runs both in
one transaction, so a re-run gives the same rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from harvest.fields import field_kind
from harvest.storage.warehouse.arrow import (
    _check_partition_column,
    _constant,
    _observed,
    _required,
    _to_arrow,
)
from harvest.storage.warehouse.copy import bulk_insert
from harvest.storage.warehouse.dialects import insert
from harvest.storage.warehouse.errors import FrameError
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    CRAWL_STATS,
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
    versions_unobserved: int | None = None
    warnings: dict[str, Any] | None = None  # {name: {"severity": ..., counts...}}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logical_date"] = self.logical_date.isoformat()
        data["loaded_at"] = self.loaded_at.isoformat() if self.loaded_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionSummary:
        """The summary from :meth:`to_dict`'s form (ISO dates and times)."""
        data = dict(data)
        if isinstance(data["logical_date"], str):
            data["logical_date"] = dt.date.fromisoformat(data["logical_date"])
        if isinstance(data.get("loaded_at"), str):
            data["loaded_at"] = dt.datetime.fromisoformat(data["loaded_at"])
        return cls(**data)


def quarantine_rows(
    source: str, day: dt.date, stage: str, issues: pd.DataFrame, severity: str = "warning"
) -> pa.Table:
    """The quarantine rows of one partition and stage: ``issues`` has
    :data:`harvest.records.ISSUE_COLUMNS` (``value``/``reason`` may be missing) and optionally
    ``severity`` (else ``severity``); repeated issues are kept once. Raises :class:`FrameError`."""
    where = f"quarantine of source {source}, logical date {day}, stage {stage}"
    _check_partition_column(issues, "source", source, where)
    _check_partition_column(issues, "logical_date", day.isoformat(), where)
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
    return data


def replace_quarantine(
    conn: sa.Connection, source: str, day: dt.date, stage: str, rows: pa.Table
) -> None:
    """Make the quarantine of one partition and stage hold exactly ``rows``."""
    conn.execute(
        sa.delete(QUARANTINE).where(
            QUARANTINE.c.source == source,
            QUARANTINE.c.logical_date == day,
            QUARANTINE.c.stage == stage,
        )
    )
    bulk_insert(conn, QUARANTINE, rows)


def validation_rows(source: str, day: dt.date, results: pd.DataFrame) -> pa.Table:
    """The validation results of one partition: ``results`` needs ``expectation`` and
    ``success``; ``column`` (None or '' for the whole partition), ``severity``,
    ``element_count``, ``unexpected_count``, ``pass_rate``, ``observed_value`` (stored as text,
    JSON for non-strings) and ``details`` (JSON) are optional. Raises :class:`FrameError`."""
    where = f"validation results of source {source}, logical date {day}"
    _check_partition_column(results, "source", source, where)
    _check_partition_column(results, "logical_date", day.isoformat(), where)
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
    return data


def replace_validation_results(
    conn: sa.Connection, source: str, day: dt.date, rows: pa.Table
) -> None:
    """Make the validation results of one partition exactly ``rows``."""
    conn.execute(
        sa.delete(VALIDATION_RESULTS).where(
            VALIDATION_RESULTS.c.source == source, VALIDATION_RESULTS.c.logical_date == day
        )
    )
    bulk_insert(conn, VALIDATION_RESULTS, rows)


def record_partition(conn: sa.Connection, summary: PartitionSummary) -> None:
    """Insert or replace the summary row of one partition."""
    values = asdict(summary)
    values["loaded_at"] = summary.loaded_at or dt.datetime.now(dt.UTC)
    stmt = insert(conn, PARTITION_LOADS).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "logical_date"],
        set_={k: stmt.excluded[k] for k in values if k not in ("source", "logical_date")},
    )
    conn.execute(stmt)


def crawl_monitor_rows(
    source: str,
    day: dt.date,
    results: Sequence[Mapping[str, Any]],
    checked_at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The crawl monitor rows of one partition, a monitor once (the last): each result a
    mapping with ``monitor``, ``status`` (passed | failed | skipped), ``severity`` and
    ``message``. Raises :class:`FrameError` naming the partition for a result missing a key."""
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
    return list({row["monitor"]: row for row in rows}.values())


def replace_crawl_monitors(
    conn: sa.Connection, source: str, day: dt.date, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Make the crawl monitors of one partition exactly ``rows``."""
    conn.execute(
        sa.delete(CRAWL_MONITORS).where(
            CRAWL_MONITORS.c.source == source, CRAWL_MONITORS.c.logical_date == day
        )
    )
    if rows:
        conn.execute(sa.insert(CRAWL_MONITORS), list(rows))


CRAWL_STAT_COLUMNS = tuple(
    c.name for c in CRAWL_STATS.c if c.name not in ("source", "logical_date", "crawled_at")
)
"""The crawl figures ``crawl_stats`` keeps: keys of ``CrawlResult.to_dict()`` (``records`` is
its ``item_pages``: :data:`_CRAWL_STAT_KEYS`)."""
_CRAWL_STAT_KEYS = {"records": "item_pages"}  # column -> its key in the crawl's report
_CRAWL_STAT_MAPS = ("links_skipped", "fields_regex_unmatched")  # {name: count}, {} when none
# None: that night / not known / not counted (a report from before the figure)
_CRAWL_STAT_OPTIONAL = ("observed_on", "date_loaded", "records", "cards_duplicate")


def crawl_stats_row(
    source: str, day: dt.date, stats: Mapping[str, Any], crawled_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The ``crawl_stats`` row of one crawl from its report (``CrawlResult.to_dict()``). Raises
    :class:`FrameError` naming the partition and the missing figures."""
    missing = [
        k
        for k in CRAWL_STAT_COLUMNS
        if k not in (*_CRAWL_STAT_MAPS, *_CRAWL_STAT_OPTIONAL)
        and stats.get(_CRAWL_STAT_KEYS.get(k, k)) is None
    ]
    if missing:
        raise FrameError(
            f"crawl figures of source {source}, logical date {day}: no {', '.join(missing)}"
        )
    row = {k: stats.get(_CRAWL_STAT_KEYS.get(k, k)) for k in CRAWL_STAT_COLUMNS}
    row.update({k: dict(stats.get(k) or {}) for k in _CRAWL_STAT_MAPS})
    if isinstance(row["observed_on"], str):
        row["observed_on"] = dt.date.fromisoformat(row["observed_on"])
    return {
        "source": source,
        "logical_date": day,
        **row,
        "crawled_at": crawled_at or dt.datetime.now(dt.UTC),
    }


def crawl_stats_of(conn: sa.Connection, source: str, day: dt.date) -> dict[str, Any] | None:
    """The ``crawl_stats`` row of one partition (``observed_on`` an ISO date), or ``None``."""
    row = (
        conn.execute(
            sa.select(CRAWL_STATS).where(
                CRAWL_STATS.c.source == source, CRAWL_STATS.c.logical_date == day
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    out = dict(row)
    out["observed_on"] = out["observed_on"].isoformat() if out["observed_on"] else None
    return out


def replace_crawl_stats(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    """Make the ``crawl_stats`` row of one partition exactly ``row``."""
    conn.execute(
        sa.delete(CRAWL_STATS).where(
            CRAWL_STATS.c.source == row["source"],
            CRAWL_STATS.c.logical_date == row["logical_date"],
        )
    )
    conn.execute(sa.insert(CRAWL_STATS), [dict(row)])
