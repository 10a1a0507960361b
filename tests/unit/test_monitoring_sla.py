"""SLA, freshness and data-quality checks as pure functions, with exact boundaries.

The demo spec: nightly at 02:00 UTC, partition D is processed by the run whose interval ends at
D+1 02:00; finish by 06:00, at most 30 minutes, data at most 26 h old.
"""

from __future__ import annotations

import datetime as dt

import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SlaSpec, SourceSpec, load_spec
from harvest.monitoring import PartitionResult, RunRecord, evaluate_source, transitions
from harvest.monitoring.history import interval_end, latest_tick, parse_time
from harvest.monitoring.sla import (
    check_consecutive_failures,
    check_data_warnings,
    check_field_coverage,
    check_finish_by,
    check_freshness,
    check_max_duration,
    check_quarantine_rate,
    check_validation_pass_rate,
)

SECOND = dt.timedelta(seconds=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    demo = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    sla = SlaSpec(finish_by=dt.time(6), max_duration_minutes=30, freshness_hours=26)
    return demo.model_copy(update={"sla": sla, "schedule": "0 2 * * *"})


def run(
    run_id: str,
    state: str,
    interval_end: str,
    start: str | None = None,
    end: str | None = None,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        state=state,
        data_interval_end=at(interval_end),
        start_date=at(start) if start else None,
        end_date=at(end) if end else None,
    )


def partition(day: str, **counts: object) -> PartitionResult:
    values: dict[str, object] = {"scraped": 100, "quarantined": 5, "loaded": 95}
    values.update(counts)
    return PartitionResult(logical_date=dt.date.fromisoformat(day), **values)  # type: ignore[arg-type]


# ---- schedule arithmetic --------------------------------------------------------------------


def test_latest_tick_includes_now_and_interval_end_follows_the_cron() -> None:
    assert latest_tick("0 2 * * *", at("2026-03-15T02:00:00")) == at("2026-03-15T02:00:00")
    assert latest_tick("0 2 * * *", at("2026-03-15T01:59:59")) == at("2026-03-14T02:00:00")
    assert interval_end("0 2 * * *", dt.date(2026, 3, 14)) == at("2026-03-15T02:00:00")
    assert interval_end(None, dt.date(2026, 3, 14)) == at("2026-03-15T00:00:00")
    assert interval_end("*/30 * * * *", dt.date(2026, 3, 14)) == at("2026-03-14T00:30:00")


def test_parse_time_wants_a_zone() -> None:
    assert parse_time("2026-03-15T02:00:00Z") == at("2026-03-15T02:00:00")
    assert parse_time(None) is None
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-03-15T02:00:00")


# ---- finish_by ------------------------------------------------------------------------------

DEADLINE = at("2026-03-15T06:00:00")
NIGHT = "2026-03-15T02:00:00"  # end of the interval of partition 2026-03-14


def test_run_ending_exactly_at_the_deadline_is_on_time(spec: SourceSpec) -> None:
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:05", "2026-03-15T06:00:00")]
    result = check_finish_by(spec, runs, DEADLINE)
    assert result.missed is False, result.message
    assert "2026-03-14" in result.message


def test_run_ending_one_second_late_is_late(spec: SourceSpec) -> None:
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:05", "2026-03-15T06:00:01")]
    result = check_finish_by(spec, runs, DEADLINE + SECOND)
    assert result.missed is True
    assert result.observed == 1.0
    assert "finished 1 s after its deadline 2026-03-15 06:00 UTC" in result.message


def test_before_the_deadline_the_previous_night_is_judged(spec: SourceSpec) -> None:
    # 05:59:59, tonight's run still going: not late yet; last night's on-time run is judged
    runs = [
        run("last", "success", "2026-03-14T02:00:00", "2026-03-14T02:00:00", "2026-03-14T02:20:00"),
        run("now", "running", NIGHT, "2026-03-15T02:00:05"),
    ]
    result = check_finish_by(spec, runs, DEADLINE - SECOND)
    assert result.missed is False
    assert result.key == "2026-03-14T02:00:00+00:00"


def test_still_running_at_the_deadline_is_already_late(spec: SourceSpec) -> None:
    runs = [run("r", "running", NIGHT, "2026-03-15T02:00:05")]
    result = check_finish_by(spec, runs, DEADLINE)
    assert result.missed is True
    assert "still running, 0 s past its deadline" in result.message
    assert check_finish_by(spec, runs, DEADLINE + 90 * SECOND).observed == 90.0


def test_never_ran_and_failed_are_misses(spec: SourceSpec) -> None:
    never = check_finish_by(spec, [], DEADLINE)
    assert never.missed is True and "never ran" in never.message
    failed = [run("r", "failed", NIGHT, "2026-03-15T02:00:05", "2026-03-15T02:10:00")]
    result = check_finish_by(spec, failed, DEADLINE)
    assert result.missed is True and "failed" in result.message
    # a retried run that then succeeded in time wins over the failed attempt
    retried = [*failed, run("r2", "success", NIGHT, "2026-03-15T03:00:00", "2026-03-15T03:10:00")]
    assert check_finish_by(spec, retried, DEADLINE).missed is False


def test_finish_by_not_judged_before_the_first_date_or_without_a_time(spec: SourceSpec) -> None:
    early = spec.model_copy(update={"start_date": dt.date(2026, 3, 20)})
    assert check_finish_by(early, [], DEADLINE).missed is None
    untimed = spec.model_copy(update={"sla": SlaSpec(finish_by=None)})
    assert check_finish_by(untimed, [], DEADLINE).missed is None


def test_finish_by_before_the_interval_end_means_the_next_day(spec: SourceSpec) -> None:
    # finish by 01:00 for a 02:00 run: the deadline is 01:00 the day after
    sla = spec.sla.model_copy(update={"finish_by": dt.time(1)})
    night = spec.model_copy(update={"sla": sla})
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:05", "2026-03-16T00:59:00")]
    assert check_finish_by(night, runs, at("2026-03-16T01:00:00")).missed is False


# ---- max duration ---------------------------------------------------------------------------


def test_duration_exactly_the_limit_is_not_over(spec: SourceSpec) -> None:
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:00", "2026-03-15T02:30:00")]
    result = check_max_duration(spec.sla, runs, at("2026-03-15T09:00:00"))
    assert result.missed is False and result.observed == 1800.0 and result.threshold == 1800.0


def test_duration_one_second_over_is_a_miss(spec: SourceSpec) -> None:
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:00", "2026-03-15T02:30:01")]
    assert check_max_duration(spec.sla, runs, at("2026-03-15T09:00:00")).missed is True


def test_a_run_still_going_and_already_over_counts(spec: SourceSpec) -> None:
    runs = [
        run("old", "success", "2026-03-14T02:00:00", "2026-03-14T02:00:00", "2026-03-14T02:05:00"),
        run("r", "running", NIGHT, "2026-03-15T02:00:00"),
    ]
    at_limit = check_max_duration(spec.sla, runs, at("2026-03-15T02:30:00"))
    assert at_limit.missed is False
    over = check_max_duration(spec.sla, runs, at("2026-03-15T02:30:01"))
    assert over.missed is True and over.key == "r"
    assert "has been running 1801 s (limit 1800 s)" in over.message


def test_no_started_run_is_not_judged(spec: SourceSpec) -> None:
    queued = [run("q", "queued", NIGHT)]
    assert check_max_duration(spec.sla, queued, DEADLINE).missed is None


# ---- freshness ------------------------------------------------------------------------------


def test_data_exactly_freshness_hours_old_is_fresh(spec: SourceSpec) -> None:
    newest = partition("2026-03-14")  # interval ends 2026-03-15 02:00
    fresh = check_freshness(spec, newest, at("2026-03-16T04:00:00"))
    assert fresh.missed is False and fresh.observed == 26 * 3600
    stale = check_freshness(spec, newest, at("2026-03-16T04:00:01"))
    assert stale.missed is True and "2026-03-14 is 26.0 h old (limit 26 h)" in stale.message


def test_never_loaded_is_stale(spec: SourceSpec) -> None:
    result = check_freshness(spec, None, DEADLINE)
    assert result.missed is True and result.observed is None
    assert result.message == "no partition was ever loaded"


# ---- failures and data quality --------------------------------------------------------------


def test_consecutive_failures_count_from_the_newest_finished_run(spec: SourceSpec) -> None:
    one = [
        run("a", "success", "2026-03-12T02:00:00", "2026-03-12T02:00:00", "2026-03-12T02:10:00"),
        run("b", "failed", "2026-03-13T02:00:00", "2026-03-13T02:00:00", "2026-03-13T02:10:00"),
    ]
    assert check_consecutive_failures(spec.sla, one).missed is False
    two = [
        *one,
        run("c", "failed", "2026-03-14T02:00:00", "2026-03-14T02:00:00", "2026-03-14T02:10:00"),
        run("d", "running", NIGHT, "2026-03-15T02:00:00"),  # not finished: neither breaks nor adds
    ]
    result = check_consecutive_failures(spec.sla, two)
    assert result.missed is True and result.observed == 2 and result.key == "b"


def test_quality_thresholds_pass_exactly_at_the_limit(spec: SourceSpec) -> None:
    sla = spec.sla  # pass rate at least 0.9, quarantine at most 0.1
    assert check_quarantine_rate(sla, partition("2026-03-14", quarantined=10)).missed is False
    assert check_quarantine_rate(sla, partition("2026-03-14", quarantined=11)).missed is True
    assert check_quarantine_rate(sla, partition("2026-03-14", scraped=0)).missed is None
    passing = partition("2026-03-14", validation_pass_rate=0.9)
    assert check_validation_pass_rate(sla, passing).missed is False
    failing = partition("2026-03-14", validation_pass_rate=0.89)
    assert check_validation_pass_rate(sla, failing).missed is True
    assert check_validation_pass_rate(sla, partition("2026-03-14")).missed is None


def test_field_coverage_per_field_overrides_the_default(spec: SourceSpec) -> None:
    sla = spec.sla.model_copy(update={"min_field_coverage": 0.5, "field_coverage": {"price": 0.8}})
    covered = spec.model_copy(update={"sla": sla})
    ok = partition("2026-03-14", field_coverage={"price": 0.8, "area": 0.5})
    assert check_field_coverage(covered, ok).missed is False
    low = partition("2026-03-14", field_coverage={"price": 0.79, "area": 0.5})
    result = check_field_coverage(covered, low)
    assert result.missed is True and "price 79.0% (least 80.0%)" in result.message
    assert "area" not in result.message
    assert check_field_coverage(spec, ok).missed is None  # no threshold set


def test_correct_data_warnings_are_misses(spec: SourceSpec) -> None:
    stored = partition("2026-03-14", warnings=("all_cached",))
    result = check_data_warnings(spec.sla, stored)
    assert result.missed is True and "all_cached" in result.message
    derived = partition("2026-03-14", loaded=0, field_coverage={"price": 0.0, "area": 0.9})
    assert check_data_warnings(spec.sla, derived).message.endswith(
        "empty_field:price, zero_rows_loaded"
    )
    assert check_data_warnings(spec.sla, partition("2026-03-14")).missed is False


def test_evaluate_source_wants_aware_now_and_reports_every_check(spec: SourceSpec) -> None:
    runs = [run("r", "success", NIGHT, "2026-03-15T02:00:00", "2026-03-15T02:20:00")]
    status = evaluate_source(
        spec, runs, [partition("2026-03-13"), partition("2026-03-14")], DEADLINE
    )
    assert status.newest_partition and status.newest_partition.logical_date == dt.date(2026, 3, 14)
    assert not status.missed, [c.message for c in status.missed]
    assert status.freshness_age_seconds == 4 * 3600
    assert status.last_run and status.last_run.run_id == "r"
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_source(spec, runs, [], dt.datetime(2026, 3, 15, 6))


# ---- alerts: once per miss, once per recovery ------------------------------------------------


def test_one_alert_per_miss_and_one_recovery(spec: SourceSpec) -> None:
    last_night = run(
        "l", "success", "2026-03-14T02:00:00", "2026-03-14T02:00:00", "2026-03-14T02:10:00"
    )
    running = [last_night, run("r", "running", NIGHT, "2026-03-15T02:00:00")]
    parts = [partition("2026-03-14")]
    first = evaluate_source(spec, running, parts, at("2026-03-15T02:31:00"))
    alerts, state = transitions([first], {})
    assert [(a.kind, a.check) for a in alerts] == [("miss", "max_duration")]
    assert "SLA MISSED: source demo, max_duration" in alerts[0].text
    again = evaluate_source(spec, running, parts, at("2026-03-15T02:36:00"))
    alerts, state = transitions([again], state)
    assert alerts == []  # still the same miss: no repeat
    done = [last_night, run("r", "success", NIGHT, "2026-03-15T02:00:00", "2026-03-15T02:40:00")]
    next_night = [
        *done,
        run("n", "success", "2026-03-16T02:00:00", "2026-03-16T02:00:00", "2026-03-16T02:10:00"),
    ]
    cleared = evaluate_source(spec, next_night, parts, at("2026-03-16T02:11:00"))
    alerts, state = transitions([cleared], state)
    assert [(a.kind, a.check) for a in alerts] == [("recovery", "max_duration")]
    assert state == {}
    alerts, state = transitions([cleared], state)
    assert alerts == []


def test_a_new_miss_of_the_same_check_alerts_again_and_unjudged_keeps_state() -> None:
    from harvest.monitoring.sla import CheckResult, SourceStatus

    def status(*checks: CheckResult) -> SourceStatus:
        return SourceStatus("demo", at(NIGHT), checks, None, 0, None, None)

    miss1 = CheckResult("max_duration", True, "run a too long", key="a")
    miss2 = CheckResult("max_duration", True, "run b too long", key="b")
    unknown = CheckResult("max_duration", None, "no run")
    alerts, state = transitions([status(miss1)], {"other": {"freshness": "x"}})
    assert len(alerts) == 1 and state["other"] == {"freshness": "x"}
    alerts, state = transitions([status(miss2)], state)
    assert [a.message for a in alerts] == ["run b too long"]
    alerts, state = transitions([status(unknown)], state)
    assert alerts == [] and state["demo"] == {"max_duration": "b"}


def test_a_run_read_as_started_after_now_has_run_zero() -> None:
    started = run("r", "running", NIGHT, "2026-03-15T02:00:01")
    assert started.duration(at(NIGHT)) == dt.timedelta(0)
    assert run("q", "queued", NIGHT).duration(at(NIGHT)) is None
