"""One DAG per source spec: ``harvest_<source>`` scrapes, validates, cleans and loads that source
for each data interval.

The specs are the YAML files in ``Settings.from_env().sources_dir`` (``HARVEST_SOURCES_DIR``).
Each DAG runs on the spec's schedule (nightly by default) with data intervals: the run at 02:00
on day D+1 crawls day D. It starts from the spec's start date without catchup (backfill past
dates with ``airflow backfill create``). A spec that fails validation only affects its own DAG:
it becomes ``harvest_<file stem>``, tagged ``broken-spec``, whose docs and single task show the
error (file, field, message); the other sources load as usual.

Each run is ``scrape >> validate >> clean >> load`` on one partition (source, logical date); the
tasks hand on only URIs and counts. Wiring only: the work happens in the operators' ``execute``,
nothing heavy (pandas, Great Expectations, Scrapy) is imported here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from airflow.sdk import DAG, CronDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowFailException

from harvest.config import Settings, SourceSpec, SpecError
from harvest.config.spec import load_specs
from harvest_airflow.operators import CleanOperator, LoadOperator, ScrapeOperator, ValidateOperator

log = logging.getLogger(__name__)

SCRAPING_POOL = "scraping"
DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    # Airflow 3 takes a multiplier here (True would mean 1.0, i.e. no backoff): 2, 4, 8 min...
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
}


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _schedule(spec: SourceSpec) -> CronDataIntervalTimetable | None:
    """Data-interval semantics: the 02:00 run of day D+1 crawls day D (``ds`` = D), once D is over.

    (Airflow 3's plain cron strings trigger at the time itself, with ``ds`` = the run's own day.)
    """
    if not spec.schedule:
        return None
    return CronDataIntervalTimetable(spec.schedule, timezone="UTC")


def _doc_md(spec: SourceSpec) -> str:
    js = spec.javascript
    rows = [
        ("base URL", f"`{spec.base_url}` (env `HARVEST_SOURCE_{spec.name.upper()}_BASE_URL`)"),
        ("start URLs", "<br>".join(f"`{url}`" for url in spec.start_urls)),
        ("schedule", f"`{spec.schedule}`" if spec.schedule else "manual only"),
        ("start date", spec.start_date.isoformat()),
        ("owner", spec.owner),
        ("detail fields", ", ".join(f"`{name}`" for name in spec.detail.fields)),
        ("key / target", f"`{spec.detail.key}` / `{spec.target or '-'}`"),
        ("JavaScript pages", f"marker `{js.marker}`" if js.enabled else "none"),
        (
            "crawl",
            f"{spec.crawl.concurrency_per_domain} per domain, {spec.crawl.retries} retries, "
            f"robots.txt {'obeyed' if spec.crawl.obey_robots_txt else 'ignored'}, "
            f"max pages {spec.crawl.max_pages or 'unlimited'}",
        ),
        (
            "SLA",
            f"done by {spec.sla.finish_by or '-'} UTC, at most {spec.sla.max_duration_minutes} "
            f"min, data at most {spec.sla.freshness_hours} h old",
        ),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"### Source `{spec.name}`\n\n{spec.description or '(no description)'}\n\n"
        f"| setting | value |\n|---|---|\n{table}\n\n"
        "#### Tasks\n\n"
        "1. **scrape**: crawl the data interval into the raw store (upserts by URL; "
        f"Asset `harvest://raw/{spec.name}`).\n"
        "2. **validate**: the spec's Great Expectations suite; failing records go to the "
        "`quarantine` table with a reason, the valid ones to staging. A broken critical "
        "expectation fails the run at once (no retries): fix the cause, then clear the run.\n"
        "3. **clean**: normalise, de-duplicate (within the partition and against "
        f"{spec.dedup.history_days} days of history), impute.\n"
        f"4. **load** (mode `{spec.mode}`): "
        + (
            f"observations into `processed_{spec.name}` and versions rebuilt in "
            f"`versions_{spec.name}`, in one transaction; "
            if spec.mode == "catalogue"
            else f"upsert into `processed_{spec.name}` in one transaction, then later loaded "
            "dates re-checked; "
        )
        + "counts and warnings in `partition_loads` "
        f"(Asset `harvest://processed/{spec.name}`).\n\n"
        "Edit the source's YAML spec to change these; see the README, *Source specs*."
    )


def build_source_dag(spec: SourceSpec) -> DAG:
    """The DAG of one source: scrape >> validate >> clean >> load, one partition per run."""
    with DAG(
        dag_id=spec.dag_id,
        description=spec.description[:200] or None,
        schedule=_schedule(spec),
        start_date=_utc(spec.start_date),
        catchup=False,
        max_active_runs=2,
        default_args={**DEFAULT_ARGS, "owner": spec.owner},
        tags={"harvest", "source", *spec.tags},
        doc_md=_doc_md(spec),
    ) as dag:
        timeout = dt.timedelta(minutes=spec.sla.max_duration_minutes)
        scrape = ScrapeOperator(
            task_id="scrape",
            source=spec.name,
            pool=SCRAPING_POOL,
            execution_timeout=timeout,
            doc_md="Crawl the source for the logical date into the raw store (upserts by URL).",
        )
        validate = ValidateOperator(
            task_id="validate",
            source=spec.name,
            execution_timeout=timeout,
            doc_md="Run the spec's expectations; quarantine failing records, stage valid ones.",
        )
        clean = CleanOperator(
            task_id="clean",
            source=spec.name,
            execution_timeout=timeout,
            doc_md="Normalise, de-duplicate (batch and history) and impute the valid records.",
        )
        load = LoadOperator(
            task_id="load",
            source=spec.name,
            execution_timeout=timeout,
            doc_md="Upsert the cleaned partition into the warehouse; record its counts.",
        )
        scrape >> validate >> clean >> load
    return dag


def build_broken_spec_dag(stem: str, error: SpecError) -> DAG:
    """A placeholder DAG that shows a spec error where the source's DAG would be."""
    dag_id = "harvest_" + re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    message = (
        f"The spec of source {stem!r} is invalid, so its DAG cannot be built.\n\n"
        f"- file: `{error.path}`\n- field: `{error.field or '(whole file)'}`\n"
        f"- problem: {error.message}\n\nFix the file; the DAG comes back on the next parse."
    )
    with DAG(
        dag_id=dag_id,
        description=f"BROKEN SPEC: {error}"[:200],
        schedule=None,
        start_date=_utc(dt.date(2026, 1, 1)),
        catchup=False,
        default_args={**DEFAULT_ARGS, "owner": "harvest"},
        tags={"harvest", "broken-spec"},
        doc_md=f"### Broken source spec\n\n{message}",
    ) as dag:

        @task(task_id="spec_error", retries=0)
        def spec_error(text: str) -> None:
            """Fail with the spec error: this source cannot run until its spec is fixed."""
            raise AirflowFailException(text)

        spec_error(str(error))
    return dag


def _build_all() -> dict[str, DAG]:
    sources_dir = Settings.from_env().sources_dir
    if not sources_dir.is_dir():
        log.error("Harvest sources folder %s does not exist (HARVEST_SOURCES_DIR)", sources_dir)
        return {}
    loaded = load_specs(sources_dir)
    dags = {spec.dag_id: build_source_dag(spec) for spec in loaded.specs.values()}
    for stem, error in loaded.errors.items():
        log.error("Source spec skipped: %s", error)
        broken = build_broken_spec_dag(stem, error)
        dags[broken.dag_id] = broken
    return dags


globals().update(_build_all())
