"""Crawl monitors (Spidermon) in real crawls of the demo site: passing on a healthy site, failing
on a broken one, stored in the warehouse and reported by the pipeline's crawl check.

Real components: the demo HTTP server (with injected faults), Scrapy and Spidermon in the crawl's
own process, the file raw store and the warehouse (SQLite here; both dialects below).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import MONITOR_NAMES, SourceSpec, load_spec
from harvest.partitions import Partition
from harvest.scraping.checks import CrawlCheckFailed, check_crawl
from harvest.scraping.health import monitored_crawl
from harvest.scraping.runner import CrawlResult
from harvest.storage.warehouse import CRAWL_MONITORS, PartitionSummary, Warehouse, open_warehouse
from harvest.storage.warehouse.schema import CRAWL_STATS
from harvest_demo import DemoSite, Faults, SiteConfig

DAY = dt.date(2026, 3, 1)
CONFIG = SiteConfig(seed=7, listings_per_day=60, page_size=20, js_fraction=0.0)
SPEC_PATH = Path(__file__).resolve().parents[2] / "include/harvest/sources/demo.yaml"
FAST = {"AUTOTHROTTLE_START_DELAY": 0.1, "HARVEST_RETRY_BACKOFF_SECONDS": 0.1}


def demo_spec(**monitors: Any) -> SourceSpec:
    spec = load_spec(SPEC_PATH)
    return spec.model_copy(update={"monitors": spec.monitors.model_copy(update=monitors)})


def crawl(home: Path, spec: SourceSpec, faults: Faults | None = None, **kwargs: Any) -> CrawlResult:
    settings = Settings.from_env({"HARVEST_HOME": str(home)})
    with DemoSite(CONFIG, faults) as site:
        return monitored_crawl(
            spec, DAY, settings, base_url=site.base_url, timeout_seconds=120,
            extra_scrapy_settings=FAST, **kwargs,
        )  # fmt: skip


def stored(home: Path) -> dict[str, tuple[str, str, str]]:
    """The warehouse's crawl_monitors rows of the partition: monitor -> (status, severity, msg)."""
    engine = sa.create_engine(f"sqlite:///{home / 'warehouse.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CRAWL_MONITORS).where(
                CRAWL_MONITORS.c.source == "demo", CRAWL_MONITORS.c.logical_date == DAY
            )
        ).all()
    engine.dispose()
    return {row.monitor: (row.status, row.severity, row.message) for row in rows}


def by_name(result: CrawlResult) -> dict[str, dict[str, str]]:
    return {found["monitor"]: found for found in result.monitors}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A crawl of the healthy demo site, then its re-run, with three earlier partitions."""
    home = tmp_path_factory.mktemp("healthy")
    with open_warehouse(f"sqlite:///{home / 'warehouse.db'}") as warehouse:
        warehouse.migrate([load_spec(SPEC_PATH)])
        for days_back, scraped in ((3, 58), (2, 61), (1, 60)):
            day = DAY - dt.timedelta(days=days_back)
            warehouse.record_partition(
                PartitionSummary("demo", day, scraped, scraped, 0, 0, 0, scraped, True)
            )
    first = crawl(home, demo_spec())
    first_rows = stored(home)
    rerun = crawl(home, demo_spec())
    yield {"first": first, "first_rows": first_rows, "rerun": rerun, "home": home}


def test_every_monitor_passes_on_the_healthy_site(healthy: dict[str, Any]) -> None:
    result: CrawlResult = healthy["first"]
    found = by_name(result)
    # every monitor the defaults switch on ran (downloader_exceptions is off by default)
    assert set(found) == set(MONITOR_NAMES) - {"downloader_exceptions"}
    assert {f["status"] for f in found.values()} == {"passed"}, found
    assert all(f["severity"] == "warning" and f["message"] for f in found.values())
    assert result.item_pages == CONFIG.listings_per_day
    assert result.monitors_cpu_seconds > 0  # what they cost the crawl, counted by it
    # the task's XCom carries them, and check_crawl has nothing to say
    assert result.to_dict()["monitors"] == result.monitors
    assert check_crawl(demo_spec(), Partition("demo", DAY), result.to_dict()) == []


def test_the_results_are_stored_and_a_rerun_replaces_them(healthy: dict[str, Any]) -> None:
    first_rows = healthy["first_rows"]
    assert set(first_rows) == set(by_name(healthy["first"]))
    assert {status for status, _severity, _message in first_rows.values()} == {"passed"}
    # the re-run (served by the HTTP cache) stored its own results in place of the first's
    rerun_rows = stored(healthy["home"])
    assert set(rerun_rows) == set(first_rows)
    assert rerun_rows == {
        f["monitor"]: (f["status"], f["severity"], f["message"]) for f in healthy["rerun"].monitors
    }


def test_a_broken_site_fails_named_monitors_and_a_critical_one_fails_the_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Layout drift empties every field; 503s twice per page; a minimum nobody can reach; and
    the recent partitions were ten times larger. Field coverage is critical in this spec."""
    with open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}") as warehouse:
        warehouse.migrate([load_spec(SPEC_PATH)])
        for days_back in (2, 1):
            day = DAY - dt.timedelta(days=days_back)
            warehouse.record_partition(PartitionSummary("demo", day, 600, 600, 0, 0, 0, 600, True))
    spec = demo_spec(min_items=1000, critical=["field_coverage"])
    result = crawl(tmp_path, spec, Faults(layout_drift=True, fail_first=2))
    found = by_name(result)
    failed = {name for name, f in found.items() if f["status"] == "failed"}
    assert failed == {"item_count", "field_coverage", "unwanted_http_codes", "item_count_vs_median"}
    assert "Record/price (expected 0.01, got 0" in found["field_coverage"]["message"]
    assert "status code=503" in found["unwanted_http_codes"]["message"]
    assert found["field_coverage"]["severity"] == "critical"
    # stored although the scrape is about to fail: the supervisor sees why
    rows = stored(tmp_path)
    assert rows["field_coverage"][:2] == ("failed", "critical")
    assert rows["item_count"][:2] == ("failed", "warning")

    caplog.set_level(logging.WARNING, logger="harvest.scraping.health")
    with pytest.raises(CrawlCheckFailed) as raised:
        check_crawl(spec, Partition(spec.name, DAY), result.to_dict())
    message = str(raised.value)
    assert "source=demo date=2026-03-01" in message and "field_coverage" in message
    assert "item_count " not in message  # only the critical monitor fails the scrape
    # each failed monitor is a named warning in the task log
    for name in failed:
        assert f"crawl monitor {name} failed" in caplog.text


def test_monitors_switched_off_add_nothing(tmp_path: Path) -> None:
    result = crawl(tmp_path, demo_spec(enabled=False))
    assert result.monitors == [] and result.item_pages == CONFIG.listings_per_day
    assert result.monitors_cpu_seconds == 0.0
    # monitors off: the crawl stores no monitor result, only its own figures (crawl_stats)
    assert stored(tmp_path) == {}
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(CRAWL_STATS)).all()
    engine.dispose()
    assert (row.source, row.logical_date, row.pages, row.items) == (
        "demo",
        DAY,
        result.pages,
        result.items,
    )


def test_crawl_monitors_on_both_warehouses(warehouse: Warehouse) -> None:
    warehouse.migrate([load_spec(SPEC_PATH)])
    results = [
        {"monitor": "item_count", "status": "failed", "severity": "critical", "message": "0 < 1"},
        {"monitor": "finish_reason", "status": "passed", "severity": "warning", "message": "ok"},
    ]
    assert warehouse.replace_crawl_monitors("demo", DAY, results) == 2
    assert warehouse.replace_crawl_monitors("demo", DAY, results[1:]) == 1  # a re-run
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.select(CRAWL_MONITORS)).all()
    assert [(r.source, r.logical_date, r.monitor, r.status) for r in rows] == [
        ("demo", DAY, "finish_reason", "passed")
    ]
    assert rows[0].checked_at is not None
    # 2026-02-25 scraped nothing (a failed crawl): not part of the norm, as the row-count floor
    days = ((dt.date(2026, 2, 25), 0), (dt.date(2026, 2, 26), 10), (dt.date(2026, 2, 27), 20))
    for day, scraped in days:
        warehouse.record_partition(PartitionSummary("demo", day, scraped, 0, 0, 0, 0, 0, True))
    warehouse.record_partition(PartitionSummary("demo", DAY, 99, 0, 0, 0, 0, 0, True))
    assert warehouse.recent_scraped_counts("demo", DAY, 7) == [10, 20]
    assert warehouse.recent_scraped_counts("demo", DAY, 1) == [20]
    with pytest.raises(Exception, match="crawl monitors of source demo, logical date 2026-03-01"):
        warehouse.replace_crawl_monitors("demo", DAY, [{"monitor": "item_count"}])
