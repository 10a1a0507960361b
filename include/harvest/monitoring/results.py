"""Partition results of a source, read from the warehouse for the supervisor: the counts of
``partition_loads`` for a window of days, and for the newest partition the share of its
expectations that passed (``validation_results``), each field's coverage in
``processed_<source>`` (rows with a value over rows loaded) and the crawl monitors of the newest
crawled partition (``crawl_monitors``). Four queries per source.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.monitoring.history import PartitionResult
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    PARTITION_LOADS,
    VALIDATION_RESULTS,
    processed_table,
)


def read_partition_results(
    engine: sa.Engine, spec: SourceSpec, since: dt.date
) -> list[PartitionResult]:
    """Partitions of ``spec`` with a logical date on or after ``since``, oldest first.

    Raises SQLAlchemy's errors (the caller reports them per source). The correct-data
    warnings are read from ``partition_loads.warnings`` (a JSON list) when the table has it.
    """
    columns = [
        PARTITION_LOADS.c.logical_date,
        PARTITION_LOADS.c.scraped,
        PARTITION_LOADS.c.quarantined,
        PARTITION_LOADS.c.loaded,
        PARTITION_LOADS.c.loaded_at,
    ]
    has_warnings = "warnings" in PARTITION_LOADS.c
    if has_warnings:
        columns.append(PARTITION_LOADS.c.warnings)
    query = (
        sa.select(*columns)
        .where(PARTITION_LOADS.c.source == spec.name, PARTITION_LOADS.c.logical_date >= since)
        .order_by(PARTITION_LOADS.c.logical_date)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        if not rows:
            return []
        newest = rows[-1].logical_date
        pass_rate = _validation_pass_rate(conn, spec.name, newest)
        coverage = _field_coverage(conn, spec, newest)
        monitors_date, monitors = _crawl_monitors(conn, spec.name, since)
    results = [
        PartitionResult(
            logical_date=row.logical_date,
            scraped=row.scraped,
            quarantined=row.quarantined,
            loaded=row.loaded,
            loaded_at=_aware(row.loaded_at),
            warnings=_warnings(row.warnings) if has_warnings else (),
        )
        for row in rows
    ]
    results[-1] = replace(
        results[-1],
        validation_pass_rate=pass_rate,
        field_coverage=coverage,
        crawl_monitors=monitors,
        crawl_monitors_date=monitors_date,
    )
    return results


def _validation_pass_rate(conn: sa.Connection, source: str, day: dt.date) -> float | None:
    table = VALIDATION_RESULTS
    query = sa.select(sa.func.count(), sa.func.sum(sa.case((table.c.success, 1), else_=0))).where(
        table.c.source == source, table.c.logical_date == day
    )
    total, passed = conn.execute(query).one()
    return (passed or 0) / total if total else None


def _crawl_monitors(
    conn: sa.Connection, source: str, since: dt.date
) -> tuple[dt.date | None, dict[str, str]]:
    """The newest crawled partition's monitors (monitor -> status) and its date, or (None, {})."""
    table = CRAWL_MONITORS
    newest = (
        sa.select(sa.func.max(table.c.logical_date))
        .where(table.c.source == source, table.c.logical_date >= since)
        .scalar_subquery()
    )
    query = sa.select(table.c.logical_date, table.c.monitor, table.c.status).where(
        table.c.source == source, table.c.logical_date == newest
    )
    try:
        rows = conn.execute(query).all()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError):
        conn.rollback()  # a warehouse migrated before crawl_monitors existed: none known
        return None, {}
    if not rows:
        return None, {}
    return rows[0].logical_date, {row.monitor: row.status for row in rows}


def _field_coverage(conn: sa.Connection, spec: SourceSpec, day: dt.date) -> dict[str, float]:
    table = processed_table(spec, sa.MetaData())
    fields = [name for name in spec.detail.fields if name in table.c]
    counts = [sa.func.count(table.c[name]) for name in fields]
    query = sa.select(sa.func.count(), *counts).where(table.c.logical_date == day)
    try:
        total, *present = conn.execute(query).one()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError):
        conn.rollback()  # no processed table yet (nothing loaded): coverage unknown
        return {}
    return {name: n / total for name, n in zip(fields, present, strict=True)} if total else {}


def _warnings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(str(item) for item in items)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone
    return moment
