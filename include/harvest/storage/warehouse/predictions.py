"""Prediction writes: a scored partition of ``predictions_<source>``, replaced whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from harvest.storage.warehouse.schema import predictions_table


def replace_predictions(
    conn: sa.Connection, source: str, day: dt.date, rows: Sequence[Mapping[str, Any]]
) -> str:
    """Make the predictions of ``source`` for ``day`` exactly ``rows`` (each with the columns
    of :func:`~.schema.predictions_table`), creating the table on the first scoring; its name."""
    table = predictions_table(source)
    table.create(conn, checkfirst=True)
    conn.execute(sa.delete(table).where(table.c.logical_date == day))
    if rows:
        conn.execute(sa.insert(table), list(rows))
    return table.name
