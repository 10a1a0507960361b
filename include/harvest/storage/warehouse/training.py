"""Training reads: the rows a source's model learns from and the newest loaded date.

A ``listings`` source trains on its processed rows that are not duplicates; a ``catalogue``
source on its versions as they were on each observed date (``valid_from <= date < valid_to``),
one row per item and date, joined with ``catalogue_partitions``."""

from __future__ import annotations

import datetime as dt

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
        dates = CATALOGUE_PARTITIONS
        date = dates.c.logical_date
        query = (
            sa.select(table, date)
            .join(
                dates,
                (dates.c.source == table.c.source)
                & (table.c.valid_from <= date)
                & (sa.or_(table.c.valid_to.is_(None), table.c.valid_to > date)),
            )
            .where(table.c.source == spec.name)
        )
    else:
        date = table.c.logical_date
        query = sa.select(table).where(table.c.is_duplicate_of.is_(None))
    if until is not None:
        query = query.where(date <= until)
    if on is not None:
        query = query.where(date == on)
    return pd.read_sql(query.order_by(date, table.c.record_key), conn)


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
