"""``harvest init`` on a category tree of mixed depth (issue 24): one level with ``recurse``
reaching the items at every depth, drafted from a few pages; and no tree where there is none
(a menu repeated on every page, "related" links on item pages). Pages are hand-written here,
served from memory (no network)."""

from __future__ import annotations

from harvest.config.spec import SourceSpec
from harvest.learning.itemfields import SamplePage
from harvest.scraping.draft_tree import find_tree
from harvest.scraping.preview import PreviewError
from harvest.selection import Page, hrefs, select

BASE = "http://tree.test"
MENU = (
    '<header><a href="/c/a/">Alpha</a><a href="/c/b/">Beta</a><a href="/about">About</a></header>'
)


class Pages:
    """A site in memory: ``get`` serves its pages, counts them; unknown URLs fail."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.fetched: list[str] = []

    def allowed(self, url: str) -> bool:
        return not url.startswith(f"{BASE}/private")

    def get(self, url: str) -> SamplePage:
        path = url.removeprefix(BASE)
        if path not in self.pages:
            raise PreviewError(f"{url}: 404")
        self.fetched.append(path)
        return SamplePage(url, self.pages[path])


def page(body: str) -> str:
    return f"<html><body>{MENU}{body}</body></html>"


def category(subs: list[str], items: list[str]) -> str:
    """A category page: sub-categories in a sidebar, items in cards with a price."""
    side = "".join(f'<li><a href="/c/{s}/">{s.title()}</a></li>' for s in subs)
    cards = "".join(
        f'<article class="card"><h3><a href="/p/{i}">Product {i}</a></h3>'
        f'<span class="cost">{len(i)}.50</span></article>'
        for i in items
    )
    return page(f'<ul class="subcats">{side}</ul><main class="grid">{cards}</main>')


# a tree of depths 1 to 3: a/x/deep lists items, b lists items at once, a lists some too
TREE = {
    "/c/": category(["a", "b", "z"], []),
    "/c/a/": category(["a/x", "a/y"], ["a1", "a2"]),
    "/c/a/x/": category(["a/x/deep"], []),
    "/c/a/x/deep/": category([], ["d1", "d2", "d3", "d4"]),
    "/c/a/y/": category([], ["y1", "y2", "y3"]),
    "/c/b/": category([], ["b1", "b2", "b3", "b4", "b5"]),
    "/c/z/": category([], ["z1", "z2", "z3"]),
}
ITEMS = {
    f"/p/{i}": page(f"<h1>Product {i}</h1><p class='price'>{len(i)}.50</p>")
    for i in (
        "a1",
        "a2",
        "d1",
        "d2",
        "d3",
        "d4",
        "y1",
        "y2",
        "y3",
        "b1",
        "b2",
        "b3",
        "b4",
        "b5",
        "z1",
        "z2",
        "z3",
    )
}


def walk(spec: SourceSpec, site: Pages) -> set[str]:
    """The item URLs the drafted level reaches from the start page, as the crawl follows it."""
    level = spec.levels[0]
    queue, seen, items = [f"{BASE}/c/"], set(), set()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        fetched = site.get(url)
        from parsel import Selector

        selector = Selector(text=fetched.html)
        here = Page(selector, url)
        scopes = select(level.cards, selector, here) if level.cards else [selector]
        for scope in scopes:
            items.update(f"{BASE}{h}" for h in hrefs(select(level.links, scope, here))[:1])
        if level.recurse is not None:
            queue += [f"{BASE}{h}" for h in hrefs(select(level.recurse, selector, here))]
    return items


def test_a_tree_of_mixed_depth_is_one_level_that_recurses() -> None:
    site = Pages(TREE | ITEMS)
    found = find_tree(site, site.get(f"{BASE}/c/"))
    assert found is not None
    structure, richest, seen = found
    assert structure.recurse == "ul.subcats > li > a"
    assert (structure.cards, structure.links) == ("article.card", "h3 a")
    assert richest.url == f"{BASE}/c/b/" and seen >= 5
    spec = SourceSpec.model_validate({
        "name": "tree", "base_url": BASE, "start_urls": ["{base_url}/c/"],
        "levels": [{"name": "categories", "recurse": structure.recurse,
                    "cards": structure.cards, "links": structure.links}],
        "detail": {"key": "id", "fields": {"id": {"from": "url", "regex": "/p/(\\w+)"}}},
    })  # fmt: skip
    assert walk(spec, Pages(TREE | ITEMS)) == {f"{BASE}{p}" for p in ITEMS}
    assert all(p.startswith("/c/") for p in site.fetched), "only category pages are fetched"


def test_a_menu_on_every_page_is_no_tree() -> None:
    """Two flat categories, each listing items; the header menu links them from every page."""
    flat = {
        "/c/a/": category([], ["a1", "a2", "a3"]),
        "/c/b/": category([], ["b1", "b2", "b3"]),
        "/about": page("<p>About us</p>"),
    }
    start = page('<nav class="cats"><a href="/c/a/">A</a><a href="/c/b/">B</a></nav>')
    site = Pages(flat | ITEMS | {"/": start})
    assert find_tree(site, site.get(f"{BASE}/")) is None


def test_related_links_on_item_pages_are_no_tree() -> None:
    """A list of items whose item pages link other items the same way ("related")."""
    cards = "".join(
        f'<div class="hit"><a class="go" href="/p/{n}">Item {n}</a></div>' for n in range(9)
    )
    pages = {"/list": page(cards)}
    for n in range(9):
        related = "".join(
            f'<div class="hit"><a class="go" href="/p/{(n + k) % 9}">Item {(n + k) % 9}</a></div>'
            for k in (1, 2, 3)
        )
        pages[f"/p/{n}"] = page(f"<h1>Item {n}</h1><section>{related}</section>")
    site = Pages(pages)
    assert find_tree(site, site.get(f"{BASE}/list")) is None
