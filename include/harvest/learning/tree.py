"""A category tree of mixed depth, found from a few of its pages (for ``harvest init``).

Some sites nest their categories to different depths: a category page leads to sub-categories,
to items, or to both (``/shop/`` -> ``tools`` -> ``tools/power`` -> ``tools/power/drills`` ->
items, while ``garden`` lists items at once). One level with ``recurse`` (the links to deeper
pages of the same level) and ``links`` (the item links) reaches the items at every depth.

The evidence, from pages only: a group of links of the start page (links grouped by where they
sit, :func:`.listpage.link_groups`) is the tree's ``recurse`` links when a page it leads to
carries links sitting the same way that lead further (to pages neither the start page nor its
group links: a menu repeated on every page leads nowhere new). Over the category pages then
seen, the item links are the group (by where they sit, the tree's own links and its menus left
out: a group linking the same pages everywhere, or linking category pages) with the most
distinct URLs times card text (:func:`.listpage.group_score`), at least
:data:`~.listpage.MIN_ITEMS` of them. Each selector is the shortest CSS that selects exactly
its group on every category page (links off the host aside).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from parsel import Selector

from harvest.learning.itemfields import SamplePage
from harvest.learning.listpage import (
    MIN_ITEMS,
    ListStructure,
    _links,
    _part,
    group_score,
    link_groups,
    next_page,
    structure_of,
)

Members = list[tuple[Any, str]]


@dataclass(frozen=True)
class LinkPage:
    """A fetched page, parsed once, with its links grouped by where they sit."""

    page: SamplePage
    selector: Selector
    groups: dict[str, Members]

    @property
    def url(self) -> str:
        return self.page.url

    def targets(self, signature: str) -> list[str]:
        """The distinct URLs the group ``signature`` links, in the page's order."""
        return list(dict.fromkeys(t for _, t in self.groups.get(signature, [])))


def link_page(page: SamplePage) -> LinkPage:
    selector = Selector(text=page.html)
    return LinkPage(page, selector, link_groups(selector, page.url))


def ranked_groups(page: LinkPage, least: int = 2) -> list[str]:
    """The page's link groups with at least ``least`` distinct URLs, most item-like first."""
    groups = [
        (group_score(m), s) for s, m in page.groups.items() if len({t for _, t in m}) >= least
    ]
    return [s for _, s in sorted(groups, key=lambda g: -g[0])]


def leads_deeper(signature: str, parent: LinkPage, child: LinkPage) -> list[str]:
    """The URLs ``child`` links through the group ``signature`` that ``parent`` does not show
    (neither its own URL nor its group's links): sub-categories, not a repeated menu."""
    known = {parent.url, child.url, *parent.targets(signature)}
    return [u for u in child.targets(signature) if u not in known]


def _within(page: LinkPage, css: str, members: Members) -> bool:
    """Whether ``css`` selects on ``page`` exactly the links ``members`` among the page's links
    to its own host (a link off the host it also selects is skipped by the crawl)."""
    try:
        found = {m.root for m in page.selector.css(css)}
    except Exception:  # a selector parsel cannot compile is no candidate
        return False
    own = {e for e, _ in _links(page.selector, page.url)}
    return found & own == {e for e, _ in members}


def css_across(pages: Sequence[LinkPage], signature: str) -> str | None:
    """The shortest CSS naming a class or id (else the shortest) that selects exactly the group
    ``signature`` on every page of ``pages`` that has it, and none of the host's links on
    those without it."""
    richest = max(pages, key=lambda p: len(p.groups.get(signature, [])))
    members = richest.groups.get(signature, [])
    if not members:
        return None
    first = members[0][0]
    parent = first.getparent()
    tries = [_part(first)] if _part(first) != first.tag else []
    if parent is not None:
        tries += [f"{_part(parent)} > {_part(first)}", f"{_part(parent)} > {_part(first, False)}"]
        grand = parent.getparent()
        if grand is not None:
            tries.append(f"{_part(grand)} > {_part(parent)} > {_part(first)}")
    tries.append(signature)
    named = sorted(dict.fromkeys(tries), key=lambda c: ("." not in c and "#" not in c, len(c)))
    for css in named:  # a class or id in it first (a bare ``li > a`` breaks on the next menu)
        if all(_within(p, css, p.groups.get(signature, [])) for p in pages):
            return css
    return None


def item_group(pages: Sequence[LinkPage], recurse: str, categories: set[str]) -> str | None:
    """The signature of the item links over the category pages ``pages`` (module docstring);
    ``categories``: the URLs of category pages known, which item links never lead to."""
    seen: dict[str, list[frozenset[str]]] = {}
    scores: dict[str, float] = {}
    for page in pages:
        for signature, members in page.groups.items():
            if signature != recurse:
                seen.setdefault(signature, []).append(frozenset(t for _, t in members))
                scores[signature] = scores.get(signature, 0.0) + group_score(members)
    best: tuple[float, str] | None = None
    for signature, sets in seen.items():
        urls = frozenset().union(*sets)
        if len(sets) > 1 and len(set(sets)) == 1:
            continue  # the same links on every page: a menu
        if len(urls) < MIN_ITEMS or urls & categories:
            continue
        if best is None or scores[signature] > best[0]:
            best = (scores[signature], signature)
    return best[1] if best else None


def _cards_across(pages: Sequence[LinkPage], signature: str, css: str) -> bool:
    """Whether ``css`` holds, on every page, each item link in a card of its own."""
    for page in pages:
        links = [e for e, _ in page.groups.get(signature, [])]
        cards = page.selector.css(css)
        holding = [sum(1 for e in links if c.root in set(e.iterancestors())) for c in cards]
        if sum(holding) != len(links) or any(h > 1 for h in holding):
            return False
    return True


def tree_structure(
    pages: Sequence[LinkPage], recurse: str, categories: set[str]
) -> tuple[ListStructure, SamplePage] | None:
    """The one level of a category tree: ``recurse`` (the sub-category links' signature),
    the item links (and cards) found over the category pages ``pages``, the next page; with
    the category page showing the most items (for the cards' fields). ``None`` when no item
    links or no CSS selecting them on every page is found."""
    items = item_group(pages, recurse, categories)
    if items is None:
        return None
    recurse_css = css_across(pages, recurse)
    richest = max(pages, key=lambda p: len(p.groups.get(items, [])))
    shown = [p for p in pages if items in p.groups]
    found = structure_of(richest.selector, richest.url, richest.groups[items])
    if recurse_css is None:
        return None
    links_css = css_across(pages, items)
    if found.cards is not None and not _cards_across(shown, items, found.cards):
        found = replace(found, cards=None)
    if found.cards is None:
        if links_css is None:
            return None
        found = replace(found, links=links_css)
    nexts = Counter(n[0] for p in pages if (n := next_page(p.selector, p.url)) is not None)
    urls = tuple(dict.fromkeys(t for p in shown for t in p.targets(items)))
    structure = replace(
        found,
        recurse=recurse_css,
        bare_links=links_css if found.cards is not None else None,
        next_page=nexts.most_common(1)[0][0] if nexts else None,
        item_urls=urls,
        next_url=None,
    )
    return structure, richest.page
