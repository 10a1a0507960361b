"""``harvest init`` on the demo site's list page over real HTTP: the spec it writes validates,
and its extraction reproduces the bundled demo spec's values (issue 24: >= 90%)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from harvest.__main__ import main
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest.scraping.draft import Fetcher, draft_from_url
from harvest_demo import DemoSite, SiteConfig
from tests.fixtures.init_coverage import card_coverage, coverage, overall
from tests.fixtures.shape_crawl import DAY as SHAPE_DAY
from tests.fixtures.shape_crawl import run
from tests.integration.browser_site import TRUTH as BROWSER_TRUTH
from tests.integration.browser_site import BrowserSite
from tests.integration.shape_site import PAGED_SPEC, SHOP_ITEMS, TABLE_SPEC, TRUTH, ShapeSite

DAY = dt.date(2026, 11, 26)
SITE = SiteConfig(seed=7, listings_per_day=40, page_size=20, js_fraction=0.0)


def test_init_drafts_a_spec_that_reads_the_bundled_specs_values(tmp_path: Path) -> None:
    with DemoSite(SITE) as site:
        url = f"{site.base_url}/listings/{DAY}"
        fetcher = Fetcher("harvest-test", delay=0, browser=False)
        draft = draft_from_url(url, fetcher, sample=8)
        pages = [fetcher.get(u) for u in draft.structure.item_urls] if draft.structure else []
        output = tmp_path / "demo_draft.yaml"
        code = main(
            ["init", url, "--delay", "0", "--no-browser", "--sample", "4", "-o", str(output)]
        )
    assert code == 0 and load_spec(output).name == "demo_draft"
    assert draft.structure is not None and len(draft.structure.item_urls) == 20
    assert draft.spec.start_urls == ["{base_url}/listings/{date}"]
    assert draft.spec.mode == "listings", "each night's own listings: the URL carries the date"
    level = draft.spec.graph[0]
    assert level.next_page is not None and level.next_page.css == "a[rel~=next]"
    bundled = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    fields = coverage(bundled, draft.spec, pages)
    shares = {f.field: round(f.share, 2) for f in fields}
    assert overall(fields) >= 0.9, shares
    assert min(shares.values()) >= 0.9, shares


def test_init_on_the_catalogue_home_finds_categories_then_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with DemoSite(SiteConfig(seed=7), day=DAY) as site:
        url = f"{site.base_url}/catalogue/"
        draft = draft_from_url(url, Fetcher("harvest-test", delay=0, browser=False), sample=6)
        output = tmp_path / "shop.yaml"
        command = ["init", url, "--delay", "0", "--no-browser", "--sample", "2", "-o", str(output)]
        assert main(command) == 0
    # the same URL every night shows the current items: a catalogue, said in the output
    assert draft.spec.mode == "catalogue" and load_spec(output).mode == "catalogue"
    out = capsys.readouterr().out
    assert "note: mode: catalogue: the start URL carries no date" in out
    assert "looks_like_catalogue" in out
    assert [level.name for level in draft.spec.graph] == ["categories", "list"]
    assert draft.spec.graph[1].next_page is not None
    kinds = {name: field.kind for name, field in draft.spec.detail.fields.items()}
    assert {"title": "text", "category": "text", "published": "date"}.items() <= kinds.items()


def test_init_renders_the_pages_that_need_javascript(chromium: tuple[str, str]) -> None:
    """Item pages filled in by a script: rendered, and the spec says which pages need it."""
    site_config = SiteConfig(seed=3, listings_per_day=12, page_size=12, js_fraction=0.5)
    with DemoSite(site_config) as site:
        url = f"{site.base_url}/listings/{DAY}"
        fetcher = Fetcher("harvest-test", delay=0)
        try:
            draft = draft_from_url(url, fetcher, sample=6)
        finally:
            fetcher.close()
    js = draft.spec.javascript
    assert (js.marker, js.wait_for) == ("body[data-render=js]", "body[data-rendered=true]")
    fields = draft.spec.detail.fields
    assert fields["price"].kind == "price" and fields["area"].kind == "area"
    price = next(f for f in draft.fields if f.name == "price")
    assert price.presence == 1  # the script-filled price read on every sampled page


def test_init_drafts_pages_of_records_with_their_pagination() -> None:
    """``/paged/`` (cards without links, ``?page=N``) and ``/table/`` (rows) of the shape site:
    every reference card value read by a drafted ``from: card`` field."""
    site = ShapeSite()
    try:
        for reference, pages, paging in ((PAGED_SPEC, 7, "?page={page}"), (TABLE_SPEC, 1, None)):
            spec = SourceSpec.model_validate({"base_url": site.base_url, **reference})
            url = f"{site.base_url}{spec.start_urls[0].removeprefix('{base_url}')}"
            fetcher = Fetcher("harvest-test", delay=0, browser=False)
            draft = draft_from_url(url, fetcher, sample=4)
            shown = [fetcher.get(url if n == 1 else f"{url}?page={n}") for n in range(1, pages + 1)]
            (level,) = draft.spec.levels
            assert (level.links, level.pages.template if level.pages else None) == (None, paging)
            assert overall(card_coverage(spec, draft.spec, shown)) == 1.0
    finally:
        site.stop()


def test_init_drafts_a_category_tree_of_mixed_depth_that_loads_every_item(tmp_path: Path) -> None:
    """``/shop/``: items at depths 1 to 4, an item in two categories, a category paged 3 times;
    the spec drafted from the start URL alone, crawled into the warehouse, loads every item
    once with its name and price."""
    site = ShapeSite()
    try:
        fetcher = Fetcher("harvest-test", delay=0, browser=False)
        draft = draft_from_url(f"{site.base_url}/shop/", fetcher, sample=4)
        (level,) = draft.spec.levels
        assert level.recurse is not None and level.links is not None and level.cards is None
        drafted = yaml.safe_load(draft.text)
        drafted.pop("base_url")
        drafted["start_date"] = str(SHAPE_DAY)
        frame, reports = run(drafted, site, tmp_path)
    finally:
        site.stop()
    assert reports["load"]["quarantined"] == 0
    assert sorted(frame["record_key"]) == SHOP_ITEMS
    assert all(frame["title"] == "Item " + frame["record_key"])
    assert all(frame["price"] == 10 + 3 * frame["record_key"].str.len())


def test_init_drafts_json_apis_and_sitemaps_whose_specs_load_every_record(tmp_path: Path) -> None:
    """``/api/products`` (a next URL), ``/api/jobs`` (a has_next flag) and ``/sitemap.xml`` (an
    index of two sitemaps, an ``/about`` page in each): each spec drafted from the start URL
    alone, crawled into the warehouse, loads every record."""
    site = ShapeSite()
    try:
        for path, shape, key in (
            ("/api/products", "api_products", "sku"),
            ("/api/jobs", "api_jobs", "id"),
            ("/sitemap.xml", "sitemap", "item_id"),
        ):
            fetcher = Fetcher("harvest-test", delay=0, browser=False)
            draft = draft_from_url(f"{site.base_url}{path}", fetcher, sample=4)
            assert draft.spec.detail.key == key
            drafted = yaml.safe_load(draft.text)
            drafted.pop("base_url")
            drafted["start_date"] = str(SHAPE_DAY)
            frame, reports = run(drafted, site, tmp_path / shape)
            assert (reports["load"]["loaded"], reports["load"]["quarantined"]) == (TRUTH[shape], 0)
            assert frame[key].nunique() == TRUTH[shape]
    finally:
        site.stop()


def test_init_drafts_pages_that_grow_as_scrolled_and_loads_them_whole(
    chromium: tuple[str, str], tmp_path: Path
) -> None:
    """``/scroll/`` (infinite scroll) and ``/more/`` (a "load more" button): the draft, from the
    first screen alone, gets ``scroll:``; crawled, it loads every card (45, 30)."""
    site = BrowserSite()
    try:
        for path, shape, scroll in (
            ("/scroll/", "scroll", {}),
            ("/more/", "more", {"load_more": "button.more"}),
        ):
            fetcher = Fetcher("harvest-test", delay=0)
            try:
                draft = draft_from_url(f"{site.base_url}{path}", fetcher, sample=4)
            finally:
                fetcher.close()
            drafted = yaml.safe_load(draft.text)
            assert drafted["levels"][0]["scroll"] == scroll
            drafted.pop("base_url")
            drafted["start_date"] = str(SHAPE_DAY)
            frame, reports = run(drafted, site, tmp_path / shape)
            assert frame["id"].nunique() == BROWSER_TRUTH[shape]
            assert (reports["load"]["loaded"], reports["load"]["quarantined"]) == (
                BROWSER_TRUTH[shape],
                0,
            )
    finally:
        site.stop()
