"""Politeness and limits, piece by piece: Retry-After parsing, URL canonicalisation, defaults.

The behaviour against a live site is measured in ``tests/integration/test_polite_crawl.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from scrapy.http import Response

from harvest.config.settings import Settings
from harvest.config.spec import CrawlSpec, load_spec
from harvest.crawler.limits import canonical_url, canonical_url_for
from harvest.crawler.settings import build_scrapy_settings
from harvest.crawler.throttle import retry_after_seconds

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
DEMO = Path(__file__).resolve().parents[2] / "include/harvest/sources/demo.yaml"


def answer(retry_after: str | None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Response("http://site.test/p", status=503, headers=headers)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # a date in the past: retry now
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # RFC 9110: delay-seconds is a whole number
    ],
)
def test_retry_after_in_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(answer(header), now=NOW) == seconds


def test_canonical_urls_drop_session_ids_and_fragments_and_sort_the_query() -> None:
    drop = CrawlSpec().drop_url_parameters
    assert canonical_url("http://h/a?b=2&a=1#top", drop) == "http://h/a?a=1&b=2"
    assert canonical_url("http://h/a?SID=9&page=2&PHPSESSID=x", drop) == "http://h/a?page=2"
    assert canonical_url("http://h/a;jsessionid=9/b?x=1", drop) == "http://h/a/b?x=1"
    assert canonical_url("http://h/a;v=1", drop) == "http://h/a;v=1"  # other ;params stay
    assert canonical_url("http://h/#/route", drop, keep_fragment=True) == "http://h/#/route"
    # nothing named: only the order and the fragment change
    assert canonical_url("http://h/a?sid=1&a=2#x") == "http://h/a?a=2&sid=1"
    kept = CrawlSpec(drop_url_parameters=[], keep_url_fragments=True)
    assert canonical_url_for("http://h/a?sid=1#x", kept) == "http://h/a?sid=1#x"


def test_the_default_crawl_is_polite_and_a_spec_can_lower_it(tmp_path: Path) -> None:
    polite = CrawlSpec()
    assert polite.concurrency_per_domain <= 2 and polite.download_delay_seconds >= 1
    assert polite.max_pages is not None and polite.max_depth is not None
    assert polite.download_maxsize_bytes <= 8 * 1024 * 1024
    demo = load_spec(DEMO)  # our own site, crawled fast on purpose
    assert demo.crawl.download_delay_seconds == 0 and demo.crawl.concurrency_per_domain == 8
    default_spec = demo.model_copy(update={"crawl": polite})
    values = build_scrapy_settings(
        default_spec, Settings.from_env({"HARVEST_HOME": str(tmp_path)}), NOW.date()
    )
    assert values["DOWNLOAD_DELAY"] == 1.0 and values["CONCURRENT_REQUESTS_PER_DOMAIN"] == 2
    assert values["DOWNLOAD_DELAY_JITTER"] == 0  # a minimum, never 0.5x of it
    assert values["DOWNLOAD_MAXSIZE"] == polite.download_maxsize_bytes
    assert values["DOWNLOAD_WARNSIZE"] == polite.download_warnsize_bytes
    assert values["DEPTH_LIMIT"] == polite.max_depth
    assert values["HARVEST_MAX_CRAWL_DELAY_SECONDS"] == polite.max_crawl_delay_seconds
    assert values["HARVEST_MAX_RETRY_AFTER_SECONDS"] == polite.max_retry_after_seconds
    middlewares = values["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    assert middlewares["harvest.crawler.robots.RobotsTxtMiddleware"] == 100
    assert values["EXTENSIONS"]["scrapy.extensions.throttle.AutoThrottle"] is None
