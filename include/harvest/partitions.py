"""A partition is one source's data for one day: :class:`Partition` is that value, created once
at an edge (an Airflow operator, the CLI, the crawl child) and handed down as it is.

:func:`partition_date` is the one place that reads a date given as text; only the edges call it.
Below them every API takes a :class:`Partition` (a stage) or a ``datetime.date`` (a store).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ONE_DAY = dt.timedelta(days=1)


def partition_date(value: str) -> dt.date:
    """The logical date written as text at an edge: an ISO date (``2026-11-26``) or the date of
    an ISO timestamp (``2026-11-26T00:00:00+00:00``). Raises ``ValueError`` naming the text."""
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from exc


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True)
class Partition:
    """One source's data for one day (UTC): what a run scrapes, validates, cleans and loads.

    ``day`` keys the raw partition, the staged files and the warehouse rows (column
    ``logical_date``). The data interval is the scheduler's window when the run has one
    (scheduled and backfilled runs, a weekly schedule's week); ``None`` for a CLI run or a manual
    run without a logical date, which then covers the day itself (:attr:`interval_start`,
    :attr:`interval_end`).
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

    @classmethod
    def of(cls, source: str, value: Partition | dt.date) -> Partition:
        """``value`` itself when it is a partition of ``source``, else the partition of
        ``source`` for day ``value`` (no data interval). Raises ``TypeError`` for text (parse it
        at the edge with :func:`partition_date`) and ``ValueError`` for another source's."""
        if isinstance(value, Partition):
            if value.source != source:
                raise ValueError(f"partition {value} handed to source {source!r}")
            return value
        return cls(source, value)

    def __str__(self) -> str:
        return f"{self.source} {self.iso}"

    @property
    def iso(self) -> str:
        """The day in ISO form, ``YYYY-MM-DD``: the ``logical_date`` of its documents and rows."""
        return self.day.isoformat()

    @property
    def interval_start(self) -> dt.datetime:
        """Start of the data interval (UTC); without one, midnight UTC of the day."""
        return self.data_interval_start or _utc_midnight(self.day)

    @property
    def interval_end(self) -> dt.datetime:
        """End of the data interval (UTC, exclusive); without one, midnight UTC after the day.
        A start given without an end covers one day from that start."""
        if self.data_interval_end is not None:
            return self.data_interval_end
        return self.interval_start + ONE_DAY

    def url_values(self) -> dict[str, str]:
        """What a start URL template may name: ``{date}`` the day, ``{start}`` and ``{end}`` the
        days the data interval starts and ends on (ISO dates, the end exclusive): for a daily
        run ``end`` is the next day, for a weekly one the day a week after ``start``."""
        return {
            "date": self.iso,
            "start": self.interval_start.astimezone(dt.UTC).date().isoformat(),
            "end": self.interval_end.astimezone(dt.UTC).date().isoformat(),
        }

    def staged_uri(self, staging_url: str, dataset: str) -> str:
        """Where the stage writing ``dataset`` (a :class:`~harvest.storage.staging.StagedDataset`)
        stages this partition: ``<staging_url>/<dataset>/<source>/<YYYY-MM-DD>.parquet``."""
        return f"{staging_url.rstrip('/')}/{dataset}/{self.source}/{self.iso}.parquet"

    @property
    def cache_key(self) -> str:
        """``<source>:<YYYY-MM-DD>``: the partition's namespace in the HTTP cache (Redis keys
        ``httpcache:<cache_key>:<request>``, removed by the load once the partition is in)."""
        return f"{self.source}:{self.iso}"


def recrawl_command(source: str, day: dt.date | str, base_url: str | None = None) -> str:
    """The command that crawls ``day`` of ``source`` again, at ``base_url`` when given (where
    the site is served now): a past date's stored pages are otherwise re-processed as they are
    (:mod:`harvest.scraping.past`), holding what the spec read when they were crawled."""
    where = f" --base-url {base_url}" if base_url else ""
    return f"python -m harvest run --source {source} --date {day}{where} --recrawl"
