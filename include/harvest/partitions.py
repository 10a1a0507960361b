"""A partition is one source's data for one day: :class:`Partition` is that value, created once
at the edge (an Airflow operator, the CLI) and handed down; :func:`partition_date` is the one
place that reads a date given as text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def partition_date(value: dt.date | str) -> dt.date:
    """The logical date of a partition: a date, the date of a datetime, or of an ISO string
    (``2026-11-26`` or a timestamp such as ``2026-11-26T00:00:00+00:00``)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value[:10])


@dataclass(frozen=True)
class Partition:
    """One source's data for one day (UTC): what a run scrapes, validates, cleans and loads.

    ``day`` keys the raw partition, the staged files and the warehouse rows (column
    ``logical_date``). The data interval is the scheduler's window when the run has one
    (scheduled and backfilled runs); ``None`` for a CLI run or a manual run without a logical date.
    """

    source: str
    day: dt.date
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError(f"partition of {self.day}: the source name is empty")
        if isinstance(self.day, dt.datetime) or not isinstance(self.day, dt.date):
            raise TypeError(
                f"partition of source {self.source!r}: day must be a datetime.date, "
                f"got {self.day!r}"
            )
        start, end = self.data_interval_start, self.data_interval_end
        if start is not None and end is not None and end < start:
            raise ValueError(
                f"partition {self}: data interval ends ({end.isoformat()}) before it starts "
                f"({start.isoformat()})"
            )

    def __str__(self) -> str:
        return f"{self.source} {self.day.isoformat()}"
