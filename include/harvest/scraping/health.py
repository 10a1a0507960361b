"""Scrape health: the spec's ``monitors:`` as Spidermon settings, and their results.

The crawl process runs Spidermon's monitors when the spider closes
(:mod:`harvest.scraping.monitors`, configured by :func:`monitor_settings`) and writes their
results into its stats; :class:`~harvest.scraping.runner.CrawlResult` carries them as
``monitors`` (a list of ``{"monitor", "status", "severity", "message"}``, status ``passed``,
``failed`` or ``skipped``) in the task's XCom. :func:`monitored_crawl` is the crawl a stage
runs: it reads the source's recent scraped counts from the warehouse first (for
``item_count_vs_median``) and stores the results in the warehouse table ``crawl_monitors``
afterwards (replaced on a re-run). :func:`report_monitors` logs each failed monitor as a named
warning and raises :class:`CriticalMonitorFailed` when the spec makes one critical.

Importing this module does not import Scrapy, Spidermon nor the warehouse (the crawl process
builds its settings with it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harvest.config.settings import Settings
from harvest.config.spec import MONITOR_NAMES, SourceSpec

if TYPE_CHECKING:
    from harvest.scraping.runner import CrawlResult

log = logging.getLogger(__name__)

MONITORS_STAT = "harvest/monitors"  # the crawl stat the monitors' results are written to
MONITORS_CPU_STAT = "harvest/monitors_cpu_seconds"  # what they cost the crawl process
SUITE = "harvest.scraping.monitors.CrawlMonitorSuite"
EXTENSION = "harvest.scraping.monitors.HarvestSpidermon"
EXTENSION_ORDER = 500  # after Scrapy's CoreStats (0), which sets finish_reason on close
RECORD_TYPE = "Record"  # harvest.scraping.monitors.Record: the item type in coverage stats


class CriticalMonitorFailed(RuntimeError):
    """A crawl monitor the spec makes critical failed; names the source, date and monitors."""


# monitor -> (its threshold in the spec's monitors:, the setting that carries it); a threshold
# set to null leaves the monitor out
_THRESHOLDS = {
    "item_count": ("min_items", "SPIDERMON_MIN_ITEMS"),
    "error_count": ("max_errors", "SPIDERMON_MAX_ERRORS"),
    "warning_count": ("max_warnings", "SPIDERMON_MAX_WARNINGS"),
    "finish_reason": ("expected_finish_reasons", "SPIDERMON_EXPECTED_FINISH_REASONS"),
    "unwanted_http_codes": ("unwanted_http_codes", "SPIDERMON_UNWANTED_HTTP_CODES"),
    "retry_count": ("max_retries", "SPIDERMON_MAX_RETRIES"),
    "downloader_exceptions": ("max_downloader_exceptions", "SPIDERMON_MAX_DOWNLOADER_EXCEPTIONS"),
    "item_count_vs_median": ("min_share_of_median", "HARVEST_MIN_SHARE_OF_MEDIAN"),
    "completeness": ("completeness", "HARVEST_COMPLETENESS_MONITOR"),
}


def monitor_settings(spec: SourceSpec, recent_item_counts: Sequence[int] = ()) -> dict[str, Any]:
    """The Scrapy settings that run the spec's monitors: Spidermon's ``SPIDERMON_*`` and
    Harvest's ``HARVEST_MONITORS`` (which monitors, in :data:`MONITOR_NAMES` order),
    ``HARVEST_RECENT_ITEM_COUNTS`` and ``HARVEST_MIN_SHARE_OF_MEDIAN``. ``EXTENSIONS`` is merged
    by the caller."""
    monitors = spec.monitors
    if not monitors.enabled:
        return {"SPIDERMON_ENABLED": False, "HARVEST_MONITORS": []}
    values: dict[str, Any] = {
        "SPIDERMON_ENABLED": True,
        "SPIDERMON_SPIDER_CLOSE_MONITORS": [SUITE],
    }
    rules = {
        f"{RECORD_TYPE}/{field}": share
        for field in spec.detail.fields
        if (share := monitors.field_coverage.get(field, monitors.min_field_coverage)) is not None
    }
    values["SPIDERMON_ADD_FIELD_COVERAGE"] = bool(rules)  # no per-record counting when unused
    names: list[str] = []
    for name in MONITOR_NAMES:
        if name == "field_coverage":
            if rules:
                names.append(name)
                values["SPIDERMON_FIELD_COVERAGE_RULES"] = rules
                values["SPIDERMON_FIELD_COVERAGE_SKIP_NONE"] = True  # a field not found is None
                # Spidermon's default placeholders less "", [] and {}, which its falsy check
                # (on by default) skips first: the same counts, fewer comparisons per value
                values["SPIDERMON_FIELD_COVERAGE_SKIP_VALUES"] = ["N/A", "-"]
            continue
        key, setting = _THRESHOLDS[name]
        threshold = getattr(monitors, key)
        if threshold is None or threshold is False or threshold == {}:  # {}: no unwanted code
            continue
        names.append(name)
        values[setting] = threshold
    if "item_count_vs_median" in names:
        values["HARVEST_RECENT_ITEM_COUNTS"] = [int(n) for n in recent_item_counts]
    values["HARVEST_MONITORS"] = names
    return values


def monitor_results(spec: SourceSpec, stats: Mapping[str, Any]) -> list[dict[str, str]]:
    """The monitors' results in a crawl's final stats, each with its severity from the spec."""
    critical = set(spec.monitors.critical)
    return [
        {
            "monitor": str(found["monitor"]),
            "status": str(found["status"]),
            "severity": "critical" if found["monitor"] in critical else "warning",
            "message": str(found.get("message") or ""),
        }
        for found in stats.get(MONITORS_STAT) or []
    ]


def failed(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The results of the monitors that failed."""
    return [result for result in results if result.get("status") == "failed"]


def report_monitors(
    spec: SourceSpec, day: dt.date | str, results: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Log every failed monitor as a named warning and return those warnings; raise
    :class:`CriticalMonitorFailed` when one of them is critical (``monitors.critical``)."""
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
    logical_date: dt.date,
    settings: Settings,
    **crawl_kwargs: Any,
) -> CrawlResult:
    """:func:`~harvest.scraping.runner.run_crawl` with the spec's monitors: reads the recent
    scraped counts first, stores the monitors' results in ``crawl_monitors`` after, and returns
    the :class:`~harvest.scraping.runner.CrawlResult` (whose ``monitors`` hold the results).
    Raises what ``run_crawl`` raises, and the warehouse's errors (``WarehouseUnavailable``)."""
    from harvest.scraping.runner import run_crawl
    from harvest.storage.warehouse import open_warehouse

    recent: list[int] = []
    if spec.monitors.enabled and spec.monitors.min_share_of_median is not None:
        with open_warehouse(settings, spec, logical_date) as warehouse:
            recent = warehouse.recent_scraped_counts(
                spec.name, logical_date, spec.monitors.recent_partitions
            )
    result = run_crawl(spec, logical_date, settings, recent_item_counts=recent, **crawl_kwargs)
    if spec.monitors.enabled:
        with open_warehouse(settings, spec, logical_date) as warehouse:
            stored = warehouse.replace_crawl_monitors(spec.name, logical_date, result.monitors)
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
