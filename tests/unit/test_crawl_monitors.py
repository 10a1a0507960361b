"""Crawl monitors: the spec's ``monitors:`` block, the Spidermon settings built from it, the
records Spidermon counts, the named warnings, and the supervisor's gauges (read from a real
SQLite warehouse, sent over a real UDP socket and mapped by the statsd-exporter mapping).

The monitors themselves run in real crawls: tests/integration/test_scraping_monitors.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
import statsd
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import MONITOR_NAMES, MonitorsSpec, SourceSpec, SpecError, load_spec
from harvest.crawler.items import PageItem
from harvest.crawler.monitor_settings import monitor_settings
from harvest.crawler.monitors import MONITOR_CLASSES, Record, page_records
from harvest.crawler.settings import build_scrapy_settings
from harvest.monitoring.history import PartitionResult
from harvest.monitoring.metrics import emit_statuses, status_gauges
from harvest.monitoring.results import read_partition_results
from harvest.monitoring.sla import evaluate_source
from harvest.partitions import Partition
from harvest.scraping.checks import CrawlCheckFailed, check_crawl
from harvest.scraping.health import CriticalMonitorFailed, report_monitors
from harvest.storage.warehouse import PartitionSummary, open_warehouse
from tests.unit.test_deploy_files import map_statsd, statsd_mappings
from tests.unit.test_monitoring_supervisor import received, udp  # noqa: F401 - fixture

DEMO = DEFAULT_SOURCES_DIR / "demo.yaml"
DAY = dt.date(2026, 3, 14)
NOW = dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC)


def demo(**monitors: Any) -> SourceSpec:
    spec = load_spec(DEMO)
    return spec.model_copy(update={"monitors": MonitorsSpec(**monitors)})


def write_spec(tmp_path: Path, monitors: object) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["monitors"] = monitors
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# ---- the spec block -------------------------------------------------------------------------


def test_the_spec_block_loads_with_defaults_and_overrides(tmp_path: Path) -> None:
    defaults = load_spec(DEMO).monitors
    assert defaults.enabled and defaults.min_items == 1 and defaults.max_errors == 0
    assert defaults.expected_finish_reasons == ["finished"] and defaults.critical == []
    spec = load_spec(
        write_spec(
            tmp_path,
            {
                "min_items": 250,
                "field_coverage": {"price": 0.9},
                "unwanted_http_codes": {403: 0},
                "max_warnings": None,
                "critical": ["item_count", "field_coverage"],
            },
        )
    )
    assert spec.monitors.min_items == 250 and spec.monitors.field_coverage == {"price": 0.9}
    assert spec.monitors.unwanted_http_codes == {403: 0} and spec.monitors.max_warnings is None
    assert spec.monitors.critical == ["item_count", "field_coverage"]
    assert set(MONITOR_CLASSES) == set(MONITOR_NAMES)  # one name per monitor, everywhere


@pytest.mark.parametrize(
    ("monitors", "field", "message"),
    [
        ({"critical": ["item_cuont"]}, "monitors.critical", "['item_cuont'] are not monitors"),
        ({"field_coverage": {"price": 1.5}}, "monitors.field_coverage", "not between 0 and 1"),
        ({"field_coverage": {"prize": 0.5}}, "", "monitors.field_coverage ['prize'] are not"),
        ({"min_items": -1}, "monitors.min_items", "greater than or equal to 0"),
        ({"max_retry": 3}, "monitors.max_retry", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_monitors_block_names_the_file_and_field(
    tmp_path: Path, monitors: dict[str, Any], field: str, message: str
) -> None:
    path = write_spec(tmp_path, monitors)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.field == field and message in str(raised.value)
    assert str(path) in str(raised.value)


# ---- the Spidermon settings -----------------------------------------------------------------


def test_default_monitors_become_spidermon_settings() -> None:
    spec = demo()
    values = monitor_settings(spec, [300, 310])
    assert values["SPIDERMON_ENABLED"] is True
    assert values["SPIDERMON_SPIDER_CLOSE_MONITORS"] == [
        "harvest.crawler.monitors.CrawlMonitorSuite"
    ]
    assert values["HARVEST_MONITORS"] == [
        "item_count", "field_coverage", "error_count", "warning_count", "finish_reason",
        "unwanted_http_codes", "retry_count", "item_count_vs_median", "completeness",
    ]  # fmt: skip
    assert values["SPIDERMON_MIN_ITEMS"] == 1
    assert values["SPIDERMON_ADD_FIELD_COVERAGE"] is True
    assert values["SPIDERMON_FIELD_COVERAGE_SKIP_NONE"] is True
    assert values["SPIDERMON_FIELD_COVERAGE_RULES"] == {
        f"Record/{name}": 0.01 for name in spec.detail.fields
    }
    assert values["SPIDERMON_MAX_ERRORS"] == 0 and values["SPIDERMON_MAX_WARNINGS"] == 100
    assert values["SPIDERMON_EXPECTED_FINISH_REASONS"] == ["finished"]
    assert values["SPIDERMON_UNWANTED_HTTP_CODES"][403] == 0
    assert values["SPIDERMON_MAX_RETRIES"] == 0
    assert values["HARVEST_RECENT_ITEM_COUNTS"] == [300, 310]
    assert values["HARVEST_MIN_SHARE_OF_MEDIAN"] == 0.5


def test_thresholds_set_to_null_switch_their_monitor_off() -> None:
    spec = demo(
        min_items=None, min_field_coverage=None, field_coverage={"price": 0.8}, max_errors=None,
        max_warnings=None, unwanted_http_codes={}, max_retries=None, min_share_of_median=None,
        max_downloader_exceptions=3, completeness=False,
    )  # fmt: skip
    values = monitor_settings(spec)
    assert values["HARVEST_MONITORS"] == [
        "field_coverage",
        "finish_reason",
        "downloader_exceptions",
    ]
    assert values["SPIDERMON_FIELD_COVERAGE_RULES"] == {"Record/price": 0.8}
    assert values["SPIDERMON_MAX_DOWNLOADER_EXCEPTIONS"] == 3
    assert "SPIDERMON_MIN_ITEMS" not in values and "HARVEST_RECENT_ITEM_COUNTS" not in values
    no_coverage = monitor_settings(demo(min_field_coverage=None))
    assert no_coverage["SPIDERMON_ADD_FIELD_COVERAGE"] is False  # no per-record counting
    assert "field_coverage" not in no_coverage["HARVEST_MONITORS"]


def test_the_crawl_settings_load_spidermon_only_when_enabled(tmp_path: Path) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    extension = "harvest.crawler.monitors.HarvestSpidermon"
    on = build_scrapy_settings(demo(), settings, DAY)
    assert on["EXTENSIONS"][extension] == 500 and on["SPIDERMON_ENABLED"] is True
    off = build_scrapy_settings(demo(enabled=False), settings, DAY)
    assert extension not in off["EXTENSIONS"] and off["SPIDERMON_ENABLED"] is False
    assert off["HARVEST_MONITORS"] == []


# ---- the records Spidermon counts -----------------------------------------------------------


def page(page_type: str, **kwargs: Any) -> PageItem:
    return PageItem(url="http://x/1", status=200, page_type=page_type, fetched_at="t", **kwargs)


def test_field_coverage_counts_records_not_pages() -> None:
    detail = page("detail", fields={"price": "100 €", "area": None})
    cards = page("index", records=[{"price": "1"}, {"price": None}])
    assert page_records(detail) == [{"price": "100 €", "area": None}]
    assert all(type(r) is Record for r in page_records(detail) + page_records(cards))
    assert page_records(cards) == [{"price": "1"}, {"price": None}]
    assert page_records(page("index")) == []  # a list page without cards carries no record
    assert page_records(page("detail", error="HTTP 503")) == []  # a failed item page
    assert page_records({"price": "5"}) == [{"price": "5"}]  # a hand-written spider's dict


@pytest.mark.parametrize(
    "extra",
    [
        {},  # Harvest's settings (monitor_settings): its own counter
        {"SPIDERMON_FIELD_COVERAGE_SKIP_NONE": False, "SPIDERMON_FIELD_COVERAGE_SKIP_FALSY": False},
        {"SPIDERMON_DICT_FIELDS_COVERAGE_LEVELS": 1, "SPIDERMON_FIELD_COVERAGE_SKIP_VALUES": None},
        # skip values of several types: 0 is skipped, False (an equal bool) is not; [] and {}
        {
            "SPIDERMON_FIELD_COVERAGE_SKIP_FALSY": False,
            "SPIDERMON_FIELD_COVERAGE_SKIP_VALUES": [0, "N/A", [], {"c": ""}, "x"],
        },
        {"SPIDERMON_LIST_FIELDS_COVERAGE_LEVELS": 1},  # not reproduced: Spidermon counts
    ],
)
def test_field_coverage_counts_what_spidermon_counts(extra: dict[str, Any]) -> None:
    """HarvestSpidermon counts field coverage in a local counter, written to the stats at the
    close: the same stats as Spidermon's own per-field counting of the same records."""
    from scrapy.utils.test import get_crawler
    from spidermon.contrib.scrapy.extensions import Spidermon

    from harvest.crawler.monitors import HarvestSpidermon

    settings = {
        **monitor_settings(demo()),
        "SPIDERMON_SPIDER_CLOSE_MONITORS": [],
        "SPIDERMON_FIELD_COVERAGE_RULES": {},
        **extra,
    }
    items = [
        page("detail", fields={"price": "100 €", "area": None, "title": "", "rooms": "N/A"}),
        page("detail", fields={"price": 0, "area": False, "title": "-", "rooms": ["2"]}),
        page("index", records=[{"price": "1", "extra": {"a": {"b": "x", "c": ""}}}, {"p": []}]),
        page("detail", error="HTTP 503"),
    ]
    counted = []
    for cls in (HarvestSpidermon, Spidermon):
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        extension = cls.from_crawler(crawler)
        spider = crawler._create_spider("demo")
        extension.spider_opened(spider)
        for item in items:
            for record in [item] if cls is HarvestSpidermon else page_records(item):
                extension.item_scraped(record, None, spider)
        extension.spider_closed(spider)
        stats = crawler.stats.get_stats()
        counted.append({k: v for k, v in stats.items() if k.startswith("spidermon_")})
    assert counted[0] == counted[1]
    assert counted[0]["spidermon_item_scraped_count/Record"] == 4


# ---- named warnings and critical monitors ---------------------------------------------------


RESULTS = [
    {"monitor": "item_count", "status": "failed", "severity": "critical", "message": "3 < 250"},
    {"monitor": "retry_count", "status": "failed", "severity": "warning", "message": "5 gave up"},
    {"monitor": "finish_reason", "status": "passed", "severity": "warning", "message": "ok"},
    {"monitor": "error_count", "status": "skipped", "severity": "warning", "message": "none"},
]


def test_failed_monitors_are_named_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warnings = report_monitors(demo(), Partition("demo", DAY), RESULTS[1:])
    assert warnings == [
        "source=demo date=2026-03-14 crawl monitor retry_count failed (warning): 5 gave up"
    ]
    assert warnings[0] in caplog.text
    summary = {"logical_date": "2026-03-14", "exit_code": 0, "pages": 5, "monitors": RESULTS[1:]}
    assert check_crawl(demo(), Partition("demo", DAY), summary) == warnings


def test_a_critical_monitor_fails_the_scrape_naming_source_date_and_monitor() -> None:
    with pytest.raises(CriticalMonitorFailed) as raised:
        report_monitors(demo(), Partition("demo", DAY), RESULTS)
    message = str(raised.value)
    assert "scrape source=demo date=2026-03-14" in message
    assert "item_count (3 < 250)" in message and "retry_count" not in message
    summary = {"logical_date": "2026-03-14", "exit_code": 0, "pages": 5, "monitors": RESULTS}
    with pytest.raises(CrawlCheckFailed, match="critical crawl monitor"):
        check_crawl(demo(), Partition("demo", DAY), summary)


# ---- the supervisor: read from the warehouse, gauges, on the wire ---------------------------


def test_the_supervisor_reads_the_newest_crawls_monitors(tmp_path: Path) -> None:
    spec = demo()
    with open_warehouse(f"sqlite:///{tmp_path / 'wh.db'}") as wh:
        wh.migrate([spec])
        wh.record_partition(PartitionSummary("demo", DAY, 50, 45, 5, 0, 0, 45, True))
        wh.replace_crawl_monitors("demo", DAY - dt.timedelta(days=1), RESULTS[2:])
        wh.replace_crawl_monitors("demo", DAY, RESULTS[1:])
        newest = read_partition_results(wh, spec, DAY)[-1]
        # a newer crawl whose scrape failed (no load yet): its monitors are the newest
        wh.replace_crawl_monitors("demo", DAY + dt.timedelta(days=1), RESULTS)
        failed_scrape = read_partition_results(wh, spec, DAY)[-1]
    assert newest.crawl_monitors == {
        "retry_count": "failed", "finish_reason": "passed", "error_count": "skipped",
    }  # fmt: skip
    assert newest.crawl_monitors_date == DAY and newest.failed_monitors == ["retry_count"]
    assert failed_scrape.logical_date == DAY
    assert failed_scrape.crawl_monitors_date == DAY + dt.timedelta(days=1)
    assert failed_scrape.failed_monitors == ["item_count", "retry_count"]


def test_failed_monitors_become_gauges_the_mapping_labels(udp: socket.socket) -> None:  # noqa: F811
    newest = PartitionResult(
        DAY, scraped=100, quarantined=0, loaded=100,
        crawl_monitors={"item_count": "failed", "retry_count": "failed", "finish_reason": "passed",
                        "error_count": "skipped"},
    )  # fmt: skip
    status = evaluate_source(demo(), [], [newest], NOW)
    gauges = status_gauges(status)
    assert gauges["crawl.monitors_failed.demo"] == 2.0
    assert gauges["crawl.monitor_failed.item_count.demo"] == 1.0
    assert gauges["crawl.monitor_failed.finish_reason.demo"] == 0.0
    assert gauges["crawl.monitor_failed.error_count.demo"] == 0.0  # skipped is not a failure
    quiet = evaluate_source(demo(), [], [PartitionResult(DAY, 1, 0, 1)], NOW)
    assert not any(name.startswith("crawl.") for name in status_gauges(quiet))  # none measured

    client = statsd.StatsClient("127.0.0.1", udp.getsockname()[1], prefix="harvest")
    emit_statuses(client, [status])
    metrics = received(udp)
    assert metrics["harvest.crawl.monitors_failed.demo"] == (2.0, "g")
    assert metrics["harvest.crawl.monitor_failed.item_count.demo"] == (1.0, "g")
    mappings = statsd_mappings()
    assert map_statsd("harvest.crawl.monitors_failed.demo", mappings) == (
        "harvest_crawl_monitors_failed",
        {"source": "demo"},
    )
    assert map_statsd("harvest.crawl.monitor_failed.item_count.demo", mappings) == (
        "harvest_crawl_monitor_failed",
        {"monitor": "item_count", "source": "demo"},
    )


def test_a_failed_monitor_is_an_sla_miss_alerted_once_per_crawl() -> None:
    failed = PartitionResult(
        DAY, 100, 0, 100, crawl_monitors={"item_count": "failed", "finish_reason": "passed"},
        crawl_monitors_date=DAY,
    )  # fmt: skip
    check = evaluate_source(demo(), [], [failed], NOW).check("crawl_monitors")
    assert check.missed is True and check.observed == 1
    assert check.key == "2026-03-14:item_count" and "failed monitors item_count" in check.message
    passed = PartitionResult(DAY, 100, 0, 100, crawl_monitors={"item_count": "passed"})
    assert evaluate_source(demo(), [], [passed], NOW).check("crawl_monitors").missed is False
    unknown = evaluate_source(demo(), [], [PartitionResult(DAY, 1, 0, 1)], NOW)
    assert unknown.check("crawl_monitors").missed is None  # nothing to judge
    off = demo().model_copy(update={"sla": demo().sla.model_copy(update={"crawl_monitors": False})})
    assert evaluate_source(off, [], [failed], NOW).check("crawl_monitors").missed is None


def test_the_coverage_stats_name_the_record_type_the_settings_use() -> None:
    from harvest.crawler.monitor_settings import RECORD_TYPE

    assert Record.__name__ == RECORD_TYPE
