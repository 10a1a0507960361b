"""What the supervisor reads: runs of a source's DAG (from the Airflow REST API) and the results
of its partitions (from the warehouse), plus the schedule arithmetic both need.

All times are timezone-aware UTC datetimes; a partition is the date of its data interval's start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

FINISHED_STATES = frozenset({"success", "failed"})


@dataclass(frozen=True)
class RunRecord:
    """One DAG run as the REST API v2 reports it (``DAGRunResponse``)."""

    run_id: str
    state: str  # queued | running | success | failed
    data_interval_end: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    logical_date: dt.datetime | None = None
    run_type: str = "scheduled"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def duration(self, now: dt.datetime) -> dt.timedelta | None:
        """Run time so far (to ``now`` while it is still going); None before it starts. A run
        read as started just after ``now`` (history is read after ``now`` is taken) has run 0."""
        if self.start_date is None:
            return None
        return max((self.end_date or now) - self.start_date, dt.timedelta(0))

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RunRecord:
        """From one item of ``dag_runs`` in the API's JSON (ISO timestamps or null)."""
        return cls(
            run_id=str(data["dag_run_id"]),
            state=str(data["state"]),
            data_interval_end=parse_time(data.get("data_interval_end")),
            start_date=parse_time(data.get("start_date")),
            end_date=parse_time(data.get("end_date")),
            logical_date=parse_time(data.get("logical_date")),
            run_type=str(data.get("run_type") or "scheduled"),
        )

    def order_key(self) -> dt.datetime:
        """Newest last: by data interval end, else start (a manual run without a logical date)."""
        return self.data_interval_end or self.start_date or dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class PartitionResult:
    """What one loaded partition looked like (``partition_loads`` + coverage + warnings).

    ``field_coverage`` maps a field to the share (0..1) of loaded rows with a value;
    ``validation_pass_rate`` is the share of the partition's expectations that passed (None when
    none were stored); ``warnings`` are the correct-data warnings (e.g. ``zero_rows_loaded``,
    ``all_cached``, ``empty_field:price``); ``crawl_monitors`` maps each crawl monitor of
    the newest crawled partition (``crawl_monitors`` table, dated ``crawl_monitors_date``, which
    may be newer than this partition when that scrape failed) to its status (passed | failed |
    skipped).
    """

    logical_date: dt.date
    scraped: int
    quarantined: int
    loaded: int
    loaded_at: dt.datetime | None = None
    validation_pass_rate: float | None = None
    field_coverage: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    crawl_monitors: Mapping[str, str] = field(default_factory=dict)
    crawl_monitors_date: dt.date | None = None

    @property
    def failed_monitors(self) -> list[str]:
        """The crawl monitors that failed, by name."""
        return sorted(name for name, status in self.crawl_monitors.items() if status == "failed")

    @property
    def quarantine_rate(self) -> float | None:
        """Quarantined records over scraped records; None for a partition with no records."""
        return self.quarantined / self.scraped if self.scraped else None


def parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    """An API timestamp (ISO 8601, ``Z`` allowed) as an aware UTC datetime; None stays None."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone; the supervisor works in UTC")
    return moment.astimezone(dt.UTC)


def latest_tick(schedule: str, now: dt.datetime) -> dt.datetime:
    """The newest time at or before ``now`` that the cron ``schedule`` fires (UTC)."""
    tick: dt.datetime = croniter(schedule, now).get_prev(dt.datetime)
    following: dt.datetime = croniter(schedule, tick).get_next(dt.datetime)
    return following if following <= now else tick


def previous_tick(schedule: str, tick: dt.datetime) -> dt.datetime:
    """The tick before ``tick``: the start of the data interval that ends at ``tick``."""
    earlier: dt.datetime = croniter(schedule, tick).get_prev(dt.datetime)
    return earlier


def interval_end(schedule: str | None, partition: dt.date) -> dt.datetime:
    """When the data interval of partition ``partition`` ends: the tick after its first tick on
    that day (the next midnight for a source without a schedule)."""
    midnight = dt.datetime.combine(partition, dt.time(), dt.UTC)
    if schedule is None:
        return midnight + dt.timedelta(days=1)
    start: dt.datetime = croniter(schedule, midnight - dt.timedelta(seconds=1)).get_next(
        dt.datetime
    )
    end: dt.datetime = croniter(schedule, start).get_next(dt.datetime)
    return end
