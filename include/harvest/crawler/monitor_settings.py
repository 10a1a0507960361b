"""The spec's ``monitors:`` as Spidermon settings for the crawl, and the stats they report in.

The crawl process runs Spidermon's monitors when the spider closes (:mod:`harvest.crawler.monitors`,
configured by :func:`monitor_settings`) and writes their results into its stats
(:data:`MONITORS_STAT`); the parent reads them back with :func:`monitor_results`. Importing this
module does not import Scrapy nor Spidermon: the crawl's settings are built with it, and the
parent reads the stat names from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harvest.config.spec import MONITOR_NAMES, SourceSpec

MONITORS_STAT = "harvest/monitors"  # the crawl stat the monitors' results are written to
MONITORS_CPU_STAT = "harvest/monitors_cpu_seconds"  # what they cost the crawl process
SUITE = "harvest.crawler.monitors.CrawlMonitorSuite"
EXTENSION = "harvest.crawler.monitors.HarvestSpidermon"
EXTENSION_ORDER = 500  # after Scrapy's CoreStats (0), which sets finish_reason on close
RECORD_TYPE = "Record"  # harvest.crawler.monitors.Record: the item type in coverage stats


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
