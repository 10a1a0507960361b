"""The stages' reads, one statement each on a connection: partition summaries, history for
de-duplication, recent row and scraped counts for validation and the crawl monitors, the
quarantine count and load times of the load stage, and the versions of a catalogue source.
Frames come back typed the same on PostgreSQL and SQLite. :class:`~.core.Warehouse` opens the
connection and serves the cached ones through Redis."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.storage.warehouse.errors import WarehouseError
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    PARTITION_LOADS,
    QUARANTINE,
    _type_family,
    reflect,
    versions_table_name,
)


def partition_summary(conn: sa.Connection, source: str, day: dt.date) -> PartitionSummary | None:
    """The recorded summary of one partition, or ``None``."""
    row = conn.execute(
        sa.select(PARTITION_LOADS).where(
            PARTITION_LOADS.c.source == source, PARTITION_LOADS.c.logical_date == day
        )
    ).first()
    return PartitionSummary(**row._asdict()) if row else None


def history(
    conn: sa.Connection,
    source: str,
    first: dt.date,
    last: dt.date,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Processed rows with ``first <= logical_date <= last``, ordered by date and key; columns
    come back as nullable pandas dtypes."""
    table = reflect(conn, source)
    unknown = [c for c in columns or [] if c not in table.c]
    if unknown:
        raise WarehouseError(f"source {source}: {table.name} has no column(s) {', '.join(unknown)}")
    selected = [table.c[c] for c in columns] if columns else list(table.c)
    query = (
        sa.select(*selected)
        .where(table.c.logical_date >= first, table.c.logical_date <= last)
        .order_by(table.c.logical_date, table.c.record_key)
    )
    return typed_frame(conn.execute(query).all(), selected)


def versions(conn: sa.Connection, source: str) -> pd.DataFrame:
    """Every version of a catalogue source, ordered by (key, valid_from), typed as
    :func:`history`; the current state is the rows whose ``valid_to`` is missing."""
    name = versions_table_name(source)
    table = reflect(conn, source, name, hint=" (is the source's mode catalogue?)")
    columns = list(table.c)
    query = sa.select(*columns).order_by(table.c.record_key, table.c.valid_from)
    return typed_frame(conn.execute(query).all(), columns)


def row_counts(conn: sa.Connection, source: str, before: dt.date, n: int) -> list[int]:
    """Rows of the last ``n`` loaded partitions before ``before``, oldest first."""
    table = reflect(conn, source)
    query = (
        sa.select(table.c.logical_date, sa.func.count())
        .where(table.c.logical_date < before)
        .group_by(table.c.logical_date)
        .order_by(table.c.logical_date.desc())
        .limit(n)
    )
    return [int(count) for _day, count in conn.execute(query)][::-1]


def scraped_counts(conn: sa.Connection, source: str, before: dt.date, n: int) -> list[int]:
    """Records scraped (``partition_loads.scraped``) in the last ``n`` loaded partitions before
    ``before`` that scraped any, oldest first: what the crawl's item count is compared with."""
    query = (
        sa.select(PARTITION_LOADS.c.scraped)
        .where(
            PARTITION_LOADS.c.source == source,
            PARTITION_LOADS.c.logical_date < before,
            PARTITION_LOADS.c.scraped > 0,  # as the row-count floor: a failed crawl is no norm
        )
        .order_by(PARTITION_LOADS.c.logical_date.desc())
        .limit(n)
    )
    return [int(count) for count in conn.execute(query).scalars()][::-1]


def quarantined_records(conn: sa.Connection, source: str, day: dt.date, stage: str) -> int:
    """Records (distinct URLs) of one partition that ``stage`` quarantined."""
    query = sa.select(sa.func.count(sa.distinct(QUARANTINE.c.url))).where(
        QUARANTINE.c.source == source,
        QUARANTINE.c.logical_date == day,
        QUARANTINE.c.stage == stage,
    )
    return int(conn.execute(query).scalar_one())


def load_times(
    conn: sa.Connection, source: str, since: dt.date, before: dt.date
) -> dict[dt.date, dt.datetime]:
    """When each partition with ``since <= logical_date < before`` was last (re)loaded (UTC)."""
    query = sa.select(PARTITION_LOADS.c.logical_date, PARTITION_LOADS.c.loaded_at).where(
        PARTITION_LOADS.c.source == source,
        PARTITION_LOADS.c.logical_date >= since,
        PARTITION_LOADS.c.logical_date < before,
    )
    return {day: at for day, at in conn.execute(query)}


def loaded_dates(conn: sa.Connection, source: str, after: dt.date | None = None) -> list[dt.date]:
    """The dates of ``source`` with a recorded load (after ``after``, if given), in order."""
    query = sa.select(PARTITION_LOADS.c.logical_date).where(PARTITION_LOADS.c.source == source)
    if after is not None:
        query = query.where(PARTITION_LOADS.c.logical_date > after)
    return sorted(conn.execute(query).scalars())


_READ_DTYPES = {
    "bool": "boolean",
    "date": "object",  # datetime.date
    "int": "Int64",
    "float": "Float64",
    "text": "string",
}
"""The pandas dtype each SQL type family (:func:`schema._type_family`) is read back as: the
dtypes of the field kinds stored in it."""


def _json_text(value: Any) -> str | None:
    """A JSON value as the text parsing gives a ``many: true`` field (``'["a", "b"]'``)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def typed_frame(rows: Sequence[Any], columns: list[sa.Column[Any]]) -> pd.DataFrame:
    """Rows as a frame with one dtype per SQL type, so both databases give equal frames."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns], dtype=object)
    for column in columns:
        family = _type_family(column.type)
        values = frame[column.name]
        if family == "datetime":
            frame[column.name] = pd.to_datetime(values, utc=True)
        elif family == "json":  # as parsed records hold it, so history compares like with like
            frame[column.name] = values.map(_json_text).astype("string")
        elif family in _READ_DTYPES:
            frame[column.name] = values.astype(_READ_DTYPES[family])
    return frame
