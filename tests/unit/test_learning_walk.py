"""Repair in one round (issue 24): item pages fetched through proposed level selectors, on a
two-level site whose levels all drifted (categories -> lists -> items), the site's own hosts
only; and the fetcher asks as the crawl does (robots.txt, the canonical base URL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import load_spec
from harvest.learning import LevelPage
from harvest.learning.level_repair import LevelHistory, proposed_levels
from harvest.learning.repair import proposed, repair_fields
from harvest.learning.walk import walk_levels
from harvest.scraping.site_fetch import SiteFetch
from harvest_demo import DemoSite, SiteConfig

CATALOGUE = load_spec(DEFAULT_SOURCES_DIR / "catalogue.yaml")
BASE = "http://shop.test"


def home() -> str:
    """The new home page: categories in a side menu, beside an advert off the site."""
    links = "".join(f'<li><a class="cat" href="/catalogue/c/{k}/">Cat {k}</a></li>' for k in (1, 2))
    return (
        f'<html><body><aside class="side"><ul class="menu">{links}</ul></aside>'
        '<a class="ad" href="http://ads.test/catalogue/c/9/">Offer</a></body></html>'
    )


def list_page(category: int, page: int) -> str:
    """A list page of the new template: cards in ``div.tile``, the pager an ``a.more``."""
    first = category * 100 + (page - 1) * 4
    tiles = "".join(
        f'<div class="tile"><h4 class="t"><a href="/catalogue/p/{n}">Book {n}</a></h4>'
        '<a href="/basket/add">Add</a></div>'
        for n in range(first, first + 4)
    )
    more = f'<a class="more" href="?page={page + 1}">more</a>' if page < 3 else ""
    return f"<html><body><section class='grid'>{tiles}</section>{more}</body></html>"


def item_page(n: int) -> str:
    return f'<html><body><div class="box"><h2 class="name">Book {n}</h2><p>Paperback</p></div></body></html>'


def site() -> dict[str, str]:
    pages = {f"{BASE}/catalogue/": home()}
    for category in (1, 2):
        pages[f"{BASE}/catalogue/c/{category}/"] = list_page(category, 1)
        for page in (2, 3):
            pages[f"{BASE}/catalogue/c/{category}/?page={page}"] = list_page(category, page)
    for category in (1, 2):
        for n in range(category * 100, category * 100 + 12):
            pages[f"{BASE}/catalogue/p/{n}"] = item_page(n)
    return pages


def test_a_two_level_site_is_walked_through_the_proposed_levels_to_its_item_pages() -> None:
    served = site()
    asked: list[str] = []

    def fetch(url: str) -> tuple[str, str] | None:
        asked.append(url)
        return (url, served[url]) if url in served else None

    rows = {f"{BASE}/catalogue/p/{n}": {"title": f"Book {n}"} for n in range(100, 112)}
    history = LevelHistory(  # what each level led to the night before
        {"categories": {f"{BASE}/catalogue/c/7/"}, "lists": set(rows)},
        {"lists": {f"{BASE}/catalogue/c/7/?page=2"}},
    )
    tonight = {"categories": [LevelPage(f"{BASE}/catalogue/", home())]}  # the crawl stopped here
    walked = walk_levels(CATALOGUE, tonight, history, rows, fetch, 0.95, sample=6, max_pages=2)
    chosen = {at: c.selector["css"] for at, c in proposed_levels(walked.levels, 0.95).items()}
    assert chosen[("categories", "links")] in {"a.cat", "ul.menu a", "aside.side a"}, chosen
    assert chosen[("lists", "cards")] == "div.tile", chosen
    assert chosen[("lists", "next_page")] == "a.more", chosen
    assert not any("ads.test" in url for url in asked), "the site's own hosts only"
    assert [p.url for p in walked.pages["lists"][:2]] == [
        f"{BASE}/catalogue/c/1/", f"{BASE}/catalogue/c/2/",
    ]  # fmt: skip
    assert len(walked.items) == 6 and all(p.url in rows for p in walked.items)
    assert f"{BASE}/catalogue/c/1/?page=2" in asked, "next pages while too few known items"
    assert walked.failed == [] and walked.fetched == len(asked)
    # the fields are then learned on the fetched item pages, in the same proposal
    (title,) = repair_fields(CATALOGUE, walked.items, 0.95, ["title"])
    assert proposed([title], 0.95)["title"].selector == {"css": "h2.name"}
    assert "fetched 6 item page(s) with stored values" in walked.line()


def test_the_site_fetch_obeys_robots_txt_and_keeps_the_stored_urls(tmp_path: Path) -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    day = dt.date(2026, 3, 2)
    with DemoSite(SiteConfig(seed=3, listings_per_day=5)) as demo, SiteFetch(
        spec, settings, demo.base_url
    ) as fetch:  # fmt: skip
        stored = f"{spec.base_url}/listings/{day}"  # as the raw store holds it
        got = fetch(stored)
        assert got is not None and got[0] == stored and "listing" in got[1]
        assert fetch(f"{spec.base_url}/private/report?day={day}") is None, "robots.txt"
        assert fetch(f"{spec.base_url}/no-such-page") is None, "a 404 is left out"
        assert fetch.requests == 3  # robots.txt, the list page, the 404: never the private one


XPATH_SPEC = """\
name: shop
description: A shop whose list level is written in XPath and numbered.
base_url: http://shop.test
start_urls: ["{base_url}/catalogue/c/1/"]
schedule: "0 3 * * *"
start_date: 2026-01-01
levels:
  - name: lists
    cards:
      xpath: "//article[@class='product_pod']"   # the old template
    links:
      xpath: ".//h3/a"
    pages: {template: "?page={page}", max: 5}
detail:
  key: title
  fields:
    title:
      css: "article.product_page h1"
"""


def test_xpath_level_selectors_are_checked_and_proposed_as_css_and_numbered_pages_walked(
    tmp_path: Path,
) -> None:
    from harvest.learning.patch import spec_patch

    spec_file = tmp_path / "shop.yaml"
    spec_file.write_text(XPATH_SPEC, encoding="utf-8")
    spec = load_spec(spec_file)
    served = site()
    rows = {f"{BASE}/catalogue/p/{n}": {"title": f"Book {n}"} for n in range(100, 112)}
    history = LevelHistory({"lists": set(rows)}, {})
    start = f"{BASE}/catalogue/c/1/"
    tonight = {"lists": [LevelPage(start, served[start])]}
    asked: list[str] = []

    def fetch(url: str) -> tuple[str, str] | None:
        asked.append(url)
        return (url, served[url]) if url in served else None

    walked = walk_levels(spec, tonight, history, rows, fetch, 0.95, sample=10)
    now = {r.name: r.now for r in walked.levels}
    assert now["lists.cards"].text == "xpath: //article[@class='product_pod']"
    assert now["lists.cards"].agreed == 0, "the XPath is checked as it is"
    chosen = proposed_levels(walked.levels, 0.95)
    assert chosen[("lists", "cards")].selector == {"css": "div.tile"}
    assert asked[:2] == [f"{start}?page=2", f"{start}?page=3"], "the numbered pages"
    assert len(walked.items) == 10
    diff, patched = spec_patch(spec_file, {}, chosen)
    assert "-    cards:\n-      xpath: \"//article[@class='product_pod']\"" in diff
    assert '+    cards: "div.tile"' in diff
    (tmp_path / "patched.yaml").write_text(patched.replace("name: shop", "name: patched"))
    assert load_spec(tmp_path / "patched.yaml").graph[0].cards.css == "div.tile"


def test_a_robots_txt_that_answers_5xx_allows_nothing_and_a_404_everything(
    tmp_path: Path,
) -> None:
    """RFC 9309, as the crawl reads it: an unavailable robots.txt forbids the site."""
    import http.server
    import threading

    status = {"robots": 503}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status["robots"] if self.path == "/robots.txt" else 200
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body><p>page</p></body></html>")

        def log_message(self, *args: object) -> None:
            pass

    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            with SiteFetch(spec, settings, base) as fetch:
                assert fetch(f"{spec.base_url}/listings/2026-03-02") is None, "503: nothing"
            status["robots"] = 404
            with SiteFetch(spec, settings, base) as fetch:
                got = fetch(f"{spec.base_url}/listings/2026-03-02")
                assert got is not None and "page" in got[1], "404: everything"
        finally:
            server.shutdown()
