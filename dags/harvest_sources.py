"""One DAG per source spec: ``harvest_<source>`` scrapes, validates, cleans and loads that source
for each data interval.

The specs are the YAML files in ``Settings.from_env().sources_dir`` (``HARVEST_SOURCES_DIR``).
Each DAG runs on the spec's schedule (nightly by default) with data intervals: the run at 02:00
on day D+1 crawls day D. It starts from the spec's start date without catchup (backfill past
dates with ``airflow backfill create``). A spec that fails validation only affects its own DAG:
it becomes ``harvest_<file stem>``, tagged ``broken-spec``, whose docs and single task show the
error (file, field, message); the other sources load as usual.

The scrape task runs in the ``scraping`` pool and, when the spec names a ``queue``, on that
queue (with the CeleryExecutor only the workers listening to it, e.g. those with Chromium, run
the crawl); validate, clean and load need no browser and stay on Airflow's default queue.

Each run is ``scrape >> validate >> clean >> load`` on one partition (source, day: the logical
date's, or ``run_after``'s for a manual run without one); each task takes its upstream results
(``validate.output``...), URIs and counts only. Wiring only: the work happens in the operators'
``execute``, the spec facts and docs come from ``harvest_airflow.dag_specs`` (cached: the spec
models are loaded only when a spec or Harvest changed), nothing heavy (pandas, Great
Expectations, Scrapy) is imported here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.configuration import conf
from airflow.sdk.definitions.callback import AsyncCallback  # not in airflow.sdk's stub in 3.3
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.sdk.exceptions import AirflowFailException

from harvest.config import Settings
from harvest_airflow.dag_specs import BrokenSpec, DagSpec, dag_specs
from harvest_airflow.operators import CleanOperator, LoadOperator, ScrapeOperator, ValidateOperator

log = logging.getLogger(__name__)

SCRAPING_POOL = "scraping"
DEFAULT_ARGS = {
    "retries": 2,
    # retry_delay: Airflow's [core] default_task_retry_delay (airflow.cfg: 2 minutes).
    # Airflow 3 takes a multiplier here (True would mean 1.0, i.e. no backoff): 2, 4, 8 min...
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
}


def _utc(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def _schedule(spec: DagSpec) -> CronDataIntervalTimetable | None:
    """Data-interval semantics: the 02:00 run of day D+1 crawls day D (``ds`` = D), once D is over.

    (Airflow 3's plain cron strings trigger at the time itself, with ``ds`` = the run's own day.)
    """
    if not spec.schedule:
        return None
    return CronDataIntervalTimetable(spec.schedule, timezone="UTC")


class SourceDAG(DAG):
    """A source's DAG. Its ``test()`` runs without Deadline Alerts: ``dag.test()`` of a DAG with
    ``deadline=`` crashes in Airflow 3.3 (apache/airflow#73428)."""

    def test(self, *args: Any, **kwargs: Any) -> Any:
        self.deadline = None
        return super().test(*args, **kwargs)


def max_duration_deadline(spec: DagSpec) -> DeadlineAlert:
    """Airflow's Deadline Alert for the spec's ``sla.max_duration_minutes``, counted from when
    the run was queued; a miss alerts through Harvest's notifier
    (:func:`harvest_airflow.notifiers.deadline_missed`, in the triggerer)."""
    from harvest_airflow.notifiers import deadline_missed  # only when Deadline Alerts are on

    minutes = spec.max_duration_minutes
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=minutes),
        callback=AsyncCallback(
            deadline_missed, kwargs={"source": spec.name, "max_duration_minutes": minutes}
        ),
        name=f"{spec.dag_id}_max_duration",
    )


def build_source_dag(spec: DagSpec, deadline_alerts: bool = False) -> DAG:
    """The DAG of one source: scrape >> validate >> clean >> load, one partition per run.

    ``deadline_alerts`` (``HARVEST_DEADLINE_ALERTS``, off by default) adds Airflow's Deadline
    Alert for the spec's maximum duration (:func:`max_duration_deadline`); experimental in
    Airflow 3.3 and never under ``dag.test()`` (:class:`SourceDAG`). The supervisor checks the
    same limit either way."""
    with SourceDAG(
        dag_id=spec.dag_id,
        description=spec.description[:200] or None,
        schedule=_schedule(spec),
        start_date=_utc(spec.start_date),
        catchup=False,
        max_active_runs=2,
        default_args={**DEFAULT_ARGS, "owner": spec.owner},
        tags={"harvest", "source", *spec.tags},
        doc_md=spec.doc_md,
        deadline=max_duration_deadline(spec) if deadline_alerts else None,
    ) as dag:
        timeout = dt.timedelta(minutes=spec.max_duration_minutes)
        scrape = ScrapeOperator(
            task_id="scrape",
            source=spec.name,
            pool=SCRAPING_POOL,
            queue=spec.queue or conf.get("operators", "default_queue"),
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
            validation=validate.output,
            execution_timeout=timeout,
            doc_md="Normalise, de-duplicate (batch and history) and impute the valid records.",
        )
        LoadOperator(
            task_id="load",
            source=spec.name,
            validation=validate.output,
            cleaning=clean.output,
            crawl=scrape.output,
            execution_timeout=timeout,
            doc_md="Load the cleaned partition (the source's mode); record its counts and warnings.",
        )
        # validate -> clean -> load follow from the results they take; scrape hands on the raw
        # partition through the store, so its edge is explicit.
        scrape >> validate
    return dag


def build_broken_spec_dag(broken: BrokenSpec) -> DAG:
    """A placeholder DAG that shows a spec error where the source's DAG would be."""
    from airflow.sdk import task  # TaskFlow's import only when a spec is broken

    dag_id = "harvest_" + re.sub(r"[^A-Za-z0-9_.-]", "_", broken.stem)
    with DAG(
        dag_id=dag_id,
        description=f"BROKEN SPEC: {broken.error}"[:200],
        schedule=None,
        start_date=_utc("2026-01-01"),
        catchup=False,
        default_args={**DEFAULT_ARGS, "owner": "harvest"},
        tags={"harvest", "broken-spec"},
        doc_md=broken.doc_md,
    ) as dag:

        @task(task_id="spec_error", retries=0)
        def spec_error(text: str) -> None:
            """Fail with the spec error: this source cannot run until its spec is fixed."""
            raise AirflowFailException(text)

        spec_error(broken.error)
    return dag


def _build_all() -> dict[str, DAG]:
    settings = Settings.from_env()
    if not settings.sources_dir.is_dir():
        log.error(
            "Harvest sources folder %s does not exist (HARVEST_SOURCES_DIR)", settings.sources_dir
        )
        return {}
    loaded = dag_specs(settings)
    dags = {
        spec.dag_id: build_source_dag(spec, settings.deadline_alerts)
        for spec in loaded.specs.values()
    }
    for broken in loaded.broken.values():
        log.error("Source spec skipped: %s", broken.error)
        dag = build_broken_spec_dag(broken)
        dags[dag.dag_id] = dag
    return dags


globals().update(_build_all())
