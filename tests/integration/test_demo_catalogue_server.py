"""The catalogue over real HTTP: a three-level crawl on two days against the ground truth,
latin-1 links as Scrapy follows them, robots.txt, the sitemap, and moving the site's day."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
import urllib.robotparser
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin

import pytest
from parsel import Selector
from scrapy.http import HtmlResponse
from scrapy.utils.sitemap import Sitemap
from w3lib.url import safe_url_string

from harvest_demo import (
    CatalogueConfig,
    DemoSite,
    SiteConfig,
    catalogue_changes,
    catalogue_truth,
)
from tests.unit.test_demo_catalogue import page_text, parse_cards, parse_product

DAY = dt.date(2026, 11, 26)
NEXT_DAY = DAY + dt.timedelta(days=1)
CONFIG = CatalogueConfig(seed=5, products=150)


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of a GET (or a POST of ``data``)."""
    request = urllib.request.Request(url, data=data)  # noqa: S310 (local server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def follow(page_url: str, href: str, content_type: str) -> str:
    """The absolute URL of a link, escaped in the linking page's encoding (as Scrapy does)."""
    encoding = content_type.partition("charset=")[2] or "utf-8"
    return safe_url_string(urljoin(page_url, href), encoding=encoding)


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=DAY) as running:
        yield running


def crawl(base_url: str) -> dict[str, dict[str, Any]]:
    """Home -> category lists (following ``li.next a``) -> product pages: one record per
    product, the card's fields merged with its page's."""
    home_url = base_url + "/catalogue/"
    status, body, content_type = fetch(home_url)
    assert status == 200
    queue = [
        follow(home_url, href, content_type)
        for href in Selector(text=page_text(body, content_type))
        .css("ul.categories a::attr(href)")
        .getall()
    ]
    cards: list[dict[str, Any]] = []
    while queue:
        url = queue.pop()
        status, body, content_type = fetch(url)
        assert status == 200, url
        text = page_text(body, content_type)
        cards += parse_cards(text, url)
        next_href = Selector(text=text).css("li.next a::attr(href)").get()
        if next_href:
            queue.append(follow(url, next_href, content_type))

    def product(card: dict[str, Any]) -> dict[str, Any]:
        status, body, content_type = fetch(card["url"])
        assert status == 200, card["url"]
        return {**card, **parse_product(page_text(body, content_type)), "charset": content_type}

    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(product, cards))
    return {r["product_id"]: r for r in records}


def test_a_crawl_on_each_day_finds_exactly_that_days_truth(site: DemoSite) -> None:
    crawled = {}
    for day in (DAY, NEXT_DAY):
        site.set_day(day)
        site.reset_stats()
        records = crawl(site.base_url)
        truth = {row["product_id"]: row for row in catalogue_truth(CONFIG, day, site.base_url)}
        assert records.keys() == truth.keys()
        for key, record in records.items():
            row = truth[key]
            assert record["url"] == row["url"]
            assert record["title"] == row["title"] and record["category"] == row["category"]
            assert record["price_text"] == row["price_text"]
            assert (record["rating"], record["badge"], record["city"]) == (
                row["rating"],
                row["badge"],
                row["city"],
            )
            assert record["tags"] == row["tags"].split(";")
            assert record["charset"] == f"text/html; charset={row['encoding']}"
        assert site.stats()["statuses"] == {"200": site.stats()["total"]}  # no 404 on the way
        crawled[day] = records
    changes = catalogue_changes(CONFIG, DAY, NEXT_DAY)
    before, after = crawled[DAY], crawled[NEXT_DAY]
    assert {c.product_id for c in changes if c.kind == "appeared"} == after.keys() - before.keys()
    assert {c.product_id for c in changes if c.kind == "disappeared"} == (
        before.keys() - after.keys()
    )
    moved = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    assert moved == {c.product_id for c in changes if c.kind == "changed"}
    assert changes  # the two days differ, or this test proves nothing


def test_scrapy_follows_the_latin1_city_link_and_a_utf8_request_gets_404(
    site: DemoSite,
) -> None:
    site.set_day(DAY)
    home_url = site.base_url + "/catalogue/"
    _, body, content_type = fetch(home_url)
    response = HtmlResponse(home_url, body=body, headers={"Content-Type": content_type})
    link = response.css("a[href*='stadt=M']")[0]
    assert link.css("::text").get() == "Jobs in München"
    request = response.follow(link)
    assert request.url.endswith("/catalogue/category/jobs/?stadt=M%FCnchen")
    assert fetch(request.url)[0] == 200
    utf8 = safe_url_string(urljoin(home_url, link.attrib["href"]), encoding="utf-8")
    assert utf8.endswith("stadt=M%C3%BCnchen")
    assert fetch(utf8)[0] == 404


def test_robots_txt_and_the_sitemap(site: DemoSite) -> None:
    site.set_day(DAY)
    robots = urllib.robotparser.RobotFileParser(site.base_url + "/robots.txt")
    robots.read()
    assert robots.site_maps() == [site.base_url + "/catalogue/sitemap.xml"]
    assert not robots.can_fetch("*", site.base_url + "/catalogue/basket/add?product=1")
    truth = catalogue_truth(CONFIG, DAY, site.base_url)
    assert robots.can_fetch("*", truth[0]["url"])
    status, body, _ = fetch(site.base_url + "/catalogue/sitemap.xml")
    assert status == 200
    entries = list(Sitemap(body))
    assert [e["loc"] for e in entries] == [row["url"] for row in truth]
    assert all(fetch(e["loc"])[0] == 200 for e in entries[:20])


def test_the_day_can_be_moved_over_http(site: DemoSite) -> None:
    control = site.base_url + "/_control/day"
    gone = next(c for c in catalogue_changes(CONFIG, DAY, NEXT_DAY) if c.kind == "disappeared")
    url = site.base_url + f"/catalogue/p/{gone.product_id}"
    assert fetch(control, json.dumps({"date": str(DAY)}).encode())[0] == 200
    assert fetch(url)[0] == 200
    status, body, _ = fetch(control, json.dumps({"date": str(NEXT_DAY)}).encode())
    assert (status, json.loads(body)) == (200, {"date": str(NEXT_DAY), "pinned": True})
    assert fetch(url)[0] == 404
    status, body, _ = fetch(control, b'{"date": "tomorrow"}')
    assert status == 400 and "YYYY-MM-DD" in json.loads(body)["error"]
