"""Operators that run Harvest stages inside Airflow tasks: scrape, validate, clean, load.

``__init__`` only stores arguments; the spec, the settings (Airflow Connections, then the
environment) and the work are all resolved in ``execute()``, so parsing a DAG file stays cheap.
Between tasks go only identifiers and counts (XCom): URIs of staged Parquet files, never frames.

Failures: a problem that a retry cannot fix (a bad spec, a partition that breaks a critical
expectation) raises ``AirflowFailException`` and fails the task at once; anything else (an
unreachable warehouse, a crawl that fetched nothing) is retried with the DAG's backoff.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from harvest.config import Settings, SourceSpec

# Leave the crawl child this much of the task's execution_timeout to stop and report cleanly.
_TIMEOUT_MARGIN_SECONDS = 30.0


def raw_asset(source: str) -> Asset:
    """The Asset of a source's raw partitions; each event's extra names the partition."""
    return Asset(name=f"harvest_raw_{source}", uri=f"harvest://raw/{source}", group="harvest_raw")


def processed_asset(source: str) -> Asset:
    """The Asset of a source's processed (warehouse) partitions; what training waits for."""
    return Asset(
        name=f"harvest_processed_{source}",
        uri=f"harvest://processed/{source}",
        group="harvest_processed",
    )


class _PartitionOperator(BaseOperator):
    """Common ground of the stage operators: one source, one logical date (a partition).

    :param source: the source name (its spec is ``<sources_dir>/<source>.yaml``).
    :param logical_date: ISO date of the partition (templated, default ``{{ ds }}``).
    :param sources_dir: where the specs are; default ``Settings.sources_dir``.
    """

    template_fields: tuple[str, ...] = ("source", "logical_date")

    def __init__(
        self,
        *,
        source: str,
        logical_date: str = "{{ ds }}",
        sources_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.logical_date = logical_date
        self.sources_dir = sources_dir

    def _partition_date(self, context: Context) -> dt.date:
        value = (self.logical_date or "").strip()
        if not value:
            # A manual run without a logical date: the day it was triggered for.
            run_after = context["dag_run"].run_after
            return run_after.date()
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise AirflowFailException(
                f"source {self.source!r}: logical_date {value!r} is not an ISO date (YYYY-MM-DD)"
            ) from None

    def _settings_and_spec(self) -> tuple[Settings, SourceSpec]:
        """Settings (Connections, then the environment) and the source's spec, at execute time."""
        from harvest.config import SpecError, load_spec
        from harvest.config.spec import spec_files
        from harvest_airflow.connections import resolve_settings

        settings = resolve_settings()
        sources_dir = Path(self.sources_dir) if self.sources_dir else settings.sources_dir
        paths = [p for p in spec_files(sources_dir) if p.stem == self.source]
        if not paths:
            raise AirflowFailException(
                f"source {self.source!r}: no spec {self.source}.yaml in {sources_dir} "
                "(set HARVEST_SOURCES_DIR or add the file)"
            )
        try:
            return settings, load_spec(paths[0])
        except SpecError as exc:
            # A bad spec does not fix itself on retry.
            raise AirflowFailException(f"source {self.source!r}: bad spec: {exc}") from exc

    def _emit(self, context: Context, extra: dict[str, Any]) -> None:
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra


class ScrapeOperator(_PartitionOperator):
    """Crawl one source for one logical date into the raw store.

    :param source: the source name (its spec is ``<sources_dir>/<source>.yaml``).
    :param logical_date: ISO date of the partition to crawl (templated, default ``{{ ds }}``).
    :param sources_dir: where the specs are; default ``Settings.sources_dir``.
    :param crawl_timeout_seconds: stop the crawl after this long; default the task's
        ``execution_timeout`` minus a margin, so the crawl reports before Airflow kills it.

    Returns (XCom) the crawl's counts and the raw partition URI, and emits an event on
    :func:`raw_asset` with ``{logical_date, documents, raw_uri}`` as extra.
    """

    template_fields = ("source", "logical_date")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        source: str,
        logical_date: str = "{{ ds }}",
        sources_dir: str | None = None,
        crawl_timeout_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [raw_asset(source)])
        super().__init__(
            source=source, logical_date=logical_date, sources_dir=sources_dir, **kwargs
        )
        self.crawl_timeout_seconds = crawl_timeout_seconds

    def _crawl_timeout(self) -> float | None:
        if self.crawl_timeout_seconds is not None:
            return self.crawl_timeout_seconds
        if self.execution_timeout is None:
            return None
        return max(self.execution_timeout.total_seconds() - _TIMEOUT_MARGIN_SECONDS, 1.0)

    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.pipeline import PipelineError, check_crawl
        from harvest.scraping.runner import CrawlError, run_crawl

        settings, spec = self._settings_and_spec()
        day = self._partition_date(context)
        self.log.info(
            "Crawling source %s for %s into %s",
            self.source,
            day.isoformat(),
            settings.raw_store_url,
        )
        try:
            result = run_crawl(
                spec,
                day,
                settings,
                logger=self.log,  # type: ignore[arg-type]
                timeout_seconds=self._crawl_timeout(),
            )
        except CrawlError as exc:
            raise AirflowException(
                f"crawl of source {self.source!r} for {day.isoformat()} failed: {exc}"
            ) from exc
        summary = result.to_dict()
        try:
            check_crawl(spec, summary)
        except PipelineError as exc:
            raise AirflowException(str(exc)) from exc
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

    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.validation import ValidationFailed
        from harvest.validation.run import validate_partition

        settings, spec = self._settings_and_spec()
        day = self._partition_date(context)
        self.log.info("Validating source %s for %s", self.source, day.isoformat())
        try:
            report = validate_partition(spec, day, settings)
        except ValidationFailed as exc:
            raise AirflowFailException(str(exc)) from exc
        result = report.to_dict()
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

    :param validated_uri: the staged validated partition (templated; default the validate task's
        ``validated_uri`` XCom). Empty means the partition's default staging URI.

    History comes from the warehouse (migrated first): when it cannot be reached the task fails
    and is retried, rather than de-duplicating without history. Returns (XCom)
    :class:`harvest.cleaning.clean.CleanReport` as a dict (``cleaned_uri``, ``duplicates``,
    ``imputed`` per field, ...).
    """

    template_fields = ("source", "logical_date", "validated_uri")
    ui_color = "#e3eefa"

    def __init__(
        self,
        *,
        validated_uri: str | None = "{{ ti.xcom_pull(task_ids='validate')['validated_uri'] }}",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.validated_uri = validated_uri

    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.cleaning.clean import clean_partition as clean_validated_partition

        settings, spec = self._settings_and_spec()
        day = self._partition_date(context)
        uri = (self.validated_uri or "").strip() or None
        self.log.info("Cleaning source %s for %s from %s", self.source, day.isoformat(), uri)
        report = clean_validated_partition(spec, day, settings, validated_uri=uri)
        result: dict[str, Any] = report.to_dict()
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

    :param cleaned_uri: the staged cleaned partition (templated; default the clean task's
        ``cleaned_uri`` XCom).
    :param validate_task_id: the task whose XCom gives scraped, valid and quarantined.
    :param clean_task_id: the task whose XCom gives duplicates and imputed (recorded with the
        load in ``partition_loads``).
    :param scrape_task_id: the task whose XCom gives the crawl's cache counts (the
        ``all_cached`` warning); none in the run: that warning is not checked.

    A warning the spec makes critical fails the task at once (``AirflowFailException``).

    A failed load changes nothing and is retried (a warehouse outage passes). Returns (XCom)
    :class:`harvest.pipeline.LoadReport` as a dict and emits an event on :func:`processed_asset`
    with ``{source, logical_date, rows}`` as extra.
    """

    template_fields = ("source", "logical_date", "cleaned_uri")
    ui_color = "#ece3f5"

    def __init__(
        self,
        *,
        source: str,
        cleaned_uri: str = "{{ ti.xcom_pull(task_ids='clean')['cleaned_uri'] }}",
        validate_task_id: str = "validate",
        clean_task_id: str = "clean",
        scrape_task_id: str = "scrape",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [processed_asset(source)])
        super().__init__(source=source, **kwargs)
        self.cleaned_uri = cleaned_uri
        self.validate_task_id = validate_task_id
        self.clean_task_id = clean_task_id
        self.scrape_task_id = scrape_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.loading import counts_from, load_cleaned_partition
        from harvest.loading.warnings import CriticalWarning

        settings, spec = self._settings_and_spec()
        day = self._partition_date(context)
        ti = context["ti"]
        validation = ti.xcom_pull(task_ids=self.validate_task_id)
        cleaning = ti.xcom_pull(task_ids=self.clean_task_id)
        if not validation or not cleaning:
            raise AirflowFailException(
                f"source {self.source!r} {day.isoformat()}: no result of task "
                f"{self.validate_task_id!r} or {self.clean_task_id!r} in this run; "
                "clear those tasks too when re-running the load"
            )
        self.log.info(
            "Loading source %s for %s from %s", self.source, day.isoformat(), self.cleaned_uri
        )
        crawl = ti.xcom_pull(task_ids=self.scrape_task_id)  # for the all_cached warning
        try:
            report = load_cleaned_partition(
                spec,
                day,
                settings,
                cleaned_uri=self.cleaned_uri,
                counts=counts_from(validation, cleaning),
                crawl=crawl if isinstance(crawl, dict) else None,
                cleaned_at=cleaning.get("cleaned_at") or None,
            )
        except CriticalWarning as exc:  # a retry finds the same partition
            raise AirflowFailException(str(exc)) from exc
        self._emit(
            context,
            {"source": self.source, "logical_date": day.isoformat(), "rows": report.loaded},
        )
        return report.to_dict()
