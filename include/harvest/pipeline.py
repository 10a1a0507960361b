"""The four stages of one partition, wired: scrape -> validate -> clean -> load.

Airflow runs each stage in its own task (``plugins/harvest_airflow/operators.py``), handing on
only URIs and counts; :func:`run_partition` runs all four in this process, for the command line
(``python -m harvest run``) and for tests. The stages live in their own packages
(``scraping``, ``validation``, ``cleaning``, ``loading``) and never call each other: where the
load needs a partition cleaned again (listings loads stay order-independent), it is handed the
clean stage (:func:`clean_again`) by whoever runs it: here, the ``LoadOperator`` and the CLI.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.partitions import Partition

if TYPE_CHECKING:
    from harvest.cleaning.clean import CleanReport
    from harvest.storage.warehouse import Warehouse

logger = logging.getLogger(__name__)


class PipelineError(HarvestError, RuntimeError):
    """A stage cannot go on; the message names the source, the date and what to check."""


def check_crawl(
    spec: SourceSpec,
    partition: Partition,
    summary: Mapping[str, Any],
    base_url: str | None = None,
) -> list[str]:
    """Raise :class:`PipelineError` when a crawl did not work (bad exit code, no page fetched,
    no item page reached: then the message says which level matched nothing, and where, or a
    crawl monitor the spec makes critical failed); return (and log) the warnings of one that
    did: the page budget or the depth limit was hit, so the partition may miss pages, the
    completeness account has named warnings (:mod:`harvest.crawler.completeness`), or a crawl
    monitor failed (:func:`harvest.scraping.health.report_monitors`)."""
    day = partition.iso
    if summary.get("exit_code") not in (0, None):
        raise PipelineError(
            f"crawl of source {spec.name!r} for {day} exited with code {summary['exit_code']}; "
            "see the crawl's lines in the log"
        )
    failed = int(summary.get("failed_pages") or 0)
    if int(summary.get("pages") or 0) <= failed:
        raise PipelineError(
            f"crawl of source {spec.name!r} for {day} fetched no page ({failed} failed); "
            f"is {base_url or spec.resolved_base_url()} up?"
            + (
                ""
                if base_url
                else f" (override it with HARVEST_SOURCE_{spec.name.upper()}_BASE_URL)"
            )
        )
    if summary.get("item_pages") == 0:
        why = summary.get("first_empty_level")
        raise PipelineError(
            f"crawl of source {spec.name!r} for {day} reached no item page "
            f"({summary.get('pages')} page(s) fetched, {failed} failed): "
            + (
                f"{why}; check that selector on that page (python -m harvest preview "
                f"--source {spec.name} --url URL)"
                if why
                else "every link was followed but none led to an item page"
            )
        )
    warnings = []
    if int(summary.get("max_pages_skipped") or 0):
        warnings.append(
            f"crawl of source {spec.name!r} for {day} hit its page budget "
            f"(crawl.max_pages={spec.crawl.max_pages}): {summary['max_pages_skipped']} links not "
            "followed; the partition may miss pages (raise crawl.max_pages if the site is larger)"
        )
    if int(summary.get("depth_limit_skipped") or 0):
        warnings.append(
            f"crawl of source {spec.name!r} for {day} hit its depth limit "
            f"(crawl.max_depth={spec.crawl.max_depth}): {summary['depth_limit_skipped']} links "
            "not followed; the partition may miss pages"
        )
    completeness = summary.get("completeness") or {}
    warnings += [
        f"crawl of source {spec.name!r} for {day}: {warning}"
        for warning in completeness.get("warnings") or []
    ]
    for warning in warnings:
        logger.warning("%s", warning)
    from harvest.scraping.health import CriticalMonitorFailed, report_monitors

    try:
        warnings += report_monitors(spec, partition, summary.get("monitors") or [])
    except CriticalMonitorFailed as exc:
        raise PipelineError(str(exc)) from exc
    return warnings


def clean_again(
    spec: SourceSpec, day: dt.date, settings: Settings, warehouse: Warehouse
) -> CleanReport:
    """The clean stage of one partition from its staged validated frame, with history read from
    ``warehouse``: the :data:`harvest.loading.Reclean` that the load of a listings source calls
    under its lock (a stale clean, later partitions). Raises ``FileNotFoundError`` when the
    validated frame is gone from staging."""
    from harvest.cleaning.clean import clean_partition

    return clean_partition(spec, day, settings, warehouse=warehouse)


def run_partition(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    base_url: str | None = None,
    *,
    scrape: bool = True,
) -> dict[str, dict[str, Any]]:
    """All four stages for one partition in this process; the report of each, by stage name.
    Each stage sends its metrics when it finishes (:mod:`harvest.monitoring.stage_metrics`).
    Once the partition is loaded, the load stage removes its HTTP cache entries (they only
    served re-runs of the stages before the load).

    ``scrape=False`` starts from the raw partition already in the raw store. Raises what the
    failing stage raises (``ValidationFailed``, ``WarehouseError``, ``CrawlError``,
    :class:`PipelineError`, ``LoadError``); the stages before it keep what they stored.
    """
    from harvest.cleaning.clean import clean_partition
    from harvest.loading import counts_from, load_cleaned_partition
    from harvest.monitoring.stage_metrics import measured_stage
    from harvest.validation.run import validate_partition

    partition = Partition.of(spec.name, partition)
    reports: dict[str, dict[str, Any]] = {}
    if scrape:
        from harvest.scraping.health import monitored_crawl

        with measured_stage(settings, "scrape") as stage:
            stage.report = reports["scrape"] = monitored_crawl(
                spec, partition, settings, base_url=base_url
            ).to_dict()
            check_crawl(spec, partition, reports["scrape"], base_url)
    with measured_stage(settings, "validate") as stage:
        stage.report = reports["validate"] = validate_partition(spec, partition, settings).to_dict()
    with measured_stage(settings, "clean") as stage:
        stage.report = reports["clean"] = clean_partition(
            spec, partition, settings, validated_uri=reports["validate"]["validated_uri"]
        ).to_dict()
    with measured_stage(settings, "load") as stage:
        stage.report = reports["load"] = load_cleaned_partition(
            spec,
            partition,
            settings,
            cleaned_uri=reports["clean"]["cleaned_uri"],
            counts=counts_from(reports["validate"], reports["clean"]),
            crawl=reports.get("scrape"),
            cleaned_at=reports["clean"]["cleaned_at"],
            clean=clean_again,
        ).to_dict()
    return reports
