"""SLA, freshness and data-quality checks of one source: pure functions over its run history
and partition results, evaluated at a given ``now`` (so every boundary can be tested exactly).

Each check gives a :class:`CheckResult`: ``missed`` True/False, or None when there is nothing to
judge yet (no run due, no partition loaded, a threshold switched off). Boundaries: a run that
ends exactly at its deadline is on time; a run lasting exactly ``max_duration_minutes`` is not
over; data exactly ``freshness_hours`` old is fresh; a rate exactly at its threshold passes.
A miss carries a ``key`` naming which miss it is (the interval, the run, the partition), so the
alerting sends one alert per miss, not one per supervisor run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harvest.config.spec import SlaSpec, SourceSpec
from harvest.monitoring.history import (
    PartitionResult,
    RunRecord,
    interval_end,
    latest_tick,
    previous_tick,
)

CHECKS = (
    "finish_by",
    "max_duration",
    "freshness",
    "consecutive_failures",
    "validation_pass_rate",
    "quarantine_rate",
    "field_coverage",
    "data_warnings",
    "crawl_monitors",
)


@dataclass(frozen=True)
class CheckResult:
    """One check of one source: missed (True/False/None: not judged), the observed value and
    threshold in the check's unit (seconds, hours, a count or a share), and a sentence."""

    check: str
    missed: bool | None
    message: str
    observed: float | None = None
    threshold: float | None = None
    key: str = ""


@dataclass(frozen=True)
class SourceStatus:
    """Every check of one source at ``evaluated_at``, plus the figures the metrics publish."""

    source: str
    evaluated_at: dt.datetime
    checks: tuple[CheckResult, ...]
    freshness_age_seconds: float | None
    consecutive_failures: int
    last_run: RunRecord | None
    newest_partition: PartitionResult | None

    @property
    def missed(self) -> list[CheckResult]:
        return [check for check in self.checks if check.missed]

    def check(self, name: str) -> CheckResult:
        return next(check for check in self.checks if check.check == name)


def _not_judged(check: str, why: str) -> CheckResult:
    return CheckResult(check, None, why)


def check_finish_by(spec: SourceSpec, runs: Sequence[RunRecord], now: dt.datetime) -> CheckResult:
    """The newest scheduled interval whose finish-by deadline has passed: was its run done by
    then? Deadline: the first ``sla.finish_by`` time of day at or after the interval's end."""
    finish_by = spec.sla.finish_by
    if finish_by is None or spec.schedule is None:
        return _not_judged("finish_by", "no finish_by time or no schedule")
    tick = latest_tick(spec.schedule, now)
    deadline = _deadline(tick, finish_by)
    while deadline > now:
        tick = previous_tick(spec.schedule, tick)
        deadline = _deadline(tick, finish_by)
    start = previous_tick(spec.schedule, tick)
    if start.date() < spec.start_date:
        return _not_judged("finish_by", f"no run due yet (first date {spec.start_date})")
    due = f"run for {start.date()} (interval ending {tick:%Y-%m-%d %H:%M} UTC)"
    key = tick.isoformat()
    deadline_s = f"{deadline:%Y-%m-%d %H:%M} UTC"
    limit = deadline.timestamp()
    mine = [run for run in runs if run.data_interval_end == tick]
    on_time = [r for r in mine if r.state == "success" and r.end_date and r.end_date <= deadline]
    if on_time:
        return CheckResult("finish_by", False, f"{due} done on time", 0.0, limit, key)
    if any(not run.finished for run in mine):
        late = (now - deadline).total_seconds()
        message = f"{due} still running, {late:.0f} s past its deadline {deadline_s}"
        return CheckResult("finish_by", True, message, late, limit, key)
    done = [run for run in mine if run.state == "success" and run.end_date]
    if done:
        late = (min(run.end_date for run in done if run.end_date) - deadline).total_seconds()
        message = f"{due} finished {late:.0f} s after its deadline {deadline_s}"
        return CheckResult("finish_by", True, message, late, limit, key)
    if mine:
        return CheckResult(
            "finish_by", True, f"{due} failed (deadline {deadline_s})", None, limit, key
        )
    return CheckResult(
        "finish_by", True, f"{due} never ran (deadline {deadline_s})", None, limit, key
    )


def _deadline(tick: dt.datetime, finish_by: dt.time) -> dt.datetime:
    deadline = dt.datetime.combine(tick.date(), finish_by.replace(tzinfo=None), dt.UTC)
    return deadline if deadline >= tick else deadline + dt.timedelta(days=1)


def check_max_duration(sla: SlaSpec, runs: Sequence[RunRecord], now: dt.datetime) -> CheckResult:
    """The newest started run: did it (or has it, still running) take longer than allowed?"""
    started = [run for run in runs if run.start_date is not None]
    if not started:
        return _not_judged("max_duration", "no run has started")
    run = max(started, key=lambda r: (r.start_date, r.run_id))
    took = run.duration(now) or dt.timedelta(0)
    limit = dt.timedelta(minutes=sla.max_duration_minutes)
    seconds, limit_s = took.total_seconds(), limit.total_seconds()
    going = "has been running" if run.end_date is None else "took"
    message = f"run {run.run_id} {going} {seconds:.0f} s (limit {limit_s:.0f} s)"
    return CheckResult("max_duration", took > limit, message, seconds, limit_s, run.run_id)


def check_freshness(
    spec: SourceSpec, newest: PartitionResult | None, now: dt.datetime
) -> CheckResult:
    """Age of the newest loaded partition, from the end of its data interval, against
    ``sla.freshness_hours``; a source that never loaded anything is stale."""
    limit_s = spec.sla.freshness_hours * 3600.0
    if newest is None:
        return CheckResult(
            "freshness", True, "no partition was ever loaded", None, limit_s, "never"
        )
    age = (now - interval_end(spec.schedule, newest.logical_date)).total_seconds()
    message = (
        f"newest loaded partition {newest.logical_date} is {age / 3600:.1f} h old "
        f"(limit {spec.sla.freshness_hours} h)"
    )
    key = newest.logical_date.isoformat()
    return CheckResult("freshness", age > limit_s, message, age, limit_s, key)


def consecutive_failures(runs: Iterable[RunRecord]) -> tuple[int, RunRecord | None]:
    """Failed finished runs in a row, newest first, and the oldest run of that streak."""
    finished = sorted((r for r in runs if r.finished), key=RunRecord.order_key, reverse=True)
    count, first = 0, None
    for run in finished:
        if run.state != "failed":
            break
        count, first = count + 1, run
    return count, first


def check_consecutive_failures(sla: SlaSpec, runs: Sequence[RunRecord]) -> CheckResult:
    count, first = consecutive_failures(runs)
    limit = sla.max_consecutive_failures
    message = f"{count} failed run(s) in a row (alert at {limit})"
    key = first.run_id if first else ""
    return CheckResult("consecutive_failures", count >= limit, message, count, limit, key)


def _share_check(
    check: str,
    newest: PartitionResult | None,
    rate: float | None,
    limit: float | None,
    at_least: bool,
    what: str,
) -> CheckResult:
    """A share of the newest partition against a least (``at_least``) or most threshold."""
    if limit is None:
        return _not_judged(check, "switched off")
    if newest is None or rate is None:
        return _not_judged(check, f"no partition with {what}")
    missed = rate < limit if at_least else rate > limit
    bound = "least" if at_least else "most"
    message = f"partition {newest.logical_date}: {what} {rate:.1%} ({bound} {limit:.1%})"
    return CheckResult(check, missed, message, rate, limit, newest.logical_date.isoformat())


def check_validation_pass_rate(sla: SlaSpec, newest: PartitionResult | None) -> CheckResult:
    """Share of the newest partition's expectations that passed, against its least."""
    rate = newest.validation_pass_rate if newest else None
    limit = sla.min_validation_pass_rate
    return _share_check("validation_pass_rate", newest, rate, limit, True, "expectations passed")


def check_quarantine_rate(sla: SlaSpec, newest: PartitionResult | None) -> CheckResult:
    """Share of the newest partition's records quarantined, against its most."""
    rate = newest.quarantine_rate if newest else None
    limit = sla.max_quarantine_rate
    return _share_check("quarantine_rate", newest, rate, limit, False, "records quarantined")


def check_field_coverage(spec: SourceSpec, newest: PartitionResult | None) -> CheckResult:
    """Every field with a coverage threshold (``sla.field_coverage``, else
    ``sla.min_field_coverage``) against its share of loaded rows with a value."""
    sla = spec.sla
    limits = {
        name: sla.field_coverage.get(name, sla.min_field_coverage) for name in spec.detail.fields
    }
    judged = {name: limit for name, limit in limits.items() if limit is not None}
    if not judged:
        return _not_judged("field_coverage", "no coverage threshold")
    if newest is None or not newest.field_coverage:
        return _not_judged("field_coverage", "no loaded rows to measure")
    low = {
        name: newest.field_coverage[name]
        for name, limit in judged.items()
        if name in newest.field_coverage and newest.field_coverage[name] < limit
    }
    lowest = min(newest.field_coverage.get(name, 1.0) for name in judged)
    where = f"partition {newest.logical_date}"
    if not low:
        return CheckResult("field_coverage", False, f"{where}: coverage met", lowest, None, "")
    listed = ", ".join(
        f"{name} {share:.1%} (least {judged[name]:.1%})" for name, share in low.items()
    )
    key = f"{newest.logical_date}:{','.join(sorted(low))}"
    return CheckResult(
        "field_coverage", True, f"{where}: low coverage: {listed}", lowest, None, key
    )


def data_warnings(newest: PartitionResult) -> list[str]:
    """The partition's correct-data warnings: those stored with it, plus ``zero_rows_loaded``
    and ``empty_field:<name>`` read from its counts and coverage."""
    found = list(newest.warnings)
    if newest.loaded == 0:
        found.append("zero_rows_loaded")
    found += [f"empty_field:{name}" for name, share in newest.field_coverage.items() if share == 0]
    return sorted(set(found))


def check_data_warnings(sla: SlaSpec, newest: PartitionResult | None) -> CheckResult:
    if not sla.data_warnings:
        return _not_judged("data_warnings", "switched off")
    if newest is None:
        return _not_judged("data_warnings", "no partition was ever loaded")
    found = data_warnings(newest)
    where = f"partition {newest.logical_date}"
    if not found:
        return CheckResult("data_warnings", False, f"{where}: no data warnings", 0, None, "")
    key = f"{newest.logical_date}:{','.join(found)}"
    message = f"{where}: {', '.join(found)}"
    return CheckResult("data_warnings", True, message, len(found), None, key)


def check_crawl_monitors(sla: SlaSpec, newest: PartitionResult | None) -> CheckResult:
    """Missed when a crawl monitor (Spidermon, the spec's ``monitors:``) failed in the newest
    crawl; one miss per crawl date and set of failed monitors."""
    if not sla.crawl_monitors:
        return _not_judged("crawl_monitors", "switched off")
    if newest is None or not newest.crawl_monitors:
        return _not_judged("crawl_monitors", "no crawl monitor results")
    failed = newest.failed_monitors
    where = f"crawl of {newest.crawl_monitors_date or newest.logical_date}"
    if not failed:
        return CheckResult("crawl_monitors", False, f"{where}: every monitor passed", 0, None, "")
    key = f"{newest.crawl_monitors_date or newest.logical_date}:{','.join(failed)}"
    message = f"{where}: failed monitors {', '.join(failed)} (see table crawl_monitors)"
    return CheckResult("crawl_monitors", True, message, len(failed), None, key)


def evaluate_source(
    spec: SourceSpec,
    runs: Sequence[RunRecord],
    partitions: Sequence[PartitionResult],
    now: dt.datetime,
) -> SourceStatus:
    """Every check of one source at ``now`` (aware UTC) over its runs and partition results
    (any order; the newest partition is the one with the latest logical date)."""
    if now.tzinfo is None:
        raise ValueError("evaluate_source: now must be timezone-aware (UTC)")
    newest = max(partitions, key=lambda p: p.logical_date, default=None)
    freshness = check_freshness(spec, newest, now)
    failures, _ = consecutive_failures(runs)
    checks = (
        check_finish_by(spec, runs, now),
        check_max_duration(spec.sla, runs, now),
        freshness,
        check_consecutive_failures(spec.sla, runs),
        check_validation_pass_rate(spec.sla, newest),
        check_quarantine_rate(spec.sla, newest),
        check_field_coverage(spec, newest),
        check_data_warnings(spec.sla, newest),
        check_crawl_monitors(spec.sla, newest),
    )
    started = [run for run in runs if run.start_date is not None]
    return SourceStatus(
        source=spec.name,
        evaluated_at=now,
        checks=checks,
        freshness_age_seconds=freshness.observed,
        consecutive_failures=failures,
        last_run=max(started, key=lambda r: (r.start_date, r.run_id), default=None),
        newest_partition=newest,
    )
