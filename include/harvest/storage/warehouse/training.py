"""Training reads: the rows a source's model learns from and the newest loaded date.

A ``listings`` source trains on its processed rows that are not duplicates; a ``catalogue``
source on its versions valid on each observed date (``valid_from <= date < valid_to``), one row
per item and date, joined with ``catalogue_partitions``, each row holding the values *as of its
date*: those of the item's latest observation on or before it (an untracked field changed later,
which a version overwrites in place, never reaches an earlier row; issue 18)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.schema import (
    CATALOGUE_PARTITIONS,
    has_table,
    processed_table_name,
    reflect,
    versions_table_name,
)


def training_table_name(spec: SourceSpec) -> str:
    """The table a source's model reads: ``versions_<source>`` (catalogue) or
    ``processed_<source>``."""
    catalogue = spec.mode == "catalogue"
    return (versions_table_name if catalogue else processed_table_name)(spec.name)


def training_rows(
    conn: sa.Connection, spec: SourceSpec, until: dt.date | None, on: dt.date | None
) -> pd.DataFrame | None:
    """The training rows of ``spec`` (up to ``until`` inclusive, or only of date ``on``),
    ordered by date and key, as :func:`pandas.read_sql` types them; ``None`` when the table does
    not exist yet. A catalogue's rows carry the observed date as ``logical_date`` beside the
    version's ``valid_from``/``valid_to``/``last_seen``."""
    name = training_table_name(spec)
    if not has_table(conn, name):
        return None
    table = reflect(conn, spec.name, name)
    if spec.mode == "catalogue":
        query, date = _as_of(conn, spec, table)
    else:
        date = table.c.logical_date
        query = sa.select(table).where(table.c.is_duplicate_of.is_(None))
    if until is not None:
        query = query.where(date <= until)
    if on is not None:
        query = query.where(date == on)
    return pd.read_sql(query.order_by(date, table.c.record_key), conn)


VERSION_COLUMNS = ("source", "record_key", "valid_from", "valid_to", "last_seen", "loaded_at")


def _as_of(conn: sa.Connection, spec: SourceSpec, versions: sa.Table) -> tuple[Any, Any]:
    """The catalogue's training query and its date column: each version on each observed date
    it was valid on, with the values of the key's latest observation on or before that date
    (``last_seen``: that observation's date)."""
    processed = reflect(conn, spec.name, processed_table_name(spec.name))
    dates = CATALOGUE_PARTITIONS
    date = dates.c.logical_date
    seen = processed.alias("seen")
    as_of = (
        sa.select(sa.func.max(seen.c.logical_date))
        .where(
            seen.c.source == versions.c.source,
            seen.c.record_key == versions.c.record_key,
            seen.c.logical_date <= date,
            seen.c.logical_date >= versions.c.valid_from,
        )
        .scalar_subquery()
    )
    values = [c for c in versions.c if c.name not in VERSION_COLUMNS and c.name in processed.c]
    query = (
        sa.select(
            versions.c.source,
            versions.c.record_key,
            versions.c.valid_from,
            versions.c.valid_to,
            processed.c.logical_date.label("last_seen"),
            *(processed.c[c.name] for c in values),
            versions.c.loaded_at,
            date,
        )
        .join(
            dates,
            (dates.c.source == versions.c.source)
            & (versions.c.valid_from <= date)
            & (sa.or_(versions.c.valid_to.is_(None), versions.c.valid_to > date)),
        )
        .join(
            processed,
            (processed.c.source == versions.c.source)
            & (processed.c.record_key == versions.c.record_key)
            & (processed.c.logical_date == as_of),
        )
        .where(versions.c.source == spec.name)
    )
    return query, date


def latest_date(conn: sa.Connection, source: str) -> dt.date | None:
    """The most recent ``logical_date`` with processed rows of ``source`` (one ``max()``, not a
    read of the table); ``None`` when the table is missing or empty."""
    name = processed_table_name(source)
    if not has_table(conn, name):
        return None
    table = sa.table(name, sa.column("logical_date", sa.Date))
    value = conn.execute(sa.select(sa.func.max(table.c.logical_date))).scalar_one()
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
