"""Spidermon in the crawl process: the crawl's monitors, run when the spider closes.

Loaded by Scrapy only (``EXTENSIONS`` and ``SPIDERMON_SPIDER_CLOSE_MONITORS`` name it; see
:func:`harvest.crawler.monitor_settings.monitor_settings`), never imported by the parent process.
Spidermon does the work; Harvest adds four small pieces, each for something Spidermon lacks:

- :class:`HarvestSpidermon`, Spidermon's extension fed the *records* of each page for field
  coverage. Harvest's Scrapy item is a page (:class:`~harvest.crawler.items.PageItem`): an
  item page carries one record in ``fields``, a list page many in ``records``, so Spidermon's
  coverage of the item itself would measure pages, not records. Its stats are
  ``spidermon_field_coverage/Record/<field>``.
- :class:`RecordCountMonitor`, Spidermon's ``ItemCountMonitor`` on ``harvest/item_pages``
  (records: item pages + card items) instead of ``item_scraped_count`` (pages), for the same
  reason; its threshold is still ``SPIDERMON_MIN_ITEMS``.
- :class:`MedianItemCountMonitor`: records against the median scraped count of the source's
  recent partitions. Spidermon's ``ZyteJobsComparisonMonitor`` reads previous jobs from
  Scrapy Cloud only; Harvest's previous crawls are in its warehouse, whose counts the parent
  passes in ``HARVEST_RECENT_ITEM_COUNTS``.
- :class:`CompletenessMonitor`: the crawl's completeness account
  (:mod:`harvest.crawler.completeness`) has no named warning: every link and card seen ended
  as a record or a drop with its reason, and no level lost items to depth, budget or failures.
- :class:`StoreMonitorResults`, a Spidermon action that writes every monitor's result into the
  crawl stats (``harvest/monitors``), which the crawl hands back to the task.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections import Counter
from typing import Any, ClassVar

from spidermon import Monitor, MonitorSuite, monitors
from spidermon.contrib.scrapy.extensions import Spidermon
from spidermon.contrib.scrapy.monitors import (
    DownloaderExceptionMonitor,
    ErrorCountMonitor,
    FieldCoverageMonitor,
    FinishReasonMonitor,
    ItemCountMonitor,
    RetryCountMonitor,
    UnwantedHTTPCodesMonitor,
    WarningCountMonitor,
)
from spidermon.contrib.scrapy.monitors.base import BaseStatMonitor
from spidermon.core.actions import Action

from harvest.crawler.completeness import completeness_of
from harvest.crawler.items import PageItem
from harvest.crawler.monitor_settings import MONITORS_CPU_STAT, MONITORS_STAT
from harvest.crawler.spiders.base import ITEM_PAGES_STAT

# Spidermon 1.27 writes its report with Spider.log(), deprecated in Scrapy 2.13: the warning
# would be a WARNING line in every crawl's log (and in log_count/WARNING).
warnings.filterwarnings("ignore", message=r"Spider\.log\(\) is deprecated")


class Record(dict[str, Any]):
    """One record of a page, as Spidermon's field coverage sees it: its stats name the type
    (``spidermon_field_coverage/Record/<field>``, :data:`~harvest.crawler.monitor_settings.RECORD_TYPE`)."""


def page_records(item: Any) -> list[Record]:
    """The records a page item carries: the item page's fields, or the list page's cards."""
    if not isinstance(item, PageItem):
        return [Record(item)] if isinstance(item, dict) else []
    records = [Record(record) for record in item.records]
    if item.page_type == "detail" and item.fields:
        records.append(Record(item.fields))
    return records


def _hashable_pairs(values: list[Any]) -> frozenset[tuple[type, Any]]:
    """``(type, value)`` of each hashable value: a value of another type never matches."""
    pairs = set()
    for value in values:
        try:
            pairs.add((type(value), value))
        except TypeError:  # [] or {}: matched by Spidermon's loop (only a list or dict can)
            continue
    return frozenset(pairs)


# Counts Spidermon's monitors skip when absent ("no error logged"); set to 0 when the spider
# opens, a crawl without errors passes with an observed 0 instead of being skipped.
ITEM_COUNT_STAT = "spidermon_item_scraped_count"  # Spidermon's, as its coverage reads it
ZERO_STATS = (
    "log_count/ERROR",
    "log_count/WARNING",
    "downloader/exception_count",
    "retry/max_reached",
)


class HarvestSpidermon(Spidermon):  # type: ignore[misc]
    """Spidermon's extension, counting field coverage over records instead of pages, and
    keeping what it costs: the CPU seconds spent in it during the crawl (counting records,
    running the monitors) in the stat ``harvest/monitors_cpu_seconds``.

    The coverage counts are Spidermon's (``spidermon_item_scraped_count/Record/<field>``, the
    same values it would count: its skip rules and nesting), kept in a local counter and
    written to the stats once, when the spider closes and before the monitors read them:
    Spidermon itself reads five settings and calls the stats collector once per field of every
    record, a quarter of a millisecond per page. Settings this counter does not reproduce
    (per-field dict levels, list levels) leave the counting to Spidermon."""

    cpu_seconds = 0.0
    _counts: Counter[str] | None = None
    _skip_pairs: frozenset[tuple[type, Any]] = frozenset()

    def spider_opened(self, spider: Any) -> None:
        for key in ZERO_STATS:
            if self.crawler.stats.get_value(key) is None:
                self.crawler.stats.set_value(key, 0)
        settings = self.crawler.settings
        dict_levels = settings.get("SPIDERMON_DICT_FIELDS_COVERAGE_LEVELS", -1)
        if not isinstance(dict_levels, dict) and not settings.getint(
            "SPIDERMON_LIST_FIELDS_COVERAGE_LEVELS", 0
        ):
            self._counts = Counter()
            self._skip_none = settings.getbool("SPIDERMON_FIELD_COVERAGE_SKIP_NONE", False)
            self._skip_falsy = settings.getbool("SPIDERMON_FIELD_COVERAGE_SKIP_FALSY", True)
            self._skip_values = self._get_skip_values_list(settings)
            self._skip_pairs = _hashable_pairs(self._skip_values)
            self._dict_levels = int(dict_levels)
        super().spider_opened(spider)

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        started = time.process_time()
        counts = self._counts
        for record in page_records(item):
            if counts is None:
                super().item_scraped(record, response, spider)
                continue
            counts[ITEM_COUNT_STAT] += 1
            stat = f"{ITEM_COUNT_STAT}/{type(record).__name__}"
            counts[stat] += 1
            self._count_fields(counts, record, stat, 0)
        self.cpu_seconds += time.process_time() - started

    def _count_fields(self, counts: Counter[str], values: Any, stat: str, level: int) -> None:
        """Spidermon's ``_count_item`` for flat lists and int dict levels, into ``counts``."""
        for name, value in values.items():
            if value is None:
                if self._skip_none:
                    continue
            elif self._skip_falsy and not value:
                continue
            if self._skip_values and self._skipped(value):
                continue
            field_stat = f"{stat}/{name}"
            counts[field_stat] += 1
            if isinstance(value, dict) and (self._dict_levels == -1 or level < self._dict_levels):
                self._count_fields(counts, value, field_stat, level + 1)

    def _skipped(self, value: Any) -> bool:
        """Spidermon's ``_value_in_skip_values`` (the same type and an equal value), in one set
        look-up for a hashable value instead of a call per skip value (five by default)."""
        try:
            return (type(value), value) in self._skip_pairs
        except TypeError:  # an unhashable value (a list, a dict): Spidermon's own loop
            return bool(self._value_in_skip_values(value, self._skip_values))

    def spider_closed(self, spider: Any) -> None:
        started = time.process_time()
        if self._counts:
            stats = self.crawler.stats
            for key, count in self._counts.items():
                stats.inc_value(key, count)
            self._counts.clear()
        super().spider_closed(spider)
        self.cpu_seconds += time.process_time() - started
        self.crawler.stats.set_value(MONITORS_CPU_STAT, round(self.cpu_seconds, 6))


@monitors.name("Record Count Monitor")
class RecordCountMonitor(ItemCountMonitor):  # type: ignore[misc]
    """Check the crawl yielded at least SPIDERMON_MIN_ITEMS records (item pages + card items)."""

    stat_name = ITEM_PAGES_STAT


@monitors.name("Median Item Count Monitor")
class MedianItemCountMonitor(BaseStatMonitor):  # type: ignore[misc]
    """Check records reached HARVEST_MIN_SHARE_OF_MEDIAN of the recent partitions' median.

    Skipped when the source has no loaded partition before this one (nothing to compare)."""

    stat_name = ITEM_PAGES_STAT
    assert_type = ">="
    fail_if_stat_missing = False

    def _recent(self) -> list[int]:
        return [int(n) for n in self.crawler.settings.getlist("HARVEST_RECENT_ITEM_COUNTS")]

    def get_threshold(self) -> float:
        recent = self._recent()
        if not recent:
            self.skipTest("no earlier partition of this source to compare with")
        share = self.crawler.settings.getfloat("HARVEST_MIN_SHARE_OF_MEDIAN")
        return float(math.ceil(statistics.median(recent) * share))


@monitors.name("Completeness Monitor")
class CompletenessMonitor(Monitor):  # type: ignore[misc]
    """Check the completeness account of the crawl has no named warning."""

    @monitors.name("every link and card ends as a record or a drop with its reason")  # type: ignore[untyped-decorator]
    def test_completeness(self) -> None:
        warnings = completeness_of(self.data.crawler.stats.get_stats())["warnings"]
        if warnings:
            self.fail("; ".join(warnings))


# Harvest's name of each monitor (MONITOR_NAMES in harvest.config.spec): one name per thing in
# the stats, the warehouse table crawl_monitors, the metrics and the logs.
MONITOR_CLASSES: dict[str, type] = {
    "item_count": RecordCountMonitor,
    "field_coverage": FieldCoverageMonitor,
    "error_count": ErrorCountMonitor,
    "warning_count": WarningCountMonitor,
    "finish_reason": FinishReasonMonitor,
    "unwanted_http_codes": UnwantedHTTPCodesMonitor,
    "retry_count": RetryCountMonitor,
    "downloader_exceptions": DownloaderExceptionMonitor,
    "item_count_vs_median": MedianItemCountMonitor,
    "completeness": CompletenessMonitor,
}
_NAMES = {cls: name for name, cls in MONITOR_CLASSES.items()}
_STATUS = {"OK": "passed", "SKIPPED": "skipped", "FAIL": "failed", "ERROR": "failed"}


class StoreMonitorResults(Action):  # type: ignore[misc]
    """Write every monitor's result into the crawl stats (``harvest/monitors``): a list of
    ``{"monitor", "status" (passed | failed | skipped), "message"}``."""

    def run_action(self) -> None:
        found = []
        for outcome in self.result.monitor_results:
            monitor = outcome.item
            status = _STATUS.get(outcome.status, "failed")
            message = outcome.reason or ""
            if status == "passed":  # what was checked
                message = monitor.monitor_description or monitor.monitor_name or ""
            if outcome.status == "ERROR":  # the monitor itself broke: say how
                message = (outcome.error or "").strip().splitlines()[-1:]
                message = f"the monitor could not run: {' '.join(message)}"
            found.append(
                {
                    "monitor": _NAMES.get(type(monitor), type(monitor).__name__),
                    "status": status,
                    "message": " ".join(str(message).split()),
                }
            )
        self.data.crawler.stats.set_value(MONITORS_STAT, found)


class CrawlMonitorSuite(MonitorSuite):  # type: ignore[misc]
    """The monitors named in ``HARVEST_MONITORS`` (those the spec's ``monitors:`` switches on),
    in that order, with :class:`StoreMonitorResults` as their finished action."""

    monitors_finished_actions: ClassVar[list[type]] = [StoreMonitorResults]

    def __init__(self, *args: Any, crawler: Any = None, **kwargs: Any) -> None:
        names = crawler.settings.getlist("HARVEST_MONITORS") if crawler is not None else []
        unknown = [name for name in names if name not in MONITOR_CLASSES]
        if unknown:
            raise ValueError(f"HARVEST_MONITORS names unknown monitors {unknown}")
        kwargs["monitors"] = [MONITOR_CLASSES[name] for name in names]
        super().__init__(*args, crawler=crawler, **kwargs)
