"""A partition is one source's data for one logical date; stages take that date as a ``date``,
a ``datetime`` or an ISO string, and :func:`partition_date` is the one place that reads it."""

from __future__ import annotations

import datetime as dt


def partition_date(value: dt.date | str) -> dt.date:
    """The logical date of a partition: a date, the date of a datetime, or of an ISO string
    (``2026-11-26`` or a timestamp such as ``2026-11-26T00:00:00+00:00``)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value[:10])
