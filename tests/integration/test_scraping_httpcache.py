"""The Redis HTTP cache storage against a real Redis, through Scrapy's cache-storage interface."""

from __future__ import annotations

import datetime as dt

import pytest
from scrapy import Request, Spider
from scrapy.extensions.httpcache import DummyPolicy
from scrapy.http import HtmlResponse
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.test import get_crawler

from harvest.crawler.http_cache_storage import HarvestCachePolicy, RedisCacheStorage
from harvest.partitions import Partition

pytestmark = pytest.mark.redis


def _storage(redis_url: str, **extra: object) -> tuple[RedisCacheStorage, Spider]:
    values = {
        "HARVEST_CACHE_URL": redis_url,
        "HARVEST_SOURCE": "demo",
        "HARVEST_PARTITION": Partition("demo", dt.date(2026, 3, 1)),
        **extra,
    }
    crawler = get_crawler(Spider, values)
    spider = Spider.from_crawler(crawler, name="demo")
    storage = RedisCacheStorage(crawler.settings)
    storage.open_spider(spider)
    return storage, spider


def test_round_trip_with_status_url_headers_and_body(clean_redis: str) -> None:
    import redis

    storage, spider = _storage(clean_redis, HTTPCACHE_EXPIRATION_SECS=3600)
    request = Request("http://demo.test/listing/L-1")
    assert storage.retrieve_response(spider, request) is None
    response = HtmlResponse(
        request.url,
        status=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Set-Cookie": ["a=1", "b=2"]},
        body="<p>1 200 €</p>".encode(),
        request=request,
    )
    storage.store_response(spider, request, response)
    cached = storage.retrieve_response(spider, Request(request.url))
    assert cached is not None
    assert isinstance(cached, HtmlResponse)
    assert (cached.status, cached.url, cached.body) == (200, request.url, response.body)
    assert cached.headers.getlist("Set-Cookie") == [b"a=1", b"b=2"]
    assert cached.text == "<p>1 200 €</p>"

    client = redis.Redis.from_url(clean_redis)
    (key,) = client.keys("harvest:httpcache:demo:*")
    assert 3590 < client.ttl(key) <= 3600
    # the rendered variant of the same URL is a different entry
    assert (
        storage.retrieve_response(spider, Request(request.url, meta={"harvest_render": True}))
        is None
    )
    storage.close_spider(spider)


def test_zero_expiration_still_expires_after_the_default_week(clean_redis: str) -> None:
    import redis

    storage, spider = _storage(clean_redis, HTTPCACHE_EXPIRATION_SECS=0)
    request = Request("http://demo.test/")
    storage.store_response(spider, request, HtmlResponse(request.url, body=b"x"))
    (key,) = redis.Redis.from_url(clean_redis).keys("*")
    assert redis.Redis.from_url(clean_redis).ttl(key) > 6 * 24 * 3600


def test_policies_never_store_failures_or_truncated_bodies() -> None:
    settings = ScrapySettings({"HTTPCACHE_IGNORE_HTTP_CODES": [503]})
    request = Request("http://demo.test/")
    ok = HtmlResponse(request.url, body=b"x")
    lost = HtmlResponse(request.url, body=b"x", flags=["dataloss"])
    failed = HtmlResponse(request.url, status=503, body=b"x")
    policy = HarvestCachePolicy(settings)
    assert policy.should_cache_response(ok, request)
    assert not policy.should_cache_response(lost, request)
    assert not policy.should_cache_response(failed, request)
    assert not DummyPolicy(settings).should_cache_response(failed, request)
    # only 2xx: a 404 or a redirect is asked again by the next run, whatever the ignore list says
    for status in (404, 410, 301, 304):
        response = HtmlResponse(request.url, status=status, body=b"x")
        assert not policy.should_cache_response(response, request), status
    assert policy.should_cache_response(HtmlResponse(request.url, status=203, body=b"x"), request)


def test_a_storage_without_the_partition_date_is_refused(clean_redis: str) -> None:
    crawler = get_crawler(Spider, {"HARVEST_CACHE_URL": clean_redis, "HARVEST_SOURCE": "demo"})
    with pytest.raises(ValueError, match="RedisCacheStorage needs HARVEST_PARTITION"):
        RedisCacheStorage(crawler.settings)


def test_read_ahead_serves_each_entry_once_and_reads_the_missing_as_missing(
    clean_redis: str,
) -> None:
    """The replay's read-ahead: the entries of the queued pages in one round trip, each served
    once from memory (here after Redis lost them, so only the read-ahead can serve them), a page
    not cached read as not cached, and a page not read ahead asked of Redis as before."""
    import redis

    storage, spider = _storage(clean_redis, HTTPCACHE_EXPIRATION_SECS=3600)
    urls = [f"http://demo.test/listing/L-{n}" for n in range(3)]
    for url in urls:
        body = f"<p>{url}</p>".encode()
        storage.store_response(spider, Request(url), HtmlResponse(url, body=body))
    missing = Request("http://demo.test/listing/L-9")
    storage.read_ahead(spider, [Request(url) for url in urls[:2]] + [missing])
    redis.Redis.from_url(clean_redis).flushdb()
    for url in urls[:2]:
        cached = storage.retrieve_response(spider, Request(url))
        assert cached is not None and cached.body == f"<p>{url}</p>".encode()
        assert storage.retrieve_response(spider, Request(url)) is None  # taken once
    assert storage.retrieve_response(spider, missing) is None
    assert storage.retrieve_response(spider, Request(urls[2])) is None  # not read ahead
    storage.close_spider(spider)
