"""What partition a run processes, for each way an Airflow 3 run starts (the table in docs/concepts/runs.md).

The contexts are the ones the task runner builds: a run with a logical date has ``logical_date``,
``ds`` and its data interval; a run without one (Airflow 3 manual trigger without
``logical_date``) has none of these keys, only ``dag_run.run_after``. The dates come from the
DAG's own timetable, as the scheduler, backfill and the trigger API compute them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from harvest.partitions import Partition
from harvest_airflow.operators import ScrapeOperator, partition_from_context

UTC = dt.UTC
DAY = dt.date(2026, 3, 14)


def _context(
    run_after: dt.datetime,
    logical_date: dt.datetime | None,
    interval: tuple[dt.datetime, dt.datetime] | None = None,
    run_type: str = "manual",
) -> dict[str, Any]:
    from airflow.sdk.api.datamodels._generated import DagRun

    start, end = interval or (None, None)
    dag_run = DagRun(
        dag_id="harvest_demo",
        run_id="r",
        logical_date=logical_date,
        data_interval_start=start,
        data_interval_end=end,
        run_after=run_after,
        start_date=run_after,
        end_date=None,
        run_type=run_type,
        state="running",
        consumed_asset_events=[],
        partition_key=None,
    )
    context: dict[str, Any] = {"dag_run": dag_run}
    if logical_date is not None:  # as the task runner: these keys only with a logical date
        context.update(
            logical_date=logical_date,
            ds=logical_date.strftime("%Y-%m-%d"),
            data_interval_start=start,
            data_interval_end=end,
        )
    return context


@pytest.fixture(scope="module")
def timetable() -> Any:
    """The DAG's timetable as the scheduler runs it (the core class behind the SDK's)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    from tests.dags.test_dag_integrity import DAGS

    dag = DagBag(str(DAGS / "harvest_sources.py")).dags["harvest_demo"]
    return coerce_to_core_timetable(dag.timetable)


def test_scheduled_run_processes_the_day_its_interval_starts(timetable: Any) -> None:
    """The 02:00 run of D+1 processes D (CronDataIntervalTimetable ``0 2 * * *``)."""
    from airflow.timetables.base import DataInterval, TimeRestriction

    previous = DataInterval(
        dt.datetime(2026, 3, 13, 2, tzinfo=UTC), dt.datetime(2026, 3, 14, 2, tzinfo=UTC)
    )
    info = timetable.next_dagrun_info(
        last_automated_data_interval=previous,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info.run_after == dt.datetime(2026, 3, 15, 2, tzinfo=UTC)
    interval = (info.data_interval.start, info.data_interval.end)
    context = _context(info.run_after, info.logical_date, interval, "scheduled")
    assert partition_from_context("demo", context) == Partition("demo", DAY, *interval)


def test_backfill_runs_process_each_day_of_the_range(timetable: Any) -> None:
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(
        earliest=dt.datetime(2026, 2, 1, tzinfo=UTC),
        latest=dt.datetime(2026, 2, 3, 23, 59, tzinfo=UTC),
        catchup=True,
    )
    days, last = [], None
    while (
        info := timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
    ) is not None:
        interval = (info.data_interval.start, info.data_interval.end)
        context = _context(info.run_after, info.logical_date, interval, "backfill")
        days.append(partition_from_context("demo", context).day)
        last = info.data_interval
    assert days == [dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 3)]


def test_trigger_with_a_logical_date_processes_that_day(timetable: Any) -> None:
    """REST ``logical_date`` / ``airflow dags trigger -l`` / the UI's preset date / ``dags test D``.

    Airflow infers the last complete interval before it; the partition is still the given day,
    and that interval (which ends before the day) is not attached: ``{start}``/``{end}`` are the
    day's own.
    """
    logical_date = dt.datetime(2026, 3, 14, 0, tzinfo=UTC)
    inferred = timetable.infer_manual_data_interval(run_after=logical_date)
    assert inferred.end <= logical_date
    interval = (inferred.start, inferred.end)
    partition = partition_from_context("demo", _context(logical_date, logical_date, interval))
    assert partition == Partition("demo", DAY)
    assert partition.url_values()["start"] == "2026-03-14"
    assert partition.url_values()["end"] == "2026-03-15"


def test_a_weekly_schedule_hands_its_week_to_the_start_urls() -> None:
    """A weekly CronDataIntervalTimetable: the partition carries the week, and ``{start}`` /
    ``{end}`` of the spec's start URLs are its first day and the day after its last."""
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    from harvest.config.spec import load_spec
    from tests.unit.test_spec import DEMO

    weekly = CronDataIntervalTimetable("0 0 * * 1", timezone="UTC")
    previous = DataInterval(
        dt.datetime(2026, 2, 23, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC)
    )
    info = weekly.next_dagrun_info(
        last_automated_data_interval=previous,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    interval = (info.data_interval.start, info.data_interval.end)
    partition = partition_from_context(
        "demo", _context(info.run_after, info.logical_date, interval, "scheduled")
    )
    assert partition == Partition("demo", dt.date(2026, 3, 2), *interval)
    spec = load_spec(DEMO).model_copy(
        update={"start_urls": ["{base_url}/listings?from={start}&to={end}&day={date}"]}
    )
    assert spec.start_urls_for(partition, base_url="http://site.test") == [
        "http://site.test/listings?from=2026-03-02&to=2026-03-09&day=2026-03-02"
    ]


def test_trigger_without_a_logical_date_processes_the_run_after_day() -> None:
    """Airflow 3 ``airflow dags trigger D`` / REST without ``logical_date``: no ``ds`` at all."""
    run_after = dt.datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    context = _context(run_after, None)
    assert "ds" not in context
    assert partition_from_context("demo", context) == Partition("demo", DAY)


def test_run_after_is_read_in_utc() -> None:
    """Triggered at 01:30 in Berlin on the 15th is still the 14th in UTC."""
    berlin = dt.timezone(dt.timedelta(hours=1))
    run_after = dt.datetime(2026, 3, 15, 0, 30, tzinfo=berlin)
    assert partition_from_context("demo", _context(run_after, None)).day == DAY


def test_an_explicit_logical_date_wins_and_must_be_iso() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    context = _context(dt.datetime(2026, 3, 20, tzinfo=UTC), None)
    assert partition_from_context("demo", context, "2026-03-14").day == DAY
    assert partition_from_context("demo", context, "2026-03-14T00:00:00+00:00").day == DAY
    assert partition_from_context("demo", context, "  ").day == dt.date(2026, 3, 20)
    with pytest.raises(AirflowFailException, match=r"source 'demo': logical_date '14\.03\.2026'"):
        partition_from_context("demo", context, "14.03.2026")


def test_templates_render_without_a_logical_date() -> None:
    """Before the fix the default ``{{ ds }}`` failed to render here, before ``execute``."""
    import jinja2

    # Airflow's own default for DAG templates: an undefined name fails the render.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    op = ScrapeOperator(task_id="scrape", source="demo")
    context = _context(dt.datetime(2026, 3, 14, 9, tzinfo=UTC), None)
    op.render_template_fields(context, env)
    assert op.partition(context) == Partition("demo", DAY)  # type: ignore[arg-type]
    old_default = ScrapeOperator(task_id="s", source="demo", logical_date="{{ ds }}")
    with pytest.raises(jinja2.UndefinedError, match="ds"):
        old_default.render_template_fields(context, env)
