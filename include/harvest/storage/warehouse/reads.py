"""The stages' reads, one statement each on a connection: partition summaries, history for
de-duplication, recent row and scraped counts for validation and the crawl monitors, the
quarantine count and load times of the load stage, the versions of a catalogue source, and the
app's item search, item versions and browsing of a processed table (a page at a time).
Frames come back typed the same on PostgreSQL and SQLite. :class:`~.core.Warehouse` opens the
connection and serves the cached ones through Redis."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.errors import WarehouseError
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    PARTITION_LOADS,
    QUARANTINE,
    _type_family,
    has_table,
    predictions_table_name,
    processed_table_name,
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
    query, selected = _history_query(conn, source, first, last, columns)
    return typed_frame(conn.execute(query).all(), selected)


def history_parts(
    conn: sa.Connection,
    source: str,
    first: dt.date,
    last: dt.date,
    columns: list[str] | None,
    rows: int,
) -> Iterator[pd.DataFrame]:
    """:func:`history` in frames of at most ``rows`` rows, fetched as they are consumed (a
    server-side cursor on PostgreSQL): never all of it at once."""
    query, selected = _history_query(conn, source, first, last, columns)
    result = conn.execution_options(stream_results=True, yield_per=rows).execute(query)
    for chunk in result.partitions(rows):
        yield typed_frame(chunk, selected)


def _history_query(
    conn: sa.Connection, source: str, first: dt.date, last: dt.date, columns: list[str] | None
) -> tuple[sa.Select[Any], list[sa.Column[Any]]]:
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
    return query, selected


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


def item_search(
    conn: sa.Connection, spec: SourceSpec, text: str, field: str | None, limit: int
) -> pd.DataFrame:
    """Items of ``spec`` whose key, URL or ``field`` contains ``text`` (case-insensitive): a row
    per key (record_key, url, the field's newest value), at most ``limit``, sorted by key. Reads
    ``versions_<source>`` of a catalogue, else ``processed_<source>``."""
    name = versions_table_name(spec.name) if spec.mode == "catalogue" else None
    table = reflect(conn, spec.name, name)
    pattern = f"%{text.lower()}%"
    searched = [table.c.record_key, table.c.url]
    if field and field in table.c:
        searched.append(table.c[field])
    wanted = [table.c.record_key, sa.func.max(table.c.url).label("url")]
    if field and field in table.c:
        wanted.append(sa.func.max(table.c[field]).label(field))
    query = (
        sa.select(*wanted)
        .where(sa.or_(*[sa.func.lower(sa.cast(c, sa.Text)).like(pattern) for c in searched]))
        .group_by(table.c.record_key)
        .order_by(table.c.record_key)
        .limit(limit)
    )
    return typed_frame(
        conn.execute(query).all(),
        [
            table.c.record_key,
            table.c.url,
            *([table.c[field]] if field and field in table.c else []),
        ],
    )


def item_versions(conn: sa.Connection, spec: SourceSpec, key: str) -> pd.DataFrame:
    """Every version of one item of a catalogue source (``versions_<source>``), oldest first;
    of a listings source its one processed row."""
    if spec.mode == "catalogue":
        table = reflect(conn, spec.name, versions_table_name(spec.name))
        order = table.c.valid_from
    else:
        table = reflect(conn, spec.name)
        order = table.c.logical_date
    columns = list(table.c)
    query = sa.select(*columns).where(table.c.record_key == key).order_by(order)
    return typed_frame(conn.execute(query).all(), columns)


def browse(
    conn: sa.Connection,
    spec: SourceSpec,
    first: dt.date,
    last: dt.date,
    equals: dict[str, Any],
    limit: int,
    offset: int = 0,
) -> tuple[pd.DataFrame, int]:
    """A page of ``processed_<source>`` with ``first <= logical_date <= last`` and each column
    of ``equals`` equal to its value, ordered by date and key, and the number of rows that
    match. Raises :class:`WarehouseError` for a column the table does not have."""
    table = reflect(conn, spec.name)
    unknown = [c for c in equals if c not in table.c]
    if unknown:
        raise WarehouseError(
            f"source {spec.name}: {processed_table_name(spec.name)} has no column(s) "
            f"{', '.join(unknown)}"
        )
    where = [table.c.logical_date >= first, table.c.logical_date <= last]
    where += [table.c[column] == value for column, value in equals.items()]
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    columns = list(table.c)
    query = (
        sa.select(*columns)
        .where(*where)
        .order_by(table.c.logical_date, table.c.record_key)
        .limit(limit)
        .offset(offset)
    )
    return typed_frame(conn.execute(query).all(), columns), int(total)


def predictions(conn: sa.Connection, source: str, key: str | None, limit: int) -> pd.DataFrame:
    """Scored rows of ``predictions_<source>`` (one key's, or the newest date's first), with
    their model and top SHAP contributions; empty before the first scoring."""
    name = predictions_table_name(source)
    if not has_table(conn, name):
        return pd.DataFrame(
            columns=["record_key", "logical_date", "prediction", "model_version", "explanation"]
        )
    table = reflect(conn, source, name)
    columns = [
        table.c.record_key,
        table.c.logical_date,
        table.c.prediction,
        table.c.model_version,
        table.c.explanation,
    ]
    query = sa.select(*columns).where(table.c.source == source)
    if key is not None:
        query = query.where(table.c.record_key == key)
    query = query.order_by(table.c.logical_date.desc(), table.c.record_key).limit(limit)
    return pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in columns])


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
