"""Page-outcome checks on hand-made responses: broken bodies, and the deadline arithmetic."""

from __future__ import annotations

import gzip
import zlib

import pytest
from scrapy.http import HtmlResponse, Request

from harvest.crawler.crawl import stop_times
from harvest.crawler.outcomes import PageFailed, incomplete_body, redirect_chain

URL = "http://demo.test/listing/L-1"
PAGE = b"<html><body>" + b"<p>listing</p>" * 500 + b"</body></html>"


def response(
    body: bytes, encoding: str | None = None, flags: list[str] | None = None
) -> HtmlResponse:
    headers = {"Content-Encoding": encoding} if encoding else {}
    return HtmlResponse(URL, body=body, headers=headers, flags=flags or [])


def test_complete_bodies_pass() -> None:
    assert incomplete_body(response(PAGE)) is None
    assert incomplete_body(response(gzip.compress(PAGE), "gzip")) is None
    assert incomplete_body(response(zlib.compress(PAGE), "deflate")) is None
    raw = zlib.compressobj(wbits=-15)
    assert incomplete_body(response(raw.compress(PAGE) + raw.flush(), "deflate")) is None


@pytest.mark.parametrize(
    ("resp", "reason"),
    [
        (response(gzip.compress(PAGE)[:40], "gzip"), "truncated body: the gzip stream ends early"),
        (response(zlib.compress(PAGE)[:40], "deflate"), "truncated body: the deflate stream ends early"),
        (response(b"not gzip at all", "gzip"), "corrupt gzip body: "),
        (response(b""), "empty body (HTTP 200)"),
        (response(PAGE, flags=["dataloss"]), "truncated body: fewer bytes than Content-Length"),
    ],
)  # fmt: skip
def test_broken_bodies_say_why(resp: HtmlResponse, reason: str) -> None:
    problem = incomplete_body(resp)
    assert problem is not None and problem.startswith(reason)


def test_a_failure_of_a_fetched_page_carries_its_chain() -> None:
    request = Request(URL, meta={"redirect_urls": ["http://demo.test/old"]})
    failed = PageFailed.of("a login/blocked page: x", request, response(PAGE))
    assert failed.status == 200 and failed.final_url == URL
    assert failed.redirect_chain == ["http://demo.test/old", URL]
    assert redirect_chain(Request(URL), URL) == [URL]


def test_the_crawl_stops_early_enough_to_write_its_pages_before_the_deadline() -> None:
    # one hour left, 30 s download timeout: downloads cut 10 s before (close, commit, exit),
    # the spider closed 30 s before that (in-flight pages may finish)
    assert stop_times(deadline=3600.0, download_timeout=30.0, now=0.0) == (3560.0, 3590.0)
    # 20 s left: a quarter of it to close, a quarter of the rest for in-flight pages
    assert stop_times(deadline=20.0, download_timeout=30.0, now=0.0) == (11.25, 15.0)
    # already too late: stop and cut now
    assert stop_times(deadline=0.5, download_timeout=30.0, now=1.0) == (1.0, 1.0)
