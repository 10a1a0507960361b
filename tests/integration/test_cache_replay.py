"""A cached re-run replayed without Scrapy's engine (:mod:`harvest.crawler.replay`) gives
exactly what Scrapy gives from the same HTTP cache: the same raw documents and records, every
counter of the crawl report (pages, items, bytes, the completeness account with its drops and
their reasons, the monitors) and the same warnings; and a page missing from the cache makes it
crawl with Scrapy instead.

Each case crawls one partition three times under one home: the first run fills the HTTP cache
(Scrapy, from the site), the second re-runs it with the replay off (Scrapy, from the cache), the
third with it on (the replay). Sites: the demo site (index pages, detail pages, JavaScript
pages rendered by Chromium) and the shape site's cards sharing a detail page and its category
tree of mixed depth (robots.txt and off-site drops).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.scraping import CrawlResult, scrape
from harvest.storage.http_cache_entries import DB_NAME
from harvest.storage.raw import FileRawStore
from harvest_demo import DemoSite, SiteConfig
from tests.integration.shape_site import PAGED_SPEC, TRUTH, ShapeSite
from tests.integration.test_crawl_graph_shapes import (
    API_SPEC,
    QUOTES_SPEC,
    SHOP_DETAIL,
    SHOP_LEVELS,
)

DAY = dt.date(2026, 3, 1)
NIGHT = dt.datetime(2026, 3, 2, 3, tzinfo=dt.UTC)  # the partition's own night: it is crawled
FAST = {"concurrency_per_domain": 4, "download_delay_seconds": 0, "autothrottle": False}
# figures of a run that differ by nature: its time, and which path it took
UNCOMPARED = ("duration_seconds", "monitors_cpu_seconds", "replayed_from_cache")


def _documents(settings: Settings, spec: SourceSpec) -> tuple[dict[str, Any], list[str]]:
    """The partition's documents by URL without their records, and every record (sorted): a
    record of cards sharing an item page lands on the page parsed last, which is a matter of
    order, not of content."""
    docs = FileRawStore(settings.home / "raw").read_partition(spec.name, DAY)
    pages = {doc.url: {**doc.to_dict(), "records": None} for doc in docs}
    records = sorted(json.dumps(record, sort_keys=True) for doc in docs for record in doc.records)
    return pages, records


def _three_runs(
    spec: SourceSpec, settings: Settings, base_url: str
) -> tuple[CrawlResult, CrawlResult, CrawlResult, list[Any]]:
    def run(replay: bool) -> tuple[CrawlResult, tuple[dict[str, Any], list[str]]]:
        result = scrape(
            spec, DAY, settings.with_overrides(replay_cache=replay), base_url=base_url, now=NIGHT
        )
        return result, _documents(settings, spec)

    first, _ = run(True)  # nothing cached yet: crawled by Scrapy
    scrapy, scrapy_docs = run(False)
    replay, replay_docs = run(True)
    return first, scrapy, replay, [scrapy_docs, replay_docs]


def assert_same(scrapy: CrawlResult, replay: CrawlResult, documents: list[Any]) -> None:
    assert not scrapy.replayed_from_cache and replay.replayed_from_cache
    assert replay.requests_to_site == scrapy.requests_to_site == 0
    theirs, ours = scrapy.to_dict(), replay.to_dict()
    for name in UNCOMPARED:
        theirs.pop(name), ours.pop(name)
    assert ours == theirs
    assert documents[1] == documents[0]


def test_the_demo_site_replayed_equals_scrapy(chromium: tuple[str, str], tmp_path: Path) -> None:
    demo = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    spec = demo.model_copy(update={"crawl": demo.crawl.model_copy(update=FAST)})
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with DemoSite(SiteConfig(seed=7, listings_per_day=40, page_size=10)) as site:
        first, scrapy, replay, documents = _three_runs(spec, settings, site.base_url)
    assert first.requests_to_site > 0 and first.js_pages > 0 and first.failed_pages == 0
    assert_same(scrapy, replay, documents)
    assert replay.item_pages == 40 and replay.documents == first.documents


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ("quotes", QUOTES_SPEC),  # cards sharing an item page, from: card fields
        ("quotes_regex", {**QUOTES_SPEC, "detail": {**QUOTES_SPEC["detail"], "fields": {
            **QUOTES_SPEC["detail"]["fields"],  # regexes matching none of some texts: counted
            "text": {"from": "card", "css": "span.text", "regex": r"number (\d)\."},
            "author": {"css": "h2.name", "regex": r"^(A\w+) "},
        }}}),
        ("shop", {"start_urls": ["{base_url}/shop/"], "levels": SHOP_LEVELS, "detail": SHOP_DETAIL}),
        ("shop_shallow", {  # links not followed for depth: a warning logged and counted
            "start_urls": ["{base_url}/shop/"], "detail": SHOP_DETAIL,
            "levels": [{**SHOP_LEVELS[0], "max_recursion": 2}],
        }),
        ("paged", PAGED_SPEC),  # numbered pages ended by an empty one
        ("api_products", API_SPEC),  # JSON pages, JMESPath selectors
    ],
)  # fmt: skip
def test_shapes_replayed_equal_scrapy(shape: str, spec: dict[str, Any], tmp_path: Path) -> None:
    site = ShapeSite()
    try:
        source = SourceSpec.model_validate(
            {**spec, "name": f"replay_{shape}", "base_url": site.base_url, "crawl": FAST,
             "monitors": {"min_share_of_median": None}}
        )  # fmt: skip
        settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
        first, scrapy, replay, documents = _three_runs(source, settings, site.base_url)
    finally:
        site.stop()
    truth = TRUTH.get(shape.removesuffix("_regex"))
    records = truth if truth is not None else TRUTH["shop"] - 3  # d1, c1, c2 too deep
    assert first.requests_to_site > 0 and replay.item_pages == records
    assert_same(scrapy, replay, documents)
    if shape.startswith("shop"):  # the drops with their reasons, counted alike
        assert replay.links_skipped["robots"] == 1 and replay.links_skipped["off-site"] == 1
    if shape == "shop_shallow":  # and the warnings
        assert replay.links_skipped["depth"] == 1 and replay.completeness["warnings"]
        assert replay.warnings == scrapy.warnings != []
    if shape == "quotes_regex":  # quotes 10-23 (cards), the 3 authors not named A... (pages)
        assert replay.fields_regex_unmatched == {"text": 14, "author": 3}
        assert replay.warnings == scrapy.warnings
        (text,) = [w for w in replay.warnings if "field 'text'" in w]
        assert "fields_regex_unmatched" in text and "in 14 item page(s) or card(s) read" in text
        assert f"--source {scrapy.source} --url {site.base_url}/quotes/ shows it" in text
        assert f"'Quote number 10.' on {site.base_url}/quotes/;" in text


def _shop(site: ShapeSite, name: str) -> SourceSpec:
    """The shape site's shop (a category tree, robots.txt and off-site drops) as source ``name``."""
    return SourceSpec.model_validate({
        "name": name, "base_url": site.base_url, "crawl": FAST,
        "monitors": {"min_share_of_median": None},
        "start_urls": ["{base_url}/shop/"], "levels": SHOP_LEVELS, "detail": SHOP_DETAIL,
    })  # fmt: skip


@pytest.mark.redis
def test_the_redis_cache_replayed_equals_scrapy(clean_redis: str, tmp_path: Path) -> None:
    """With the Redis cache, whose entries the replay reads ahead a batch of queued pages at a
    time (``RedisCacheStorage.read_ahead``): the same as Scrapy's re-run, page by page."""
    site = ShapeSite()
    try:
        source = _shop(site, "replay_redis")
        env = {"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": clean_redis}
        first, scrapy, replay, documents = _three_runs(
            source, Settings.from_env(env), site.base_url
        )
    finally:
        site.stop()
    assert first.requests_to_site > 0 and replay.item_pages == TRUTH["shop"]
    assert replay.cached_responses > 10
    assert_same(scrapy, replay, documents)


def test_a_page_missing_from_the_cache_crawls_with_scrapy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    site = ShapeSite()
    try:
        source = _shop(site, "replay_missing")
        settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
        first = scrape(source, DAY, settings, base_url=site.base_url, now=NIGHT)
        cache = settings.http_cache_dir / source.name / DAY.isoformat() / DB_NAME
        with sqlite3.connect(cache) as db:  # one item page's entry gone
            (removed,) = db.execute("SELECT key FROM entries LIMIT 1 OFFSET 5").fetchone()
            db.execute("DELETE FROM entries WHERE key = ?", (removed,))
        site.requests.clear()
        caplog.set_level(logging.INFO)
        again = scrape(source, DAY, settings, base_url=site.base_url, now=NIGHT)
        asked = sum(site.requests.values())
    finally:
        site.stop()
    assert not again.replayed_from_cache and again.requests_to_site == asked == 1
    assert "is not in the HTTP cache): crawling with Scrapy" in caplog.text
    theirs, ours = first.to_dict(), again.to_dict()
    for name in (*UNCOMPARED, "cached_responses", "requests_to_site"):
        theirs.pop(name), ours.pop(name)
    assert ours == theirs
