"""Cached reads: history for de-duplication, recent row counts for validation and partition
summaries, served through the read cache (:class:`~harvest.storage.read_cache.ReadCache`; loads
invalidate them) and typed the same on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.partitions import partition_date
from harvest.storage.read_cache import ReadCache, cache_key
from harvest.storage.warehouse.engine import begin
from harvest.storage.warehouse.errors import WarehouseError
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    PARTITION_LOADS,
    _type_family,
    reflect,
    versions_table_name,
)


def partition_summary(
    engine: sa.Engine, cache: ReadCache, ttl_seconds: int, source: str, logical_date: dt.date | str
) -> PartitionSummary | None:
    """The recorded summary of one partition, or ``None`` (cached)."""
    day = partition_date(logical_date)

    def compute() -> dict[str, Any] | None:
        with begin(engine) as conn:
            row = conn.execute(
                sa.select(PARTITION_LOADS).where(
                    PARTITION_LOADS.c.source == source,
                    PARTITION_LOADS.c.logical_date == day,
                )
            ).first()
        return PartitionSummary.from_dict(row._asdict()).to_dict() if row else None

    data = cache.get_or_compute(cache_key(source, "summary", day, day), ttl_seconds, compute)
    return PartitionSummary.from_dict(data) if data else None


def read_history(
    engine: sa.Engine,
    cache: ReadCache,
    ttl_seconds: int,
    source: str,
    since: dt.date | str,
    until: dt.date | str,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Processed rows with ``since <= logical_date <= until``, ordered by date and key (cached).

    Columns come back as nullable pandas dtypes, the same on PostgreSQL and SQLite.
    """
    first, last = partition_date(since), partition_date(until)
    wanted = ",".join(columns) if columns else "*"
    digest = hashlib.sha1(wanted.encode(), usedforsecurity=False).hexdigest()[:12]

    def compute() -> pd.DataFrame:
        with begin(engine) as conn:
            table = reflect(conn, source)
            unknown = [c for c in columns or [] if c not in table.c]
            if unknown:
                raise WarehouseError(
                    f"source {source}: {table.name} has no column(s) {', '.join(unknown)}"
                )
            selected = [table.c[c] for c in columns] if columns else list(table.c)
            query = (
                sa.select(*selected)
                .where(table.c.logical_date >= first, table.c.logical_date <= last)
                .order_by(table.c.logical_date, table.c.record_key)
            )
            rows = conn.execute(query).all()
        return _typed_frame(rows, selected)

    return cache.get_or_compute(
        cache_key(source, "history", first, last, digest), ttl_seconds, compute
    )


def read_versions(engine: sa.Engine, source: str) -> pd.DataFrame:
    """Every version of a catalogue source, ordered by (key, valid_from), typed as
    :func:`read_history`; the current state is the rows whose ``valid_to`` is missing."""
    name = versions_table_name(source)
    with begin(engine) as conn:
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        except sa.exc.NoSuchTableError as exc:
            raise WarehouseError(
                f"source {source}: table {name} does not exist (is the source's mode catalogue? "
                "run `python -m harvest warehouse migrate`)"
            ) from exc
        columns = list(table.c)
        query = sa.select(*columns).order_by(table.c.record_key, table.c.valid_from)
        rows = conn.execute(query).all()
    return _typed_frame(rows, columns)


def recent_row_counts(
    engine: sa.Engine,
    cache: ReadCache,
    ttl_seconds: int,
    source: str,
    before_date: dt.date | str,
    n: int,
) -> list[int]:
    """Rows of the last ``n`` loaded partitions before ``before_date``, oldest first (cached)."""
    before = partition_date(before_date)

    def compute() -> list[int]:
        with begin(engine) as conn:
            table = reflect(conn, source)
            query = (
                sa.select(table.c.logical_date, sa.func.count())
                .where(table.c.logical_date < before)
                .group_by(table.c.logical_date)
                .order_by(table.c.logical_date.desc())
                .limit(n)
            )
            counts = [int(count) for _day, count in conn.execute(query)]
        return counts[::-1]

    last = before - dt.timedelta(days=1)
    return cache.get_or_compute(
        cache_key(source, "row_counts", None, last, str(n)), ttl_seconds, compute
    )


def recent_scraped_counts(
    engine: sa.Engine, source: str, before_date: dt.date | str, n: int
) -> list[int]:
    """Records scraped (``partition_loads.scraped``) in the last ``n`` loaded partitions before
    ``before_date`` that scraped any, oldest first: what the crawl's item count is compared with."""
    before = partition_date(before_date)
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
    with begin(engine) as conn:
        counts = [int(count) for count in conn.execute(query).scalars()]
    return counts[::-1]


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


def _typed_frame(rows: Sequence[Any], columns: list[sa.Column[Any]]) -> pd.DataFrame:
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
