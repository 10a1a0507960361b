"""The scraping pieces one at a time: settings, the spider on hand-made pages, the pipeline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.crawler.crawl import crawl_failed
from harvest.crawler.items import PageItem
from harvest.crawler.middlewares import PLAIN_META, RENDER_META, BackoffRetryMiddleware
from harvest.crawler.pipelines import RawStorePipeline, to_raw_document
from harvest.crawler.settings import build_scrapy_settings
from harvest.crawler.spiders import (
    GenericSpider,
    HarvestSpider,
    SpiderLoadError,
    load_spider_class,
)
from harvest.crawler.spiders.base import PAGE_TYPE_META, URL_META
from harvest.partitions import Partition
from harvest.scraping.checks import check_crawl
from harvest.scraping.runner import CrawlError, CrawlResult, settings_env
from harvest.storage.raw import FileRawStore, content_hash
from harvest.storage.raw_mongo import MongoRawStore

SPEC_PATH = Path(__file__).resolve().parents[2] / "include/harvest/sources/demo.yaml"
DAY = dt.date(2026, 3, 1)
BASE = "http://demo.test"

INDEX_HTML = """<html><body>
<ul><li><a class="listing-link" href="/listing/L-1">One</a></li>
<li><a class="listing-link" href="/listing/L-2">Two</a></li>
<li><a class="listing-link" href="/listing/L-1">One again</a></li></ul>
<nav><a rel="next" href="/listings/2026-03-01?page=2">Next</a></nav>
<footer><a href="/private/report?day=2026-03-01">staff report</a></footer>
</body></html>"""

DETAIL_HTML = """<html><body><article>
<h1 data-field="title">  Bright   flat
 in Mitte </h1>
<dl><dd data-field="listing_id">L-1</dd><dd data-field="price">1 200 €</dd>
<dd data-field="area"></dd><dd data-field="city">Berlin</dd></dl>
</article></body></html>"""

JS_HTML = """<html><body data-render="js"><dd data-field="listing_id">L-2</dd>
<dd data-field="price" id="field-price"></dd></body></html>"""


class TinySpider(HarvestSpider):
    """A hand-written spider for the registry test."""


class NotASpider:
    pass


@pytest.fixture
def spec() -> Any:
    return load_spec(SPEC_PATH)


@pytest.fixture
def spider(spec: Any) -> GenericSpider:
    crawler = get_crawler(GenericSpider, {"HARVEST_SOURCE": "demo"})
    return GenericSpider.from_crawler(crawler, spec=spec, logical_date=DAY, base_url=BASE)


def page(url: str, body: str, **meta: Any) -> HtmlResponse:
    request = Request(url, meta=meta)
    return HtmlResponse(url, body=body.encode(), encoding="utf-8", request=request)


# -- settings -------------------------------------------------------------------------------


def test_scrapy_settings_are_polite_and_come_from_spec_and_settings(
    spec: Any, tmp_path: Path
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    values = build_scrapy_settings(spec, settings, DAY)
    assert values["ROBOTSTXT_OBEY"] is True
    assert values["AUTOTHROTTLE_ENABLED"] is True
    assert values["CONCURRENT_REQUESTS_PER_DOMAIN"] == spec.crawl.concurrency_per_domain
    assert values["RETRY_TIMES"] == spec.crawl.retries == 3
    assert 503 in values["RETRY_HTTP_CODES"] and 500 in values["RETRY_HTTP_CODES"]
    assert values["DOWNLOAD_TIMEOUT"] == 20
    assert values["USER_AGENT"] == settings.user_agent
    assert values["TELNETCONSOLE_ENABLED"] is False
    assert values["LOG_LEVEL"] == "INFO"
    assert values["TWISTED_REACTOR"].endswith("AsyncioSelectorReactor")
    assert values["HTTPCACHE_ENABLED"] is True
    assert set(range(500, 600)) <= set(values["HTTPCACHE_IGNORE_HTTP_CODES"])
    assert values["HTTPCACHE_STORAGE"].endswith("FilesystemCacheStorage")
    assert values["HTTPCACHE_DIR"] == str(tmp_path / "httpcache")
    assert values["HARVEST_LOGICAL_DATE"] == "2026-03-01"
    assert values["HARVEST_PARTITION"] == Partition("demo", DAY)
    assert values["HARVEST_RAW_STORE_URL"] == f"file://{tmp_path / 'raw'}"
    mws = values["DOWNLOADER_MIDDLEWARES"]
    assert mws["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert mws["harvest.crawler.middlewares.BackoffRetryMiddleware"] == 550


def test_redis_cache_url_selects_the_redis_storage_and_extra_overrides(
    spec: Any, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": "redis://cache:6379/2"}
    )
    values = build_scrapy_settings(spec, settings, DAY, {"RETRY_TIMES": 0})
    assert values["HTTPCACHE_STORAGE"] == "harvest.crawler.http_cache_storage.RedisCacheStorage"
    assert values["HARVEST_CACHE_URL"] == "redis://cache:6379/2"
    assert values["RETRY_TIMES"] == 0


def test_an_unsupported_cache_url_is_refused_with_what_to_do(spec: Any, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": "memcached://x"}
    )
    with pytest.raises(ValueError, match=r"source demo: cache URL 'memcached://x'.*redis://"):
        build_scrapy_settings(spec, settings, DAY)


def test_retry_backoff_doubles_up_to_its_cap() -> None:
    crawler = get_crawler(
        settings_dict={
            "HARVEST_RETRY_BACKOFF_SECONDS": 0.5,
            "HARVEST_RETRY_BACKOFF_MAX_SECONDS": 3,
        }
    )
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    assert [middleware.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]


# -- the spider ----------------------------------------------------------------------------


def test_start_requests_are_the_partitions_index_pages(spider: GenericSpider) -> None:
    import asyncio

    async def collect() -> list[Any]:
        return [request async for request in spider.start()]

    (request,) = asyncio.run(collect())
    assert request.url == f"{BASE}/listings/2026-03-01"
    assert request.meta[PAGE_TYPE_META] == "index"
    assert spider.name == "demo"
    assert spider.allowed_domains == ["demo.test"]


def test_index_page_yields_its_item_detail_links_and_next_page(spider: GenericSpider) -> None:
    out = list(spider.parse(page(f"{BASE}/listings/2026-03-01", INDEX_HTML)))
    item, *requests = out
    assert isinstance(item, PageItem)
    assert (item.page_type, item.fields, item.status) == ("index", {}, 200)
    assert [(r.url, r.meta[PAGE_TYPE_META]) for r in requests] == [
        (f"{BASE}/listing/L-1", "detail"),
        (f"{BASE}/listing/L-2", "detail"),
        (f"{BASE}/listings/2026-03-01?page=2", "index"),
    ]  # the duplicate link once, and never /private/
    assert all(r.errback == spider.errback for r in requests)


def test_detail_page_fields_are_first_matches_whitespace_normalised(
    spider: GenericSpider,
) -> None:
    url = f"{BASE}/listing/L-1"
    (item,) = spider.parse_detail(page(url, DETAIL_HTML, **{URL_META: url}))
    assert item.page_type == "detail"
    assert item.fields["title"] == "Bright flat in Mitte"
    assert item.fields["price"] == "1 200 €"
    assert item.fields["area"] is None  # empty element
    assert item.fields["rooms"] is None  # absent element
    assert set(item.fields) == set(spider.spec.detail.fields)
    assert item.rendered_with == "http" and item.error is None
    assert item.body == DETAIL_HTML


def test_a_javascript_page_is_sent_to_chromium_with_its_plain_html(
    spider: GenericSpider,
) -> None:
    url = f"{BASE}/listing/L-2"
    plain = page(url, JS_HTML, **{URL_META: url, PAGE_TYPE_META: "detail"})
    (request,) = spider.parse_detail(plain)
    assert isinstance(request, Request)
    assert request.url == url and request.dont_filter
    assert request.meta[RENDER_META] is True
    assert request.meta[PLAIN_META] is plain
    # once rendered (the flag is set), the page is recorded, not re-requested
    rendered = page(url, JS_HTML, **request.meta)
    (item,) = spider.parse_detail(rendered)
    assert isinstance(item, PageItem) and item.fields["listing_id"] == "L-2"


def test_max_pages_stops_scheduling(spec: Any) -> None:
    limited = spec.model_copy(update={"crawl": spec.crawl.model_copy(update={"max_pages": 2})})
    crawler = get_crawler(GenericSpider)
    spider = GenericSpider.from_crawler(crawler, spec=limited, logical_date=DAY, base_url=BASE)
    assert spider.page_request(f"{BASE}/a", "index", spider.parse) is not None
    assert spider.page_request(f"{BASE}/a", "index", spider.parse) is None  # seen
    assert spider.page_request(f"{BASE}/b", "detail", spider.parse_detail) is not None
    assert spider.page_request(f"{BASE}/c", "detail", spider.parse_detail) is None


def test_a_finally_failed_request_becomes_an_item_with_status_and_error(
    spider: GenericSpider,
) -> None:
    url = f"{BASE}/listing/L-9"
    request = Request(url, meta={URL_META: url, PAGE_TYPE_META: "detail", "retry_times": 3})
    response = HtmlResponse(url, status=503, body=b"<p>busy</p>", request=request)
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = request  # type: ignore[attr-defined]
    (item,) = spider.errback(failure)
    assert (item.url, item.status, item.page_type) == (url, 503, "detail")
    assert item.error == "HTTP 503 (after 3 retries)"

    timeout = Failure(TimeoutError("took longer than 20.0 seconds"))
    timeout.request = Request(url, meta={URL_META: url})  # type: ignore[attr-defined]
    (item,) = spider.errback(timeout)
    assert item.status is None and item.error == "TimeoutError: took longer than 20.0 seconds"

    robots = Failure(IgnoreRequest("Forbidden by robots.txt"))
    robots.request = Request(f"{BASE}/private/x")  # type: ignore[attr-defined]
    assert list(spider.errback(robots)) == []  # not fetched on purpose: not a failed page


def test_the_crawl_child_reads_the_partition_once_with_its_interval(spec: Any) -> None:
    """``--date`` and the data interval are parsed once by the child (an edge) into the
    Partition its spider starts from: a weekly run asks for its week."""
    from harvest.crawler.crawl import parse_args

    args = parse_args(
        ["--spec", "s.yaml", "--date", "2026-03-02", "--interval-start",
         "2026-03-02T00:00:00+00:00", "--interval-end", "2026-03-09T00:00:00+00:00"]
    )  # fmt: skip
    assert args.date == dt.date(2026, 3, 2)
    week = Partition("demo", args.date, args.interval_start, args.interval_end)
    weekly = spec.model_copy(update={"start_urls": ["{base_url}/listings?from={start}&to={end}"]})
    crawler = get_crawler(GenericSpider, {"HARVEST_SOURCE": "demo"})
    spider = GenericSpider.from_crawler(crawler, spec=weekly, logical_date=week, base_url=BASE)
    assert spider.partition is week and spider.logical_date == dt.date(2026, 3, 2)
    assert spider.start_urls_for_partition() == [f"{BASE}/listings?from=2026-03-02&to=2026-03-09"]
    with pytest.raises(SystemExit):
        parse_args(["--spec", "s.yaml", "--date", "02.03.2026"])


# -- the spider registry ----------------------------------------------------------------------


def test_spider_registry(spec: Any) -> None:
    assert load_spider_class(spec) is GenericSpider
    custom = spec.model_copy(update={"spider": f"{__name__}.TinySpider"})
    assert load_spider_class(custom) is TinySpider
    spider = TinySpider.from_crawler(
        get_crawler(TinySpider), spec=spec, logical_date=DAY, base_url=BASE
    )
    assert spider.name == "demo" and spider.logical_date == DAY


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("NoDots", "not a dotted path"),
        ("harvest.no_such_module.Spider", "cannot import 'harvest.no_such_module'"),
        (f"{__name__}.Missing", "has no 'Missing'"),
        (f"{__name__}.NotASpider", "must be a subclass of"),
    ],
)
def test_spider_registry_errors_name_the_source(spec: Any, path: str, message: str) -> None:
    with pytest.raises(SpiderLoadError, match=f"source demo: spider '{path}'.*{message}"):
        load_spider_class(spec.model_copy(update={"spider": path}))


# -- the pipeline ---------------------------------------------------------------------------


def item(url: str, **changes: Any) -> PageItem:
    values: dict[str, Any] = {
        "url": url,
        "status": 200,
        "page_type": "detail",
        "fetched_at": "2026-03-02T02:00:01+00:00",
        "fields": {"price": "1 200 €"},
        "body": "<html>x</html>",
    }
    values.update(changes)
    return PageItem(**values)


def test_to_raw_document_keeps_the_partition_and_the_real_fetch_time() -> None:
    doc = to_raw_document(item(f"{BASE}/listing/L-1"), Partition("demo", DAY))
    assert doc.logical_date == "2026-03-01"  # the partition, not the fetch day
    assert doc.fetched_at == "2026-03-02T02:00:01+00:00"
    assert doc.content_hash == content_hash("<html>x</html>")
    failed = to_raw_document(
        item(f"{BASE}/x", status=503, body=None, error="HTTP 503"), Partition("demo", DAY)
    )
    assert failed.content_hash is None and failed.error == "HTTP 503"


def _close(pipeline: RawStorePipeline, reason: str = "finished") -> None:
    """What Scrapy does at the end of a crawl: the pipeline's close_spider, then the signal."""
    pipeline.close_spider()
    assert pipeline.crawler is not None
    pipeline.crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason=reason)


def _pipeline(url: str, batch_size: int) -> RawStorePipeline:
    crawler = get_crawler(
        settings_dict={
            "HARVEST_RAW_STORE_URL": url,
            "HARVEST_PARTITION": Partition("demo", DAY),
            "HARVEST_PIPELINE_BATCH_SIZE": batch_size,
        }
    )
    return RawStorePipeline.from_crawler(crawler)


def test_pipeline_batches_into_the_file_store_and_flushes_on_close(tmp_path: Path) -> None:
    pipeline = _pipeline(f"file://{tmp_path}", batch_size=2)
    store = FileRawStore(tmp_path)
    pipeline.open_spider()
    pipeline.process_item(item(f"{BASE}/1"))
    assert pipeline.written == 1  # the first page at once (a crawl killed early keeps it)...
    pipeline.process_item(item(f"{BASE}/2"))
    assert pipeline.written == 1
    pipeline.process_item(item(f"{BASE}/3"))
    assert pipeline.written == 3  # ...then a batch at the batch size...
    assert store.count("demo", DAY) == 0  # ...which writes the partition once, at close
    pipeline.process_item(item(f"{BASE}/1", fields={"price": "999 €"}))  # re-fetched page
    _close(pipeline)
    docs = store.read_partition("demo", DAY)
    assert [d.url for d in docs] == [f"{BASE}/1", f"{BASE}/2", f"{BASE}/3"]
    assert docs[0].fields == {"price": "999 €"}  # upserted, not duplicated


@pytest.mark.mongo
def test_pipeline_writes_the_mongo_store(
    mongo_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, database = mongo_client
    store = MongoRawStore(client, database=database)
    monkeypatch.setattr(
        "harvest.crawler.pipelines.open_raw_store", lambda url, deferred=False: store
    )
    pipeline = _pipeline(f"mongodb://localhost/{database}", batch_size=10)
    monkeypatch.setattr(store, "close", lambda: None)  # the fixture owns the client
    pipeline.open_spider()
    for n in range(3):
        pipeline.process_item(item(f"{BASE}/{n}"))
    pipeline.process_item(item(f"{BASE}/0", status=503, body=None, error="HTTP 503"))
    _close(pipeline)
    docs = store.read_partition("demo", DAY)
    assert [(d.url, d.status) for d in docs] == [
        (f"{BASE}/0", 503),
        (f"{BASE}/1", 200),
        (f"{BASE}/2", 200),
    ]
    assert store.count("demo", DAY) == 3


@pytest.mark.parametrize("store_kind", ["file", "mongo"])
def test_a_completed_crawl_replaces_the_partition_and_an_interrupted_one_leaves_it(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store_kind == "file":
        url = f"file://{tmp_path}"
        reader: Any = FileRawStore(tmp_path)
    else:
        client, database = request.getfixturevalue("mongo_client")
        url = f"mongodb://localhost/{database}"
        reader = MongoRawStore(client, database=database)

        def open_store(url: str, deferred: bool = False) -> MongoRawStore:
            store = MongoRawStore(client, database=database)
            monkeypatch.setattr(store, "close", lambda: None)  # the fixture owns the client
            return store

        monkeypatch.setattr("harvest.crawler.pipelines.open_raw_store", open_store)

    def crawl(paths: list[str], reason: str) -> None:
        pipeline = _pipeline(url, batch_size=1)
        pipeline.open_spider()
        for path in paths:
            pipeline.process_item(item(f"{BASE}/{path}"))
        _close(pipeline, reason)

    crawl(["a1", "a2"], "finished")
    crawl(["b1"], "shutdown")  # SIGTERM: the previous partition's pages stay
    assert {f"{BASE}/a1", f"{BASE}/a2"} <= {d.url for d in reader.read_partition("demo", DAY)}
    crawl(["b1", "b2"], "finished")
    assert [d.url for d in reader.read_partition("demo", DAY)] == [f"{BASE}/b1", f"{BASE}/b2"]
    crawl(["c1"], "closespider_timeout")  # stopped at its deadline: a partial partition
    assert [d.url for d in reader.read_partition("demo", DAY)] == [f"{BASE}/c1"]


def test_pipeline_needs_its_settings() -> None:
    with pytest.raises(ValueError, match="HARVEST_RAW_STORE_URL"):
        RawStorePipeline("", Partition("demo", DAY))


# -- the runner -------------------------------------------------------------------------------


def test_crawl_result_from_stats_is_json_serialisable() -> None:
    stats = {
        "harvest/pages_ok": 60,
        "harvest/failed_pages": 3,
        "item_scraped_count": 63,
        "downloader/response_bytes": 1234,
        "downloader/request_count": 80,
        "httpcache/hit": 30,
        "harvest/js_pages": 6,
        "harvest/js_unavailable": 0,
        "harvest/browser_restarts": 1,
    }
    result = CrawlResult.from_stats(
        stats, source="demo", logical_date=DAY, documents=63, raw_uri="file:///r",
        duration_seconds=1.23456, exit_code=0,
    )  # fmt: skip
    data = json.loads(json.dumps(result.to_dict()))
    assert data["pages"] == 63 and data["failed_pages"] == 3 and data["items"] == 63
    assert data["cached_responses"] == 30 and data["requests_to_site"] == 50
    assert data["logical_date"] == "2026-03-01" and data["duration_seconds"] == 1.235
    assert data["browser_restarts"] == 1


def test_a_crawl_stopped_at_its_deadline_is_partial_with_its_counts() -> None:
    stats = {
        "harvest/pages_asked": 100,
        "harvest/pages_ok": 40,
        "harvest/failed_pages": 5,
        "harvest/ignored_requests": 2,
        "finish_reason": "closespider_timeout",
    }
    result = CrawlResult.from_stats(
        stats, source="demo", logical_date=DAY, documents=45, raw_uri="file:///r",
        duration_seconds=1.0, exit_code=0,
    )  # fmt: skip
    assert result.partial and result.finish_reason == "closespider_timeout"
    assert (result.pages_asked, result.pages, result.ignored_pages) == (100, 45, 2)
    assert result.unfinished_pages == 53  # asked = stored + failed + ignored + never fetched
    assert crawl_failed(stats) is None  # a deadline stop is not a broken crawl
    assert (
        crawl_failed({**stats, "finish_reason": "shutdown"}) == "the crawl stopped early (shutdown)"
    )


def test_a_crawl_that_hit_its_page_budget_reports_it_and_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = load_spec(SPEC_PATH)
    spec = spec.model_copy(update={"crawl": spec.crawl.model_copy(update={"max_pages": 50})})
    stats = {
        "harvest/pages_ok": 50,
        "harvest/item_pages": 45,
        "harvest/max_pages_skipped": 7,
        "finish_reason": "finished",
    }
    result = CrawlResult.from_stats(
        stats, source="demo", logical_date=DAY, documents=50, raw_uri="file:///r",
        duration_seconds=1.0, exit_code=0,
    )  # fmt: skip
    assert (result.max_pages_skipped, result.depth_limit_skipped) == (7, 0)
    warnings = check_crawl(spec, Partition("demo", DAY), result.to_dict())
    assert warnings == [
        "crawl of source 'demo' for 2026-03-01 hit its page budget (crawl.max_pages=50): 7 links "
        "not followed; the partition may miss pages (raise crawl.max_pages if the site is larger)"
    ]
    assert warnings[0] in caplog.text
    deep = CrawlResult.from_stats(
        {**stats, "harvest/max_pages_skipped": 0, "harvest/depth_limit_skipped": 3},
        source="demo", logical_date=DAY, documents=50, raw_uri="file:///r",
        duration_seconds=1.0, exit_code=0,
    )  # fmt: skip
    assert deep.depth_limit_skipped == 3
    assert check_crawl(spec, Partition("demo", DAY), deep.to_dict())[0].endswith(
        ": 3 links not followed; the partition may miss pages"
    )
    quiet = {**stats, "harvest/max_pages_skipped": 0}
    assert check_crawl(spec, Partition("demo", DAY), CrawlResult.from_stats(
        quiet, source="demo", logical_date=DAY, documents=50, raw_uri="file:///r",
        duration_seconds=1.0, exit_code=0,
    ).to_dict()) == []  # fmt: skip


def test_crawl_error_names_source_date_exit_code_and_last_lines() -> None:
    error = CrawlError("demo", DAY, 1, ["first line", "boom"], "failed")
    assert str(error).startswith("crawl of source 'demo' for 2026-03-01 failed (exit code 1)")
    assert "    boom" in str(error)


def test_settings_travel_to_the_child_through_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": "redis://c:6379/1"}
    )
    assert Settings.from_env(settings_env(settings)) == settings
    without_cache = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    assert Settings.from_env(settings_env(without_cache)) == without_cache
    assert without_cache.cache_url is None


def test_importing_the_scraping_code_installs_no_reactor() -> None:
    """crawl.py picks the asyncio reactor; an import that installed another would break it."""
    import subprocess
    import sys

    code = (
        "import sys, harvest.crawler.spiders, harvest.crawler.pipelines, "
        "harvest.crawler.http_cache_storage, harvest.crawler.settings, harvest.scraping.runner; "
        "assert 'twisted.internet.reactor' not in sys.modules"
    )
    include = str(Path(__file__).resolve().parents[2] / "include")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": include})


def test_urls_are_stored_under_the_specs_base_url() -> None:
    from harvest.crawler.pipelines import canonical_url

    here, canon = "http://127.0.0.1:40123", "http://127.0.0.1:8000"
    assert canonical_url(f"{here}/listing/L-1", here, canon) == f"{canon}/listing/L-1"
    assert canonical_url(f"{here}?page=2", here, canon) == f"{canon}?page=2"
    assert canonical_url(f"{here}0/x", here, canon) == f"{here}0/x"  # another port: untouched
    assert canonical_url("http://elsewhere/x", here, canon) == "http://elsewhere/x"
    assert canonical_url(f"{canon}/x", canon, canon) == f"{canon}/x"
