"""Crawls of a tiny localhost site that behaves like a real source: its URLs carry no date.

The same URL answers differently from one day to the next (a switch on the server), so these
tests catch an HTTP cache that serves one date another date's pages, a cached failure, and
links escaped in the wrong encoding. Real components: the server is a real HTTP server, every
crawl is a real Scrapy process (:func:`run_crawl`), on both cache backends (files and Redis).
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy import Request, Spider
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.crawler.http_cache_storage import FilesystemCacheStorage, RedisCacheStorage
from harvest.partitions import Partition
from harvest.scraping import CrawlResult, run_crawl
from harvest.storage.http_cache_entries import DB_NAME, count_entries, purge_partition
from harvest.storage.raw import FileRawStore, RawDocument

D1, D2 = dt.date(2026, 4, 1), dt.date(2026, 4, 2)
ITEMS = (1, 2, 3)
FAST = {
    "AUTOTHROTTLE_ENABLED": False,
    "HARVEST_RETRY_BACKOFF_SECONDS": 0.05,
    "HARVEST_RETRY_BACKOFF_MAX_SECONDS": 0.1,
}


class StableSite:
    """``/items`` lists ``/item/1..3``; an item's price is ``price_base + id``, so the same URL
    changes content when a test changes ``price_base`` (the next day's catalogue).
    ``item_status`` overrides the HTTP status of one item. ``/ort`` is a latin-1 page linking
    ``/suche?stadt=München``, which answers only when the query is escaped in latin-1."""

    def __init__(self) -> None:
        self.price_base = 100
        self.item_status: dict[int, int] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits[self.path] += 1
                status, body, charset = site.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", f"text/html; charset={charset}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str) -> tuple[int, bytes, str]:
        parts = urlsplit(path)
        if parts.path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", "utf-8"
        if parts.path == "/items":
            links = "".join(f'<a class="item" href="/item/{i}">{i}</a>' for i in ITEMS)
            return 200, f"<html><body>{links}</body></html>".encode(), "utf-8"
        if parts.path.startswith("/item/"):
            item = int(parts.path.removeprefix("/item/"))
            status = self.item_status.get(item, 200)
            price = self.price_base + item
            page = f'<html><body><b class="id">{item}</b><i class="price">{price}</i></body></html>'
            return status, page.encode(), "utf-8"
        if parts.path == "/ort":
            page = '<html><body><a class="item" href="/suche?stadt=München">M</a></body></html>'
            return 200, page.encode("latin-1"), "iso-8859-1"
        if parts.path == "/suche" and parts.query == "stadt=M%FCnchen":
            page = '<html><body><b class="id">München</b><i class="price">7</i></body></html>'
            return 200, page.encode("latin-1"), "iso-8859-1"
        return 404, b"<html><body>not found</body></html>", "utf-8"


@pytest.fixture
def site() -> Iterator[StableSite]:
    running = StableSite()
    running.start()
    yield running
    running.stop()


@pytest.fixture(params=["files", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The cache URL of each backend: ``None`` (files under HARVEST_HOME) or a clean Redis."""
    if request.param == "files":
        return None
    return str(request.getfixturevalue("clean_redis"))


def stable_spec(start_path: str = "/items", retries: int = 1) -> SourceSpec:
    return SourceSpec.model_validate(
        {
            "name": "stable",
            "base_url": "http://127.0.0.1:9",
            "start_urls": [f"{{base_url}}{start_path}"],  # no {date}: the same URL every day
            "index": {"detail_links": "a.item"},
            "detail": {
                "key": "item_id",
                "fields": {"item_id": {"css": ".id::text"}, "price": {"css": ".price::text"}},
            },
            "crawl": {"retries": retries, "download_timeout_seconds": 5},
        }
    )


def crawl(site: StableSite, settings: Settings, day: dt.date, **kwargs: Any) -> CrawlResult:
    return run_crawl(
        kwargs.pop("spec", None) or stable_spec(), day, settings, base_url=site.base_url,
        extra_scrapy_settings=FAST, timeout_seconds=60, **kwargs,
    )  # fmt: skip


def details(settings: Settings, day: dt.date) -> dict[str, RawDocument]:
    """The partition's detail documents by URL path."""
    docs = FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition(
        "stable", day
    )
    return {urlsplit(d.url).path: d for d in docs if d.page_type == "detail"}


def prices(settings: Settings, day: dt.date) -> dict[str, str | None]:
    return {path: doc.fields.get("price") for path, doc in details(settings, day).items()}


def cache_entries(settings: Settings, day: dt.date) -> int:
    """Entries of partition (stable, day) in the configured backend."""
    if settings.cache_url:
        import redis

        client = redis.Redis.from_url(settings.cache_url)
        return len(client.keys(f"harvest:httpcache:stable:{day.isoformat()}:*"))
    folder = settings.http_cache_dir / "stable" / day.isoformat()
    return count_entries(folder) if folder.is_dir() else 0


def make_settings(tmp_path: Path, cache_url: str | None) -> Settings:
    env = {"HARVEST_HOME": str(tmp_path / "home")}
    if cache_url:
        env["HARVEST_CACHE_URL"] = cache_url
    return Settings.from_env(env)


def test_each_date_fetches_its_own_pages_and_a_rerun_is_served_by_the_cache(
    site: StableSite, tmp_path: Path, backend: str | None
) -> None:
    settings = make_settings(tmp_path, backend)
    first = crawl(site, settings, D1)
    assert first.failed_pages == 0 and first.cached_responses == 0
    assert prices(settings, D1) == {"/item/1": "101", "/item/2": "102", "/item/3": "103"}

    # The next day the same URLs carry new prices: D2 asks the site, never D1's cache.
    site.price_base = 200
    site.hits.clear()
    second = crawl(site, settings, D2)
    assert second.cached_responses == 0
    assert second.requests_to_site == 5
    assert site.hits["/item/1"] == 1
    assert prices(settings, D2) == {"/item/1": "201", "/item/2": "202", "/item/3": "203"}

    # A re-run of D1 is what the cache is for: D1's own pages, not one request to the site.
    site.hits.clear()
    rerun = crawl(site, settings, D1)
    assert sum(site.hits.values()) == 0, site.hits
    assert rerun.requests_to_site == 0 and rerun.cached_responses == 5
    assert prices(settings, D1) == {"/item/1": "101", "/item/2": "102", "/item/3": "103"}
    # one entry per partition and response: robots.txt, the index, three items
    assert cache_entries(settings, D1) == cache_entries(settings, D2) == 5


def test_a_date_crawled_while_the_site_is_down_records_failures_not_stale_pages(
    site: StableSite, tmp_path: Path, backend: str | None
) -> None:
    settings = make_settings(tmp_path, backend)
    crawl(site, settings, D1)
    site.stop()  # nothing listens on the port any more: connection refused
    down = crawl(site, settings, D2, spec=stable_spec(retries=0))
    assert down.cached_responses == 0
    assert down.failed_pages >= 1
    docs = FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition("stable", D2)
    assert docs and all(d.error and d.status is None for d in docs)
    assert not [d for d in docs if d.fields.get("price")]  # nothing of D1 passed off as D2


def test_a_404_is_never_cached_so_a_rerun_asks_again(
    site: StableSite, tmp_path: Path, backend: str | None
) -> None:
    settings = make_settings(tmp_path, backend)
    site.item_status[2] = 404
    first = crawl(site, settings, D1)
    assert first.failed_pages == 1
    assert details(settings, D1)["/item/2"].status == 404

    site.item_status.clear()  # the page is back
    site.hits.clear()
    rerun = crawl(site, settings, D1)
    assert dict(site.hits) == {"/item/2": 1}  # only the failure is fetched again
    assert rerun.failed_pages == 0
    assert details(settings, D1)["/item/2"].status == 200
    assert prices(settings, D1)["/item/2"] == "102"
    assert cache_entries(settings, D1) == 5  # now that it is a 200, it is kept


def test_links_on_a_latin1_page_are_escaped_in_latin1(site: StableSite, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None)
    result = crawl(site, settings, D1, spec=stable_spec("/ort"))
    assert site.hits["/suche?stadt=M%FCnchen"] == 1, site.hits
    assert "/suche?stadt=M%C3%BCnchen" not in site.hits
    (doc,) = details(settings, D1).values()
    assert (doc.status, doc.error) == (200, None)
    assert doc.fields == {"item_id": "München", "price": "7"}
    assert result.failed_pages == 0


# -- bounded size: purge after load, retention ------------------------------------------------


def _storage(settings: Settings, day: dt.date, **extra: Any) -> tuple[Any, Spider]:
    values = {
        "HARVEST_SOURCE": "stable",
        "HARVEST_PARTITION": Partition("stable", day),
        "HARVEST_CACHE_URL": settings.cache_url,
        "HTTPCACHE_DIR": str(settings.http_cache_dir),
        "HTTPCACHE_EXPIRATION_SECS": settings.http_cache_retention_days * 86400,
        **extra,
    }
    crawler = get_crawler(Spider, values)
    spider = Spider.from_crawler(crawler, name="stable")
    cls = RedisCacheStorage if settings.cache_url else FilesystemCacheStorage
    storage = cls(crawler.settings)
    storage.open_spider(spider)
    return storage, spider


def _store(storage: Any, spider: Spider, url: str, body: bytes = b"<p>x</p>") -> Request:
    request = Request(url)
    response = HtmlResponse(url, body=body, headers={"Content-Type": "text/html"})
    storage.store_response(spider, request, response)
    if hasattr(storage, "flush"):  # the file storage writes in a background thread
        storage.flush()
    return request


def test_purge_partition_removes_that_partition_only(tmp_path: Path, backend: str | None) -> None:
    settings = make_settings(tmp_path, backend)
    urls = [f"http://stable.test/item/{i}" for i in range(20)]
    for day in (D1, D2):
        storage, spider = _storage(settings, day)
        for url in urls:
            _store(storage, spider, url, body=day.isoformat().encode())
        storage.close_spider(spider)
    assert cache_entries(settings, D1) == cache_entries(settings, D2) == 20

    assert purge_partition(settings, "stable", D1) == 20
    assert cache_entries(settings, D1) == 0
    assert purge_partition(settings, "stable", D1) == 0  # nothing left: no error either
    storage, spider = _storage(settings, D1)
    assert storage.retrieve_response(spider, Request(urls[0])) is None
    storage.close_spider(spider)
    storage, spider = _storage(settings, D2)
    cached = storage.retrieve_response(spider, Request(urls[0]))
    assert cached is not None and cached.body == b"2026-04-02"
    storage.close_spider(spider)
    if not backend:
        assert not (settings.http_cache_dir / "stable" / D1.isoformat()).exists()


def test_redis_entries_live_as_long_as_the_retention(tmp_path: Path, clean_redis: str) -> None:
    import redis

    settings = make_settings(tmp_path, clean_redis).with_overrides(http_cache_retention_days=2)
    storage, spider = _storage(settings, D1)
    _store(storage, spider, "http://stable.test/")
    (key,) = redis.Redis.from_url(clean_redis).keys("*")
    assert key.startswith(b"harvest:httpcache:stable:2026-04-01:")
    assert 2 * 86400 - 10 < redis.Redis.from_url(clean_redis).ttl(key) <= 2 * 86400


def test_files_older_than_the_retention_are_not_served_and_go_at_crawl_start(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, None).with_overrides(http_cache_retention_days=3)
    partition = settings.http_cache_dir / "stable" / D1.isoformat()
    storage, spider = _storage(settings, D1)
    old = _store(storage, spider, "http://stable.test/old")
    four_days_ago = time.time() - 4 * 86400
    with sqlite3.connect(partition / DB_NAME) as db:  # stored four days ago
        db.execute("UPDATE entries SET stored_at = ?", (four_days_ago,))
    # Files of the former layouts: a gzip file per response; Scrapy's, seven files per response.
    legacy = [
        settings.http_cache_dir / "stable" / "ab" / "ab12" / "response_body",
        settings.http_cache_dir / "stable" / "2026-03-01" / "0123abcd.gz",
    ]
    for path in legacy:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (four_days_ago, four_days_ago))
    fresh = _store(storage, spider, "http://stable.test/fresh")
    assert storage.retrieve_response(spider, old) is None  # too old: not served, even unswept
    storage.close_spider(spider)

    _storage(settings, D2)[0].close_spider(spider)  # another crawl starts: the sweep
    assert not any(path.exists() for path in legacy)
    assert not (settings.http_cache_dir / "stable" / "ab").exists()
    assert cache_entries(settings, D1) == 2  # the database was written to lately: kept

    storage, spider = _storage(settings, D1)  # the partition's own crawl: its old entries go
    assert cache_entries(settings, D1) == 1
    cached = storage.retrieve_response(spider, fresh)
    assert cached is not None and cached.status == 200 and cached.body == b"<p>x</p>"
    assert cached.headers[b"Content-Type"] == b"text/html"
    storage.close_spider(spider)

    # a partition whose database was not written to for the retention goes whole, SQLite's
    # files with it
    for path in partition.iterdir():
        os.utime(path, (four_days_ago, four_days_ago))
    _storage(settings, D2)[0].close_spider(spider)
    assert not partition.exists()


def test_the_retention_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).http_cache_retention_days == 7
    assert (
        Settings.from_env({"HARVEST_HTTPCACHE_RETENTION_DAYS": "2"}).http_cache_retention_days == 2
    )
    with pytest.raises(ValueError, match=r"HARVEST_HTTPCACHE_RETENTION_DAYS='0'.*at least 1"):
        Settings.from_env({"HARVEST_HTTPCACHE_RETENTION_DAYS": "0"})


def test_a_cache_folder_that_cannot_be_written_leaves_pages_uncached_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, None)
    settings.http_cache_dir.parent.mkdir(parents=True)
    settings.http_cache_dir.write_text("a file where the cache folder should be")
    storage, spider = _storage(settings, D1)
    request = _store(storage, spider, "http://stable.test/a")
    _store(storage, spider, "http://stable.test/b")
    assert storage.retrieve_response(spider, request) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "HTTP cache: cannot write" in warnings[0]


def test_file_entries_stored_are_on_disk_when_the_spider_closes(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, None)
    storage, spider = _storage(settings, D1)
    urls = [f"http://stable.test/queued/{i}" for i in range(300)]  # more than the queue holds
    for url in urls:
        storage.store_response(spider, Request(url), HtmlResponse(url, body=url.encode()))
    storage.close_spider(spider)
    assert cache_entries(settings, D1) == 300  # more than one transaction's worth
    storage, spider = _storage(settings, D1)
    cached = storage.retrieve_response(spider, Request(urls[-1]))
    assert cached is not None and cached.body == urls[-1].encode()
    storage.close_spider(spider)


@pytest.mark.parametrize("reopen", [False, True], ids=["same crawl", "next crawl"])
def test_the_file_storage_round_trips_status_url_headers_and_body(
    tmp_path: Path, reopen: bool
) -> None:
    """The on-disk storage (an SQLite database per partition) gives back what it stored: in
    the crawl that stored it, and in the next crawl of the partition."""
    settings = make_settings(tmp_path, None)
    storage, spider = _storage(settings, D1)
    request = Request("http://demo.test/listing/L-1")
    assert storage.retrieve_response(spider, request) is None
    assert not any(settings.http_cache_dir.rglob("*.*"))  # nothing stored, nothing on disk
    body = "<p>1 200 €</p>".encode() + bytes(range(256))
    response = HtmlResponse(
        "http://demo.test/listing/L-1?final",
        status=203,
        headers={"Content-Type": "text/html; charset=utf-8", "Set-Cookie": ["a=1", "b=ü"]},
        body=body,
        request=request,
    )
    storage.store_response(spider, request, response)
    if reopen:
        storage.close_spider(spider)
        storage, spider = _storage(settings, D1)
    cached = storage.retrieve_response(spider, Request(request.url))
    assert cached is not None and isinstance(cached, HtmlResponse)
    assert (cached.status, cached.url, cached.body) == (203, response.url, body)
    assert cached.headers.getlist("Set-Cookie") == [b"a=1", "b=ü".encode()]  # bytes kept
    # the rendered variant of the same URL is a different entry
    rendered = Request(request.url, meta={"harvest_render": True})
    assert storage.retrieve_response(spider, rendered) is None
    storage.close_spider(spider)
    assert (settings.http_cache_dir / "stable" / D1.isoformat() / DB_NAME).is_file()
