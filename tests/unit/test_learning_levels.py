"""Level selectors learned from the URLs seen before (issue 24): the re-templated demo's index
(links and pager renamed), cards, a site that did not change, URLs that changed shape."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.learning import SpecPatchError, spec_patch
from harvest.learning.level_repair import LevelHistory, proposed_levels, repair_levels
from harvest.learning.levels import (
    LevelPage,
    check_level,
    learn_cards,
    learn_links,
    page_step,
    url_shape,
)
from harvest.learning.patch import patch_levels_text
from harvest.learning.repair import report_lines
from harvest_demo import SiteConfig
from harvest_demo.generator import day_listings
from harvest_demo.pages import render_index
from tests.fixtures.retemplated_demo import crawl, retemplated_site

DAY = dt.date(2026, 11, 26)
BASE = "http://127.0.0.1:8000"
START = f"{BASE}/listings/{DAY}"
CONFIG = SiteConfig(listings_per_day=45)


def night_before(config: SiteConfig = CONFIG) -> LevelHistory:
    before = DAY - dt.timedelta(days=1)
    items = {f"{BASE}/listing/{item.listing_id}" for item in day_listings(config, before)}
    pages = {f"{BASE}/listings/{before}?page={n}" for n in range(2, config.pages_per_day + 1)}
    return LevelHistory({"index": items}, {"index": pages})


def test_url_shape_reads_digits_as_one_kind() -> None:
    assert url_shape(f"{BASE}/listing/L-20261127-0003#top") == url_shape(
        f"{BASE}/listing/L-20261126-0001"
    )
    assert url_shape(f"{BASE}/listing/L-1") != url_shape(f"{BASE}/listings/2026-11-26?page=2")


def test_the_retemplated_index_is_repaired_and_its_crawl_reaches_every_item(
    tmp_path: Path,
) -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    site = retemplated_site(CONFIG, DAY, BASE)
    fetched, items = crawl(spec, site, START)
    assert items == set() and fetched == {START}, "the old selectors find nothing"
    tonight = {"index": [LevelPage(START, site[START])]}
    repairs = repair_levels(spec, tonight, night_before(), 0.95)
    assert [(r.name, r.now.agreed) for r in repairs] == [("index.links", 0), ("index.next_page", 0)]
    chosen = proposed_levels(repairs, 0.95)
    assert set(chosen) == {("index", "links"), ("index", "next_page")}
    lines = "\n".join(report_lines(repairs, 0.95))
    assert "index.links: now 0% (0/25) with css: a.listing-link" in lines
    assert "  proposed 100% (25/25): css: " in lines
    for path in DEFAULT_SOURCES_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    diff, patched = spec_patch(tmp_path / "demo.yaml", {}, chosen)
    assert '-  detail_links: "a.listing-link"\n' in diff
    assert '-  next_page: "a[rel=next]"\n' in diff
    (tmp_path / "demo.yaml").write_text(patched, encoding="utf-8")
    _, reached = crawl(load_spec(tmp_path / "demo.yaml"), site, START)
    assert reached == {f"{BASE}/listing/{item.listing_id}" for item in day_listings(CONFIG, DAY)}


def _matched(selector: str, page: LevelPage) -> list[str]:
    from urllib.parse import urljoin

    from parsel import Selector

    links = Selector(text=str(page.body)).css(selector).xpath("@href").getall()
    return sorted({urljoin(page.url, href) for href in links})


@pytest.mark.parametrize("pages", [1, 3], ids=["the start page alone", "every page"])
def test_a_repaired_next_page_takes_the_next_link_alone(tmp_path: Path, pages: int) -> None:
    """The re-templated pager shows the numbers around the current page: ``div.pager a`` takes
    the previous pages too (page 1 again as ``?page=1``); the link after the current page's
    marker takes the next page alone, and the crawl reads each page once."""
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    config = SiteConfig(listings_per_day=45, page_size=20)
    site = retemplated_site(config, DAY, BASE)
    assert config.pages_per_day == 3
    urls = [START, f"{START}?page=2", f"{START}?page=3"]
    tonight = {"index": [LevelPage(url, site[url]) for url in urls[:pages]]}
    chosen = proposed_levels(repair_levels(spec, tonight, night_before(config), 0.95), 0.95)
    css = chosen[("index", "next_page")].selector["css"]
    assert css == "span.pager-current + a"
    every = [LevelPage(url, site[url]) for url in urls]
    assert [_matched(css, page) for page in every] == [[urls[1]], [urls[2]], []]
    assert _matched("div.pager a", every[1]) == [f"{START}?page=1", urls[2]], "the old choice"
    for path in DEFAULT_SOURCES_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    _, patched = spec_patch(tmp_path / "demo.yaml", {}, chosen)
    (tmp_path / "demo.yaml").write_text(patched, encoding="utf-8")
    fetched, _ = crawl(load_spec(tmp_path / "demo.yaml"), site, START)
    assert fetched == set(urls), "page 1 is not read again as ?page=1"


PAGER = (
    '<ul class="pagination">{}</ul><div class="items">'
    '<a class="item" href="/item/{n}1">one</a><a class="item" href="/item/{n}2">two</a></div>'
)


def _pager_page(n: int, last: int) -> LevelPage:
    """Page ``n`` of ``last``: numbered links, the current one marked ``li.active``, and a
    "Next" link with no rel and the numbers' class."""
    cells = [
        f'<li class="active"><span>{k}</span></li>'
        if k == n
        else f'<li><a class="pg" href="/list/?p={k}">{k}</a></li>'
        for k in range(1, last + 1)
    ]
    if n < last:
        cells.append(f'<li><a class="pg" href="/list/?p={n + 1}">Next</a></li>')
    url = "http://shop.test/list/" + (f"?p={n}" if n > 1 else "")
    return LevelPage(url, PAGER.format("".join(cells), n=n))


def test_a_next_link_told_by_its_text_or_place_not_every_pager_link() -> None:
    pages = [_pager_page(n, 4) for n in range(1, 5)]
    known = {f"http://shop.test/list/?p={k}" for k in range(2, 6)}
    ranked = learn_links("list.next_page", pages, known, key="next_page")
    best = ranked[0]
    assert best.agreement == 1.0 and best.agreed == 3  # the last page counts for none
    for n, page in enumerate(pages, start=1):
        wanted = [f"http://shop.test/list/?p={n + 1}"] if n < 4 else []
        assert _matched(best.selector["css"], page) == wanted, best.selector
    pager = check_level("list.next_page", pages, known, "a.pg", key="next_page")
    assert pager.agreed == 1, "every number: only page 1 shows no earlier page"


def test_page_step_tells_a_link_forward_from_one_back() -> None:
    assert page_step("http://s.test/l/?page=2", "http://s.test/l/?page=3") == 1
    assert page_step("http://s.test/l/?page=2", "http://s.test/l/?page=1") == -1
    assert page_step("http://s.test/l/?page=2", "http://s.test/l/") == -1  # the first page
    assert page_step("http://s.test/l/2026-11-26?page=3", "http://s.test/l/2026-11-26") == -2
    assert page_step("http://s.test/l/", "http://s.test/l/?page=2") is None
    assert page_step("http://s.test/l/?after=x", "http://s.test/l/?after=y") is None


def test_a_site_that_did_not_change_gets_no_proposal() -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    tonight = {
        "index": [
            LevelPage(f"{START}?page={n}", render_index(CONFIG, DAY, n) or b"")
            for n in range(1, CONFIG.pages_per_day + 1)
        ]
    }
    repairs = repair_levels(spec, tonight, night_before(), 0.95)
    assert [r.now.agreement for r in repairs if r.key == "links"] == [1.0]
    assert not any(r.candidates for r in repairs) and proposed_levels(repairs, 0.95) == {}
    assert all(": now " in line for line in report_lines(repairs, 0.95))


CARDS = """<html><body><nav><a href="/about">About</a></nav><div class="grid">{cards}</div>
<a class="more" href="/shop?page=2">more</a></body></html>"""
CARD = (
    '<section class="tile"><a href="/p/{n}"><img src="x.png"></a><h4 class="tile-name">'
    '<a href="/p/{n}">Item {n}</a></h4><span>{n}.99</span><a href="/cart/add">Add</a></section>'
)


def test_cards_and_the_link_inside_them_are_learned() -> None:
    body = CARDS.format(cards="".join(CARD.format(n=n) for n in range(100, 120)))
    pages = [LevelPage("http://shop.test/shop", body)]
    known = {f"http://shop.test/p/{n}" for n in range(90, 110)}  # half of them new tonight
    assert check_level("lists.cards", pages, known, "article.product_pod", key="cards").agreed == 0
    cards = learn_cards("lists.cards", pages, known)
    assert cards[0].selector == {"css": "section.tile"} and cards[0].agreement == 1.0
    links = learn_links("lists.links", pages, known, cards="section.tile")
    assert links[0].agreement == 1.0
    assert check_level("lists.links", pages, known, "a", cards="section.tile").agreement < 1.0


def test_urls_of_another_shape_give_a_low_agreement_not_a_wrong_selector() -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    site = retemplated_site(CONFIG, DAY, BASE)
    tonight = {"index": [LevelPage(START, site[START])]}
    moved = LevelHistory({"index": {f"{BASE}/flat/abc"}}, {"index": {f"{BASE}/all?p=x"}})
    repairs = repair_levels(spec, tonight, moved, 0.95)
    assert proposed_levels(repairs, 0.95) == {}
    assert [r.now.pages for r in repairs] == [0, 0], "nothing tonight links where it did"


def test_level_patch_keeps_comments_and_names_a_missing_selector() -> None:
    text = (DEFAULT_SOURCES_DIR / "catalogue.yaml").read_text(encoding="utf-8")
    patched = patch_levels_text(
        text, {("lists", "cards"): "div.tile", ("categories", "links"): "nav.cats a"}
    )
    assert '    cards: "div.tile"\n' in patched
    assert '    links: "nav.cats a"  ' in patched or '    links: "nav.cats a"\n' in patched
    assert "# looked up inside each card" in patched
    with pytest.raises(SpecPatchError, match="level 'categories' has no 'cards'"):
        patch_levels_text(text, {("categories", "cards"): "li"})
    with pytest.raises(SpecPatchError, match="level 'nowhere' not found"):
        patch_levels_text(text, {("nowhere", "links"): "a"})


def test_level_patch_reads_levels_written_as_yaml_dump_writes_them() -> None:
    """``harvest init`` writes its spec with PyYAML: the ``levels:`` items at the key's own
    indentation, not under it. The patch finds them the same."""
    spec = yaml.safe_load((DEFAULT_SOURCES_DIR / "catalogue.yaml").read_text(encoding="utf-8"))
    text = yaml.safe_dump(spec, sort_keys=False, width=200)
    assert "\nlevels:\n- name: " in text, "the dump under test keeps items at column 0"
    patched = patch_levels_text(
        text, {("lists", "cards"): "div.tile", ("categories", "links"): "nav.cats a"}
    )
    levels = {level["name"]: level for level in yaml.safe_load(patched)["levels"]}
    assert levels["lists"]["cards"] == "div.tile"
    assert levels["categories"]["links"] == "nav.cats a"
    unchanged = {k: v for k, v in yaml.safe_load(patched).items() if k != "levels"}
    assert unchanged == {k: v for k, v in spec.items() if k != "levels"}
    with pytest.raises(SpecPatchError, match="level 'nowhere' not found"):
        patch_levels_text(text, {("nowhere", "links"): "a"})
