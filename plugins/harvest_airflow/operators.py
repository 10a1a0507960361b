"""Operators that run Harvest stages inside Airflow tasks: scrape, validate, clean, load.

``__init__`` only stores arguments; the spec, the settings (:class:`HarvestHook`: Airflow
Connections, then the environment), the partition and the work are all resolved in
``execute()``, so parsing a DAG file stays cheap. Between tasks go only identifiers and counts
(XCom): URIs of staged Parquet files, never frames. The DAG file hands each stage its upstream
results explicitly (``CleanOperator(validation=validate.output)``).

Failures: every ``execute`` goes through :func:`harvest_airflow.errors.translate_errors`, the
one place Harvest's errors become Airflow's: one a retry cannot fix (``retryable = False``: a
bad spec, a partition that breaks a critical expectation, a critical data warning) fails the
task at once (``AirflowFailException``); anything else (an unreachable warehouse, a crawl that
fetched nothing) is retried with the DAG's backoff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from harvest_airflow.assets import processed_asset, raw_asset
from harvest_airflow.errors import translate_errors
from harvest_airflow.hooks import CACHE_CONN_ID, RAW_STORE_CONN_ID, WAREHOUSE_CONN_ID, HarvestHook

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from harvest.config import Settings, SourceSpec
    from harvest.partitions import Partition

# Leave the crawl child this much of the task's execution_timeout to stop and report cleanly.
_TIMEOUT_MARGIN_SECONDS = 30.0


def _utc_day(moment: dt.datetime) -> dt.date:
    return (moment.astimezone(dt.UTC) if moment.tzinfo else moment).date()


def partition_from_context(
    source: str, context: Mapping[str, Any], logical_date: str | None = None
) -> Partition:
    """The partition a task instance processes, read once from its Airflow context.

    - ``logical_date`` given (an ISO date, e.g. a rendered template): that day;
    - the run has a logical date (scheduled, backfilled, triggered with a date, ``dags test``):
      its day in UTC, which for scheduled and backfilled runs is the data interval's start;
    - the run has none (Airflow 3 manual trigger without ``logical_date``): the day it was
      triggered for, ``dag_run.run_after``, in UTC.

    The run's data interval is attached when it starts on that day (scheduled and backfilled
    runs; not the one Airflow infers for a manual run, which ends before it). Raises
    ``AirflowFailException`` for a ``logical_date`` that is not an ISO date (not retryable).
    """
    from harvest.partitions import Partition, partition_date

    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    value = (logical_date or "").strip()
    if value:
        try:
            day = partition_date(value)
        except ValueError:
            raise AirflowFailException(
                f"source {source!r}: logical_date {value!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
    elif context.get("logical_date") is not None:
        day = _utc_day(context["logical_date"])
    else:
        day = _utc_day(context["dag_run"].run_after)
    if start is None or _utc_day(start) != day:
        start = end = None
    return Partition(source=source, day=day, data_interval_start=start, data_interval_end=end)


class _PartitionOperator(BaseOperator):
    """Common ground of the stage operators: one source, one day (a partition).

    :param source: the source name (its spec is ``<sources_dir>/<source>.yaml``). Not templated:
        it names the task's outlet Assets, which Airflow must know when it parses the DAG.
    :param logical_date: ISO date of the partition (templated); default the run's own, see
        :func:`partition_from_context` (a run without a logical date takes its ``run_after`` day).
    :param sources_dir: where the specs are; default ``Settings.sources_dir``.
    :param warehouse_conn_id: Airflow Connection of the warehouse (see :class:`HarvestHook`).
    :param raw_store_conn_id: Airflow Connection of the raw store.
    :param cache_conn_id: Airflow Connection of the HTTP cache.
    """

    template_fields: tuple[str, ...] = ("logical_date",)

    def __init__(
        self,
        *,
        source: str,
        logical_date: str | None = None,
        sources_dir: str | None = None,
        warehouse_conn_id: str = WAREHOUSE_CONN_ID,
        raw_store_conn_id: str = RAW_STORE_CONN_ID,
        cache_conn_id: str = CACHE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", self.source_assets(source))
        super().__init__(**kwargs)
        self.source = source
        self.logical_date = logical_date
        self.sources_dir = sources_dir
        self.warehouse_conn_id = warehouse_conn_id
        self.raw_store_conn_id = raw_store_conn_id
        self.cache_conn_id = cache_conn_id

    @staticmethod
    def source_assets(source: str) -> list[Asset]:
        """The Assets this stage updates for ``source`` (its default ``outlets``)."""
        return []

    def partition(self, context: Context) -> Partition:
        """The partition this task instance processes (:func:`partition_from_context`)."""
        return partition_from_context(self.source, context, self.logical_date)

    def _settings_and_spec(self) -> tuple[Settings, SourceSpec]:
        """Settings (Connections, then the environment) and the source's spec, at execute time."""
        from harvest.config import load_spec
        from harvest.config.spec import spec_files
        from harvest_airflow.hooks import HarvestHook

        hook = HarvestHook(
            warehouse_conn_id=self.warehouse_conn_id,
            raw_store_conn_id=self.raw_store_conn_id,
            cache_conn_id=self.cache_conn_id,
        )
        settings = hook.get_conn()
        sources_dir = Path(self.sources_dir) if self.sources_dir else settings.sources_dir
        paths = [p for p in spec_files(sources_dir) if p.stem == self.source]
        if not paths:
            raise AirflowFailException(
                f"source {self.source!r}: no spec {self.source}.yaml in {sources_dir} "
                "(set HARVEST_SOURCES_DIR or add the file)"
            )
        return settings, load_spec(paths[0])  # SpecError: not retryable, names file and field

    def _upstream(self, name: str, result: Any, keys: tuple[str, ...], partition: Partition) -> Any:
        """Check the upstream result ``name`` (a resolved XCom) carries ``keys``."""
        if not isinstance(result, Mapping) or any(key not in result for key in keys):
            raise AirflowFailException(
                f"source {self.source!r} {partition.day.isoformat()}: the {name} result handed "
                f"to this task has no {', '.join(keys)} (got {result!r}); clear the upstream "
                "tasks too when re-running this one"
            )
        return result

    def _emit(self, context: Context, extra: dict[str, Any]) -> None:
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra


class ScrapeOperator(_PartitionOperator):
    """Crawl one source for one partition into the raw store.

    Takes the arguments of every stage operator (``source``, ``logical_date``, ``sources_dir``,
    ``*_conn_id``) and:

    :param crawl_timeout_seconds: stop the crawl after this long; default the task's
        ``execution_timeout`` minus a margin, so the crawl reports before Airflow kills it.

    Returns (XCom) the crawl's counts, the raw partition URI and its crawl monitors' results
    (``monitors``, also stored in the warehouse table ``crawl_monitors``; a failed one is a
    named warning, a critical one fails the task and is retried: a re-crawl may pass), and
    emits an event on :func:`~harvest_airflow.assets.raw_asset` with ``{source, logical_date, documents, raw_uri}``.
    A past date whose pages are stored is re-processed from them, one never crawled of an
    undated source refused (:mod:`harvest.scraping.past`), unless the run's conf says
    ``{"recrawl": true}``.
    """

    ui_color = "#e8f4ea"

    def __init__(self, *, crawl_timeout_seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crawl_timeout_seconds = crawl_timeout_seconds

    @staticmethod
    def source_assets(source: str) -> list[Asset]:
        return [raw_asset(source)]

    def _crawl_timeout(self) -> float | None:
        if self.crawl_timeout_seconds is not None:
            return self.crawl_timeout_seconds
        if self.execution_timeout is None:
            return None
        return max(self.execution_timeout.total_seconds() - _TIMEOUT_MARGIN_SECONDS, 1.0)

    @translate_errors
    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.monitoring.stage_metrics import measured_stage
        from harvest.scraping import scrape

        settings, spec = self._settings_and_spec()
        partition = self.partition(context)
        day = partition.day
        recrawl = bool((getattr(context.get("dag_run"), "conf", None) or {}).get("recrawl"))
        self.log.info("Scraping %s into %s", partition, settings.raw_store_url)
        with measured_stage(settings, "scrape") as stage:
            result = scrape(  # CrawlCheckFailed: retried; PastNotObservable: not
                spec, partition, settings, logger=self.log, timeout_seconds=self._crawl_timeout(),
                env=HarvestHook().login_env(spec.login), recrawl=recrawl,  # login: read now
            )  # fmt: skip
            summary = stage.report = result.to_dict()
        self.log.info(
            "Source %s %s: %s pages, %s documents, %s failed pages, %s JS pages -> %s",
            self.source,
            day.isoformat(),
            summary.get("pages"),
            summary.get("documents"),
            summary.get("failed_pages"),
            summary.get("js_pages"),
            summary.get("raw_uri"),
        )
        self._emit(
            context,
            {
                "source": self.source,
                "logical_date": day.isoformat(),
                "documents": summary.get("documents"),
                "raw_uri": summary.get("raw_uri"),
            },
        )
        return summary


class ValidateOperator(_PartitionOperator):
    """Validate one partition of the raw store with the spec's Great Expectations suite.

    Failing records are quarantined with their reasons (warehouse table ``quarantine``) and the
    valid ones staged as Parquet. A partition that breaks a critical expectation fails the task
    without retries (``AirflowFailException`` with the expectation, observed value and threshold):
    the same raw pages would fail again. The warehouse is migrated before first use.

    Returns (XCom) :class:`harvest.validation.ValidationReport` as a dict: ``scraped``,
    ``valid``, ``quarantined``, ``quarantined_by_reason``, ``validated_uri``, ``data_docs_path``.
    """

    ui_color = "#fdf3dc"

    @translate_errors
    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.monitoring.stage_metrics import measured_stage
        from harvest.validation import validate

        settings, spec = self._settings_and_spec()
        partition = self.partition(context)
        day = partition.day
        self.log.info("Validating source %s for %s", self.source, day.isoformat())
        with measured_stage(settings, "validate") as stage:
            report = validate(spec, partition, settings)  # ValidationFailed: not retried
            result = stage.report = report.to_dict()
        self.log.info(
            "Source %s %s: %d scraped, %d valid, %d quarantined %s -> %s",
            self.source,
            day.isoformat(),
            report.scraped,
            report.valid,
            report.quarantined,
            report.quarantined_by_reason,
            report.validated_uri,
        )
        return result


class CleanOperator(_PartitionOperator):
    """Clean one validated partition: normalise, de-duplicate (batch and history), impute.

    :param validation: the validate task's result (templated; in a DAG ``validate.output``),
        whose ``validated_uri`` is the staged partition to clean. ``None`` reads the partition's
        default staging URI (``python -m harvest clean`` does the same).

    History comes from the warehouse (migrated first): when it cannot be reached the task fails
    and is retried, rather than de-duplicating without history. Returns (XCom)
    :class:`harvest.cleaning.stage.CleanReport` as a dict (``cleaned_uri``, ``duplicates``,
    ``imputed`` per field, ...).
    """

    template_fields = (*_PartitionOperator.template_fields, "validation")
    ui_color = "#e3eefa"

    def __init__(
        self, *, validation: XComArg | Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.validation = validation

    @translate_errors
    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.cleaning import clean
        from harvest.monitoring.stage_metrics import measured_stage

        settings, spec = self._settings_and_spec()
        partition = self.partition(context)
        day = partition.day
        uri = None
        if self.validation is not None:
            validation = self._upstream("validate", self.validation, ("validated_uri",), partition)
            uri = (validation["validated_uri"] or "").strip() or None
        self.log.info("Cleaning source %s for %s from %s", self.source, day.isoformat(), uri)
        with measured_stage(settings, "clean") as stage:
            report = clean(spec, partition, settings, validated_uri=uri)
            result: dict[str, Any] = report.to_dict()
            stage.report = result
        self.log.info(
            "Source %s %s: %d in, %d duplicates, %s imputed, %d out -> %s (history: %s)",
            self.source,
            day.isoformat(),
            result["input_rows"],
            result["duplicates"],
            result["imputed"],
            result["output_rows"],
            result["cleaned_uri"],
            result["history_status"],
        )
        return result


class LoadOperator(_PartitionOperator):
    """Load one cleaned partition into the warehouse and record its summary, in one transaction.

    :param validation: the validate task's result (templated; in a DAG ``validate.output``):
        scraped, valid and quarantined, recorded with the load in ``partition_loads``.
    :param cleaning: the clean task's result (templated; ``clean.output``): its ``cleaned_uri``
        is what gets loaded; duplicates and imputed are recorded.
    :param crawl: the scrape task's result (templated; ``scrape.output``): its cache counts
        feed the ``all_cached`` warning; ``None``: that warning is not checked.

    A warning the spec makes critical fails the task at once (``AirflowFailException``).

    A listings load cleans again what an earlier date loaded since its clean made stale, and
    the later dates it changes (:mod:`harvest.loading.order`): the clean stage is handed to it
    (:func:`harvest.cleaning.reclean`). Once loaded, the partition's HTTP cache entries are
    removed (``http_cache_purged``).

    A failed load changes nothing and is retried (a warehouse outage passes). Returns (XCom)
    :class:`harvest.loading.LoadReport` as a dict and emits an event on :func:`~harvest_airflow.assets.processed_asset`
    with ``{source, logical_date, rows}`` as extra.
    """

    template_fields = (*_PartitionOperator.template_fields, "validation", "cleaning", "crawl")
    ui_color = "#ece3f5"

    def __init__(
        self,
        *,
        validation: XComArg | Mapping[str, Any],
        cleaning: XComArg | Mapping[str, Any],
        crawl: XComArg | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.validation = validation
        self.cleaning = cleaning
        self.crawl = crawl

    @staticmethod
    def source_assets(source: str) -> list[Asset]:
        return [processed_asset(source)]

    @translate_errors
    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.cleaning import reclean
        from harvest.loading import load
        from harvest.monitoring.stage_metrics import measured_stage

        settings, spec = self._settings_and_spec()
        partition = self.partition(context)
        day = partition.day
        validation = self._upstream(
            "validate", self.validation, ("scraped", "valid", "quarantined"), partition
        )
        cleaning = self._upstream("clean", self.cleaning, ("cleaned_uri", "duplicates"), partition)
        cleaned_uri = cleaning["cleaned_uri"]
        self.log.info("Loading source %s for %s from %s", self.source, day.isoformat(), cleaned_uri)
        with measured_stage(settings, "load") as stage:
            report = load(  # CriticalWarning: not retried (same partition)
                spec,
                partition,
                settings,
                validation=validation,
                cleaning=cleaning,
                crawl=self.crawl if isinstance(self.crawl, Mapping) else None,
                clean=reclean,
            )
            stage.report = report.to_dict()
        self._emit(
            context,
            {"source": self.source, "logical_date": day.isoformat(), "rows": report.loaded},
        )
        return report.to_dict()
