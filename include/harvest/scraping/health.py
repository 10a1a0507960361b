"""Scrape health in the parent: the crawl monitors' results, reported and stored.

The crawl process runs Spidermon's monitors when the spider closes (:mod:`harvest.crawler.monitors`,
configured by :func:`harvest.crawler.monitor_settings.monitor_settings`) and writes their
results into its stats; :class:`~harvest.scraping.runner.CrawlResult` carries them as
``monitors`` (a list of ``{"monitor", "status", "severity", "message"}``, status ``passed``,
``failed`` or ``skipped``) in the task's XCom. :func:`monitored_crawl` is the crawl a stage
runs: it reads the source's recent scraped counts from the warehouse first (for
``item_count_vs_median``) and stores the results in the warehouse table ``crawl_monitors``
afterwards (replaced on a re-run). :func:`report_monitors` logs each failed monitor as a named
warning and raises :class:`CriticalMonitorFailed` when the spec makes one critical.

Importing this module does not import Scrapy, Spidermon nor the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.partitions import Partition
from harvest.scraping.runner import CrawlResult, run_crawl

log = logging.getLogger(__name__)


class CriticalMonitorFailed(HarvestError, RuntimeError):
    """A crawl monitor the spec makes critical failed; names the source, date and monitors."""


def failed(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The results of the monitors that failed."""
    return [result for result in results if result.get("status") == "failed"]


def report_monitors(
    spec: SourceSpec, partition: Partition, results: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Log every failed monitor as a named warning and return those warnings; raise
    :class:`CriticalMonitorFailed` when one of them is critical (``monitors.critical``)."""
    day = partition.iso
    warnings = [
        f"source={spec.name} date={day} crawl monitor {result['monitor']} failed "
        f"({result.get('severity', 'warning')}): {result.get('message') or 'no message'}"
        for result in failed(results)
    ]
    for warning in warnings:
        log.warning("%s", warning)
    critical = [r for r in failed(results) if r.get("severity") == "critical"]
    if critical:
        described = "; ".join(f"{r['monitor']} ({r.get('message')})" for r in critical)
        raise CriticalMonitorFailed(
            f"scrape source={spec.name} date={day}: critical crawl monitor(s) failed: "
            f"{described}. The raw partition is stored; the spec's monitors.critical makes "
            "this fail the task (re-run the scrape once the source is fixed, or drop the "
            "monitor from monitors.critical)"
        )
    return warnings


def monitored_crawl(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    observed_on: dt.date | None = None,
    date_loaded: bool | None = None,
    **crawl_kwargs: Any,
) -> CrawlResult:
    """:func:`~harvest.scraping.runner.run_crawl` with the spec's monitors: reads the recent
    scraped counts first, stores the crawl's figures in ``crawl_stats`` and the monitors' results
    in ``crawl_monitors`` after, and returns
    the :class:`~harvest.scraping.runner.CrawlResult` (whose ``monitors`` hold the results;
    ``observed_on``, the day a forced crawl of a past night observed, and ``date_loaded``,
    whether the date was loaded before, are set on it and stored: a re-run reusing its pages
    repeats its warnings).
    Raises what ``run_crawl`` raises, and the warehouse's errors (``WarehouseUnavailable``)."""
    from harvest.storage.warehouse import open_warehouse

    partition = Partition.of(spec.name, partition)
    logical_date = partition.day
    recent: list[int] = []
    if spec.monitors.enabled and spec.monitors.min_share_of_median is not None:
        with open_warehouse(settings, spec, logical_date) as warehouse:
            recent = warehouse.recent_scraped_counts(
                spec.name, logical_date, spec.monitors.recent_partitions
            )
    result = run_crawl(spec, partition, settings, recent_item_counts=recent, **crawl_kwargs)
    result.observed_on = observed_on.isoformat() if observed_on else None
    result.date_loaded = date_loaded
    with open_warehouse(settings, spec, logical_date) as warehouse:
        warehouse.replace_crawl_stats(spec.name, logical_date, result.to_dict())
        stored = (
            warehouse.replace_crawl_monitors(spec.name, logical_date, result.monitors)
            if spec.monitors.enabled
            else 0
        )
    if spec.monitors.enabled:
        if not result.monitors:
            log.warning(
                "source=%s date=%s: monitors are on but the crawl reported no monitor results "
                "(Spidermon not loaded, or the crawl stopped before its close)",
                spec.name,
                logical_date,
            )
        log.info(
            "source=%s date=%s: %d crawl monitor result(s) stored in crawl_monitors, %d failed",
            spec.name,
            logical_date,
            stored,
            len(failed(result.monitors)),
        )
    return result
