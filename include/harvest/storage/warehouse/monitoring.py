"""Monitoring reads: what the supervisor reads of a source (four queries on one connection,
:func:`source_results`) and what the Harvest app shows (:mod:`harvest.app`; every figure
aggregated in the database, one statement each, frames back).

The ``partition_loads`` rows of a window of days, and for the newest partition the share of its
expectations that passed (``validation_results``), each field's coverage in
``processed_<source>`` (rows with a value over rows loaded) and the crawl monitors of the newest
crawled partition (``crawl_monitors``). Tables that may not exist yet (no partition loaded, a
warehouse migrated before ``crawl_monitors`` existed) are looked up first, never guessed from an
error: a dropped connection is an error, not an empty answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    CRAWL_STATS,
    PARTITION_LOADS,
    QUARANTINE,
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


# ---- the app's reads (harvest.app) ---------------------------------------------------------------


def _frame(result: sa.CursorResult[Any]) -> pd.DataFrame:
    """A statement's rows as a frame with its column names (an empty frame keeps them)."""
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _has(conn: sa.Connection, table: sa.Table) -> bool:
    return sa.inspect(conn).has_table(table.name)


def sources(conn: sa.Connection) -> list[str]:
    """The sources with at least one recorded partition (``partition_loads``), sorted."""
    if not _has(conn, PARTITION_LOADS):
        return []
    query = sa.select(PARTITION_LOADS.c.source).distinct().order_by(PARTITION_LOADS.c.source)
    return list(conn.execute(query).scalars())


def data_version(conn: sa.Connection, source: str) -> tuple[int, dt.datetime | None]:
    """(partitions recorded, newest ``loaded_at``) of ``source``: what changes when a load or
    re-run lands, so the app keys its cached reads on it."""
    query = sa.select(sa.func.count(), sa.func.max(PARTITION_LOADS.c.loaded_at)).where(
        PARTITION_LOADS.c.source == source
    )
    count, newest = conn.execute(query).one()
    return int(count), newest


def partition_loads(conn: sa.Connection, source: str, since: dt.date | None) -> pd.DataFrame:
    """The ``partition_loads`` rows of ``source`` (on or after ``since``), oldest first."""
    query = sa.select(PARTITION_LOADS).where(PARTITION_LOADS.c.source == source)
    if since is not None:
        query = query.where(PARTITION_LOADS.c.logical_date >= since)
    return _frame(conn.execute(query.order_by(PARTITION_LOADS.c.logical_date)))


def quarantine_by_reason(
    conn: sa.Connection, source: str, since: dt.date | None, day: dt.date | None = None
) -> pd.DataFrame:
    """Quarantined records per (logical_date, stage, field, check, severity): distinct URLs,
    as ``partition_loads.quarantined`` counts them; one date with ``day``."""
    table = QUARANTINE
    query = sa.select(
        table.c.logical_date,
        table.c.stage,
        table.c.field,
        table.c.check,
        table.c.severity,
        sa.func.count(sa.distinct(table.c.url)).label("records"),
    ).where(table.c.source == source)
    if since is not None:
        query = query.where(table.c.logical_date >= since)
    if day is not None:
        query = query.where(table.c.logical_date == day)
    keys = [table.c.logical_date, table.c.stage, table.c.field, table.c.check, table.c.severity]
    return _frame(conn.execute(query.group_by(*keys).order_by(*keys)))


def quarantine_issues(conn: sa.Connection, source: str, day: dt.date, limit: int) -> pd.DataFrame:
    """The quarantine of one partition, an issue a row with its offending value and reason
    (at most ``limit``, ordered by stage, field, check and URL)."""
    table = QUARANTINE
    query = (
        sa.select(
            table.c.stage,
            table.c.field,
            table.c.check,
            table.c.severity,
            table.c.value,
            table.c.reason,
            table.c.url,
        )
        .where(table.c.source == source, table.c.logical_date == day)
        .order_by(table.c.stage, table.c.field, table.c.check, table.c.url)
        .limit(limit)
    )
    return _frame(conn.execute(query))


def field_coverage_by_date(
    conn: sa.Connection, spec: SourceSpec, since: dt.date | None
) -> pd.DataFrame:
    """Per logical date: ``rows`` loaded and, per spec field, the rows with a value (one
    ``GROUP BY`` in the database). Empty without a processed table; fields whose column the
    table lacks (not migrated yet) are left out."""
    table = processed_table(spec, sa.MetaData())
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name):
        return pd.DataFrame(columns=["logical_date", "rows"])
    existing = {column["name"] for column in inspector.get_columns(table.name)}
    fields = [name for name in spec.detail.fields if name in table.c and name in existing]
    query = sa.select(
        table.c.logical_date,
        sa.func.count().label("rows"),
        *[sa.func.count(table.c[name]).label(name) for name in fields],
    )
    if since is not None:
        query = query.where(table.c.logical_date >= since)
    query = query.group_by(table.c.logical_date).order_by(table.c.logical_date)
    return _frame(conn.execute(query))


def crawl_stats(conn: sa.Connection, source: str, since: dt.date | None) -> pd.DataFrame:
    """The ``crawl_stats`` rows of ``source`` (on or after ``since``), oldest first; empty on
    a warehouse migrated before the table existed, without the columns added since (``records``,
    ``cards_duplicate``) on one not migrated since (the app opens it read-only)."""
    if not _has(conn, CRAWL_STATS):
        return pd.DataFrame(columns=[c.name for c in CRAWL_STATS.c])
    present = {c["name"] for c in sa.inspect(conn).get_columns(CRAWL_STATS.name)}
    columns = [c for c in CRAWL_STATS.c if c.name in present]
    query = sa.select(*columns).where(CRAWL_STATS.c.source == source)
    if since is not None:
        query = query.where(CRAWL_STATS.c.logical_date >= since)
    return _frame(conn.execute(query.order_by(CRAWL_STATS.c.logical_date)))


def crawl_monitor_results(
    conn: sa.Connection, source: str, since: dt.date | None, day: dt.date | None = None
) -> pd.DataFrame:
    """The crawl monitors of ``source`` per date (logical_date, monitor, status, severity,
    message), oldest first; one date with ``day``."""
    table = CRAWL_MONITORS
    columns = [table.c.logical_date, table.c.monitor, table.c.status, table.c.severity]
    if not _has(conn, table):
        return pd.DataFrame(columns=[*[c.name for c in columns], "message"])
    query = sa.select(*columns, table.c.message).where(table.c.source == source)
    if since is not None:
        query = query.where(table.c.logical_date >= since)
    if day is not None:
        query = query.where(table.c.logical_date == day)
    return _frame(conn.execute(query.order_by(table.c.logical_date, table.c.monitor)))


def validation_results(conn: sa.Connection, source: str, day: dt.date) -> pd.DataFrame:
    """The expectations of one partition: expectation, column, severity, success,
    element_count, unexpected_count, observed_value; failed ones first."""
    table = VALIDATION_RESULTS
    query = (
        sa.select(
            table.c.expectation,
            table.c.column,
            table.c.severity,
            table.c.success,
            table.c.element_count,
            table.c.unexpected_count,
            table.c.observed_value,
        )
        .where(table.c.source == source, table.c.logical_date == day)
        .order_by(table.c.success, table.c.column, table.c.expectation)
    )
    return _frame(conn.execute(query))


def means_by_date(
    conn: sa.Connection, spec: SourceSpec, columns: list[str], since: dt.date | None
) -> pd.DataFrame:
    """Per logical date the mean of each numeric column of ``processed_<source>`` (``AVG`` in
    the database): the price level the Trends page tests for drift. Columns the table lacks
    are left out; empty without a processed table."""
    table = processed_table(spec, sa.MetaData())
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name):
        return pd.DataFrame(columns=["logical_date"])
    existing = {column["name"] for column in inspector.get_columns(table.name)}
    present = [c for c in columns if c in table.c and c in existing]
    query = sa.select(table.c.logical_date, *[sa.func.avg(table.c[c]).label(c) for c in present])
    if since is not None:
        query = query.where(table.c.logical_date >= since)
    query = query.group_by(table.c.logical_date).order_by(table.c.logical_date)
    frame = _frame(conn.execute(query))
    for column in present:
        frame[column] = frame[column].astype(float)
    return frame
