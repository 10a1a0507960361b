"""Crawls of the real demo site on localhost, each in its own process, like Airflow runs them.

Real components only: the demo HTTP server with injected faults, Scrapy in a child process,
headless Chromium for JavaScript pages, the file raw store, Redis for the HTTP cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.crawler.spiders import HarvestSpider
from harvest.scraping import CrawlError, CrawlResult, run_crawl
from harvest.storage.raw import FileRawStore, RawDocument
from harvest_demo import DemoSite, Faults, SiteConfig, listings_for_day

DAY = dt.date(2026, 3, 1)
CONFIG = SiteConfig(seed=7, listings_per_day=60, page_size=20)
SPEC_PATH = Path(__file__).resolve().parents[2] / "include/harvest/sources/demo.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Faster than the polite production defaults, still through the same middlewares.
FAST = {"AUTOTHROTTLE_START_DELAY": 0.1, "HARVEST_RETRY_BACKOFF_SECONDS": 0.1}


class FirstPageSpider(HarvestSpider):
    """A hand-written spider (the ``spider:`` registry): records the start pages only."""

    def parse(self, response: Any, **kwargs: Any) -> Iterator[Any]:
        yield self.page_item(response, "index")


def demo_spec(**crawl: Any) -> SourceSpec:
    spec = load_spec(SPEC_PATH)
    if crawl:
        spec = spec.model_copy(update={"crawl": spec.crawl.model_copy(update=crawl)})
    return spec


def make_settings(home: Path, cache_url: str | None = None) -> Settings:
    env = {"HARVEST_HOME": str(home)}
    if cache_url:
        env["HARVEST_CACHE_URL"] = cache_url
    return Settings.from_env(env)


def read_docs(settings: Settings, spec: SourceSpec) -> list[RawDocument]:
    root = settings.raw_store_url.removeprefix("file://")
    return FileRawStore(root).read_partition(spec.name, DAY)


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def full_crawl(
    tmp_path_factory: pytest.TempPathFactory, chromium: tuple[str, str]
) -> Iterator[dict[str, Any]]:
    """One full crawl of the demo site (JavaScript pages through Chromium), shared by tests."""
    home = tmp_path_factory.mktemp("full")
    settings = make_settings(home)
    spec = demo_spec()
    logger = logging.getLogger("test.scraping.full")
    logger.setLevel(logging.INFO)
    handler = LogLines()
    logger.addHandler(handler)
    with DemoSite(CONFIG) as running:
        result = run_crawl(
            spec, DAY, settings, base_url=running.base_url, logger=logger,
            timeout_seconds=120, extra_scrapy_settings=FAST,
        )  # fmt: skip
        stats = running.stats()
        docs = read_docs(settings, spec)
        # the re-run: same date, same raw store, same (on-disk) HTTP cache
        running.reset_stats()
        rerun = run_crawl(
            spec, DAY, settings, base_url=running.base_url, logger=logger,
            timeout_seconds=120, extra_scrapy_settings=FAST,
        )  # fmt: skip
        rerun_docs = read_docs(settings, spec)
        rerun_stats = running.stats()
    logger.removeHandler(handler)
    yield {
        "result": result, "docs": docs, "stats": stats,
        "rerun": rerun, "rerun_docs": rerun_docs, "rerun_stats": rerun_stats,
        "log": handler.lines, "settings": settings,
    }  # fmt: skip


def test_full_crawl_records_every_index_and_detail_page(full_crawl: dict[str, Any]) -> None:
    result: CrawlResult = full_crawl["result"]
    docs: list[RawDocument] = full_crawl["docs"]
    by_type: dict[str, list[RawDocument]] = {}
    for doc in docs:
        by_type.setdefault(doc.page_type, []).append(doc)
    assert len(by_type["index"]) == CONFIG.pages_per_day == 3
    assert len(by_type["detail"]) == CONFIG.listings_per_day == 60
    assert result.documents == len(docs) == 63
    assert result.items == result.pages == 63
    assert result.failed_pages == 0
    assert result.exit_code == 0
    assert result.raw_uri.startswith("file://") and result.raw_uri.endswith("demo/2026-03-01.jsonl")
    assert all(d.status == 200 and d.error is None for d in docs)
    assert all(d.logical_date == "2026-03-01" and d.source == "demo" for d in docs)
    assert all(d.content_hash and d.body for d in docs)
    assert all(d.fields == {} for d in by_type["index"])
    # the child's log lines reached the caller's logger while it ran
    assert any("Spider closed (finished)" in line for line in full_crawl["log"])


def test_fields_match_the_demo_site_ground_truth(full_crawl: dict[str, Any]) -> None:
    details = {d.fields["listing_id"]: d for d in full_crawl["docs"] if d.page_type == "detail"}
    truth = listings_for_day(CONFIG, DAY)
    assert set(details) == {listing.listing_id for listing in truth}
    for listing in truth[:15]:
        fields = details[listing.listing_id].fields
        assert fields["title"] == " ".join(listing.title.split())
        assert fields["price"] == listing.price_text
        assert fields["city"] == listing.city_text
        assert fields["district"] == (None if "district" in listing.missing else listing.district)
        assert fields["rooms"] == (None if "rooms" in listing.missing else str(listing.rooms))
        area = None if "area" in listing.missing else " ".join(listing.area_text.split())
        assert fields["area"] == area


def test_javascript_pages_are_rendered_by_chromium(full_crawl: dict[str, Any]) -> None:
    result: CrawlResult = full_crawl["result"]
    truth = {listing.listing_id: listing for listing in listings_for_day(CONFIG, DAY)}
    js_ids = {i for i, listing in truth.items() if listing.needs_js}
    assert js_ids, "the demo config should have JavaScript pages"
    details = {d.fields["listing_id"]: d for d in full_crawl["docs"] if d.page_type == "detail"}
    for listing_id in js_ids:
        doc = details[listing_id]
        assert doc.rendered_with == "chromium"
        assert doc.fields["price"] == truth[listing_id].price_text  # filled in by the script
        assert 'data-rendered="true"' in (doc.body or "")
    assert all(details[i].rendered_with == "http" for i in set(details) - js_ids)
    assert result.js_pages == len(js_ids)
    assert result.js_unavailable == 0


def test_robots_txt_is_obeyed(full_crawl: dict[str, Any]) -> None:
    paths = full_crawl["stats"]["paths"]
    assert paths.get("/robots.txt") == 1
    assert not [p for p in paths if p.startswith("/private/")]


def test_rerun_gives_identical_raw_contents_without_duplicates(full_crawl: dict[str, Any]) -> None:
    def comparable(docs: list[RawDocument]) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.to_dict().items() if k != "fetched_at"} for d in docs]

    first, again = full_crawl["docs"], full_crawl["rerun_docs"]
    assert len(again) == len(first) == 63
    assert len({d.url for d in again}) == len(again)
    assert comparable(again) == comparable(first)
    # the on-disk HTTP cache served the re-run: the site saw no page requests at all
    rerun: CrawlResult = full_crawl["rerun"]
    assert rerun.cached_responses >= 63
    assert full_crawl["rerun_stats"]["total"] == 0
    assert rerun.requests_to_site == 0


@pytest.mark.redis
def test_redis_cache_serves_the_second_run(
    clean_redis: str, site: DemoSite, tmp_path: Path, chromium: tuple[str, str]
) -> None:
    import redis

    settings = make_settings(tmp_path, cache_url=clean_redis)
    spec = demo_spec()
    first = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    assert first.cached_responses == 0
    assert site.stats()["urls"]["/listings/2026-03-01"] == 1
    keys = redis.Redis.from_url(clean_redis).keys("harvest:httpcache:demo:*")
    assert len(keys) == first.requests_to_site  # robots, index, detail and rendered pages
    assert any(k.endswith(b":chromium") for k in keys)

    site.reset_stats()
    second = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    assert site.stats()["total"] == 0, site.stats()["paths"]
    assert second.requests_to_site == 0
    assert second.cached_responses == len(keys)
    assert second.documents == first.documents == 63
    assert second.js_pages == first.js_pages  # rendered pages come from the cache too
    docs = read_docs(settings, spec)
    assert sum(d.rendered_with == "chromium" for d in docs) == first.js_pages


def test_fail_first_is_retried_and_every_page_ends_ok(site: DemoSite, tmp_path: Path) -> None:
    site.set_faults(Faults(fail_first=1))
    settings = make_settings(tmp_path)
    spec = demo_spec(retries=2)
    result = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    docs = read_docs(settings, spec)
    assert result.failed_pages == 0
    assert len(docs) == 63
    assert all(d.status == 200 and d.error is None for d in docs)
    statuses = site.stats()["statuses"]
    assert statuses["503"] >= 63  # every page failed once, and was retried


def test_always_failing_pages_are_recorded_with_status_and_error(
    site: DemoSite, tmp_path: Path
) -> None:
    site.set_faults(Faults(error_rate=1.0))
    settings = make_settings(tmp_path)
    spec = demo_spec(retries=1)
    result = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    docs = read_docs(settings, spec)
    assert [d.url for d in docs] == [f"{spec.base_url}/listings/2026-03-01"]
    (doc,) = docs
    assert doc.status == 503
    assert doc.error == "HTTP 503 (after 1 retry)"
    assert doc.page_type == "index"
    assert result.failed_pages == 1 and result.documents == 1
    assert site.stats()["urls"]["/listings/2026-03-01"] == 2  # the request and one retry


def test_some_failing_pages_lose_nothing(site: DemoSite, tmp_path: Path) -> None:
    site.set_faults(Faults(error_rate=0.3))
    settings = make_settings(tmp_path)
    spec = demo_spec(retries=0)
    result = run_crawl(
        spec, DAY, settings, base_url=site.base_url,
        extra_scrapy_settings={**FAST, "HARVEST_JS_WAIT_FOR": None},
    )  # fmt: skip
    docs = read_docs(settings, spec)
    failed = [d for d in docs if d.error]
    assert failed, "with error_rate=0.3 some pages must fail"
    assert all(d.status == 503 and d.error == "HTTP 503" for d in failed)
    assert result.failed_pages == len(failed)
    # every link of every index page that was fetched has a document: fetched or failed
    urls = {d.url for d in docs}
    for index in (d for d in docs if d.page_type == "index" and d.status == 200):
        for listing_id in _linked_ids(index.body or ""):
            assert f"{spec.base_url}/listing/{listing_id}" in urls


def _linked_ids(body: str) -> list[str]:
    import re

    return re.findall(r'class="listing-link" href="/listing/([^"]+)"', body)


def test_slow_responses_beyond_the_download_timeout_are_failures(
    site: DemoSite, tmp_path: Path
) -> None:
    site.set_faults(Faults(slow_rate=1.0, slow_seconds=2.5))
    settings = make_settings(tmp_path)
    spec = demo_spec(retries=0, download_timeout_seconds=1.0)
    result = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    (doc,) = read_docs(settings, spec)
    assert doc.status is None
    assert doc.error is not None and "timeout" in doc.error.lower()
    assert result.failed_pages == 1


def test_truncated_html_is_recorded_and_max_pages_honoured(
    site: DemoSite, tmp_path: Path, chromium: tuple[str, str]
) -> None:
    site.set_faults(Faults(truncate_rate=1.0))
    settings = make_settings(tmp_path)
    spec = demo_spec(max_pages=8)
    result = run_crawl(
        spec, DAY, settings, base_url=site.base_url,
        extra_scrapy_settings={**FAST, "HARVEST_JS_TIMEOUT_SECONDS": 2},
    )  # fmt: skip
    docs = read_docs(settings, spec)
    assert result.documents == len(docs) == 8  # the index page and 7 of its links
    assert all(d.status == 200 for d in docs)
    for doc in docs:
        if doc.rendered_with == "http":
            assert "</html>" not in (doc.body or "")
        else:  # the inline script was cut off: Chromium waited for it in vain
            assert doc.error is not None and doc.error.startswith("javascript rendering timed out")
    details = [d for d in docs if d.page_type == "detail"]
    # cut half-way: the first fields are there, the last ones are missing
    assert all(d.fields["listing_id"] for d in details)
    assert all(d.fields["available_from"] is None for d in details)


def test_without_chromium_javascript_pages_are_stored_unrendered(
    site: DemoSite, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    spec = demo_spec()
    handler = LogLines()
    logger = logging.getLogger("test.scraping.nochromium")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    result = run_crawl(
        spec, DAY, settings, base_url=site.base_url, logger=logger,
        extra_scrapy_settings={**FAST, "HARVEST_CHROMIUM_PATH": "/nonexistent/chromium"},
    )  # fmt: skip
    logger.removeHandler(handler)
    js_ids = {listing.listing_id for listing in listings_for_day(CONFIG, DAY) if listing.needs_js}
    docs = read_docs(settings, spec)
    unrendered = [d for d in docs if d.fields.get("listing_id") in js_ids]
    assert len(docs) == 63 and len(unrendered) == len(js_ids)
    for doc in unrendered:
        assert doc.rendered_with == "http"
        assert doc.fields["price"] is None  # only the script would fill it in
        assert doc.error is not None
        assert doc.error.startswith("javascript rendering unavailable: chromium")
    assert result.js_unavailable == result.js_pages == len(js_ids)
    warnings = [line for line in handler.lines if "Chromium not found" in line]
    assert len(warnings) == 1
    assert "install chromium and chromium-driver" in warnings[0]


def test_a_crashed_browser_is_replaced_and_the_page_retried(
    site: DemoSite, chromium: tuple[str, str]
) -> None:
    import psutil

    from harvest.crawler.browser import BrowserPool

    browser, driver_path = chromium
    js = [listing for listing in listings_for_day(CONFIG, DAY) if listing.needs_js][:2]
    pool = BrowserPool(
        1, browser, driver_path, wait_for="body[data-rendered=true]", timeout_seconds=15
    )
    try:
        first = pool.render(f"{site.base_url}/listing/{js[0].listing_id}")
        assert first.error is None and first.restarts == 0
        assert js[0].price_text in first.html
        (driver,) = pool.browsers
        # crash it for real: kill every Chromium process under this chromedriver
        chromes = psutil.Process(driver.service.process.pid).children(recursive=True)
        assert chromes
        for process in chromes:
            process.kill()
        _wait_dead(chromes)

        second = pool.render(f"{site.base_url}/listing/{js[1].listing_id}")
        assert second.restarts == 1
        assert second.error is None
        assert js[1].price_text in second.html
        assert pool.browsers and pool.browsers[0] is not driver
    finally:
        pool.close()
    assert pool.browsers == []


def _wait_dead(processes: list[Any], timeout: float = 10.0) -> None:
    """Wait until killed processes are gone (or zombies their parent has not reaped yet)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.NoSuchProcess:
                continue
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes still alive after {timeout} s: {alive}")


def test_a_hand_written_spider_from_the_spec(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "include")]))
    settings = make_settings(tmp_path)
    spec = demo_spec().model_copy(
        update={"spider": "tests.integration.test_scraping.FirstPageSpider"}
    )
    result = run_crawl(spec, DAY, settings, base_url=site.base_url, extra_scrapy_settings=FAST)
    docs = read_docs(settings, spec)
    assert [(d.page_type, d.url) for d in docs] == [
        ("index", f"{spec.base_url}/listings/2026-03-01")
    ]
    assert result.documents == 1


def test_a_failing_crawl_raises_crawl_error_naming_source_date_and_exit_code(
    tmp_path: Path,
) -> None:
    spec = demo_spec().model_copy(update={"spider": "harvest.no_such_module.Spider"})
    with pytest.raises(CrawlError) as caught:
        run_crawl(spec, DAY, make_settings(tmp_path), base_url="http://127.0.0.1:9")
    message = str(caught.value)
    assert "'demo'" in message and "2026-03-01" in message and "exit code 2" in message
    assert "cannot import 'harvest.no_such_module'" in message
    assert caught.value.exit_code == 2


def test_a_crawl_on_a_slow_site_stops_itself_by_its_timeout(site: DemoSite, tmp_path: Path) -> None:
    # every page takes 20 s, the download timeout is 60 s: the deadline cuts the download
    # (it used to run on until the crawl was killed, leaving no partition and no counts)
    site.set_faults(Faults(slow_rate=1.0, slow_seconds=20))
    spec = demo_spec(download_timeout_seconds=60)
    started = time.monotonic()
    with pytest.raises(CrawlError, match=r"stopped at its deadline with a partial partition: "
                       r"1 pages asked, 0 stored, 0 failed, 1 never fetched") as caught:  # fmt: skip
        run_crawl(spec, DAY, make_settings(tmp_path), base_url=site.base_url, timeout_seconds=12)
    assert time.monotonic() - started < 12  # its own stop: no kill (which says "killed")
    assert "'demo'" in str(caught.value) and "killed" not in str(caught.value)
