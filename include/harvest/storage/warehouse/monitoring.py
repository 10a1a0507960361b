"""Monitoring reads: what the supervisor reads of a source, four queries on one connection.

The ``partition_loads`` rows of a window of days, and for the newest partition the share of its
expectations that passed (``validation_results``), each field's coverage in
``processed_<source>`` (rows with a value over rows loaded) and the crawl monitors of the newest
crawled partition (``crawl_monitors``). Tables that may not exist yet (no partition loaded, a
warehouse migrated before ``crawl_monitors`` existed) are looked up first, never guessed from an
error: a dropped connection is an error, not an empty answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    PARTITION_LOADS,
    VALIDATION_RESULTS,
    processed_table,
)


@dataclass(frozen=True)
class SourceResults:
    """One source's partitions since a date (oldest first) and what is known of the newest."""

    partitions: list[PartitionSummary]
    validation_pass_rate: float | None = None  # share of the newest's expectations that passed
    field_coverage: dict[str, float] = field(default_factory=dict)  # field -> share with a value
    crawl_monitors_date: dt.date | None = None  # the newest crawled partition's date
    crawl_monitors: dict[str, str] = field(default_factory=dict)  # monitor -> status


def source_results(conn: sa.Connection, spec: SourceSpec, since: dt.date) -> SourceResults:
    """The partitions of ``spec`` with a logical date on or after ``since``."""
    query = (
        sa.select(PARTITION_LOADS)
        .where(PARTITION_LOADS.c.source == spec.name, PARTITION_LOADS.c.logical_date >= since)
        .order_by(PARTITION_LOADS.c.logical_date)
    )
    partitions = [PartitionSummary(**row._asdict()) for row in conn.execute(query)]
    if not partitions:
        return SourceResults([])
    newest = partitions[-1].logical_date
    monitors_date, monitors = _crawl_monitors(conn, spec.name, since)
    return SourceResults(
        partitions,
        _validation_pass_rate(conn, spec.name, newest),
        _field_coverage(conn, spec, newest),
        monitors_date,
        monitors,
    )


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
    """The newest crawled partition's monitors (monitor -> status) and its date, or (None, {})
    when none was stored (or the table predates the crawl monitors)."""
    table = CRAWL_MONITORS
    if not sa.inspect(conn).has_table(table.name):
        return None, {}
    newest = (
        sa.select(sa.func.max(table.c.logical_date))
        .where(table.c.source == source, table.c.logical_date >= since)
        .scalar_subquery()
    )
    query = sa.select(table.c.logical_date, table.c.monitor, table.c.status).where(
        table.c.source == source, table.c.logical_date == newest
    )
    rows = conn.execute(query).all()
    if not rows:
        return None, {}
    return rows[0].logical_date, {row.monitor: row.status for row in rows}


def _field_coverage(conn: sa.Connection, spec: SourceSpec, day: dt.date) -> dict[str, float]:
    """Each field's share of rows with a value on ``day``; ``{}`` when nothing was loaded (no
    processed table). Fields whose column the table lacks (not migrated yet) are left out."""
    table = processed_table(spec, sa.MetaData())
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name):
        return {}
    existing = {column["name"] for column in inspector.get_columns(table.name)}
    fields = [name for name in spec.detail.fields if name in table.c and name in existing]
    counts = [sa.func.count(table.c[name]) for name in fields]
    query = sa.select(sa.func.count(), *counts).where(table.c.logical_date == day)
    total, *present = conn.execute(query).one()
    return {name: n / total for name, n in zip(fields, present, strict=True)} if total else {}
