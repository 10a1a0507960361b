"""Repair in one round: when the levels drifted, the item pages tonight's crawl never reached
are fetched through the proposed level selectors, so that the fields are learned in the same
proposal as the levels (a redesign usually changes both at once).

From tonight's stored level pages, each level's links (in its cards) are followed with the
proposed selector where the level patch has one, else the spec's: a few pages of the next
level when tonight holds too few of them (their own selectors are then checked and, when
broken, learned again from what that level led to before), and at the last level the item
URLs. Item URLs the warehouse holds a row for come first (their values are what fields are
learned from); when the last level's pages list fewer than ``sample`` of them, the level's
next pages (the proposed ``next_page``, or the spec's numbered ``pages``) are fetched too, up
to ``max_pages``. Only URLs on the
hosts of tonight's pages are asked, one at a time, through the caller's ``fetch``
(:class:`harvest.scraping.site_fetch.SiteFetch`: robots.txt and the spec's delay obeyed, as the
crawl does); a page it may not or cannot fetch is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from harvest.config.selectors import SelectorSpec
from harvest.config.spec import LevelSpec, SourceSpec
from harvest.learning.candidates import Candidate, KnownPage, _text
from harvest.learning.level_repair import LevelHistory, LevelRepair, proposed_levels, repair_levels
from harvest.learning.levels import LevelPage, _absolute
from harvest.selection import Page, hrefs, select

log = logging.getLogger(__name__)

Fetch = Callable[[str], "tuple[str, str | bytes] | None"]
"""GET one page of the site: ``(final URL, HTML)``, or ``None`` when it may not (robots.txt)
or could not be fetched."""

SAMPLE = 20
"""Item pages with a stored value fetched at most."""
MAX_PAGES = 5
"""Level pages fetched at most per level (next pages, or pages of a level tonight missed)."""


@dataclass
class Walk:
    """What the walk fetched: item pages with their stored row, the level pages added to
    tonight's (by level), the level repairs redone with them, and the URLs it could not get."""

    items: list[KnownPage] = field(default_factory=list)
    pages: dict[str, list[LevelPage]] = field(default_factory=dict)
    levels: list[LevelRepair] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    fetched: int = 0

    def line(self) -> str:
        added = sum(len(p) for p in self.pages.values())
        failed = f"; {len(self.failed)} not fetched ({self.failed[0]})" if self.failed else ""
        return (
            f"fetched {len(self.items)} item page(s) with stored values through the proposed "
            f"levels ({self.fetched} request(s), {added} level page(s)){failed}"
        )


def _selector(level: LevelSpec, key: str, patch: Mapping[tuple[str, str], Candidate]) -> Any:
    chosen = patch.get((level.name, key))
    return SelectorSpec(css=chosen.selector["css"]) if chosen else getattr(level, key)


def links_of(
    level: LevelSpec,
    pages: Sequence[LevelPage],
    patch: Mapping[tuple[str, str], Candidate],
    key: str = "links",
) -> list[str]:
    """The absolute URLs ``level``'s ``links`` (or ``next_page``: ``key``) select on ``pages``
    (``links`` inside each card when the level has cards), proposed selectors first, in page
    order, each once."""
    chosen = _selector(level, key, patch)
    cards = _selector(level, "cards", patch) if key == "links" else None
    out: dict[str, None] = {}
    if chosen is None:
        return []
    for page in pages:
        selector = Selector(text=_text(page.body))
        context = Page(selector, page.url)
        try:
            scopes = select(cards, selector, context) if cards is not None else [selector]
            found = [h for scope in scopes for h in hrefs(select(chosen, scope, context))]
        except ValueError:  # a JSON selector on an HTML page: the spec's own problem
            continue
        for href in found:
            url = _absolute(page.url, href)
            if url is not None and url != page.url:
                out.setdefault(url)
    return list(out)


def next_urls(
    level: LevelSpec,
    start: LevelPage,
    branch: Sequence[LevelPage],
    patch: Mapping[tuple[str, str], Candidate],
) -> list[str]:
    """The level's next pages after ``branch``: its (proposed) ``next_page`` links there, or
    its numbered ``pages`` from the ``start`` page (the template joined to its URL)."""
    if level.pages is not None and (level.name, "next_page") not in patch:
        numbers = range(level.pages.first, level.pages.first + level.pages.max)
        return [urljoin(start.url, level.pages.template.format(page=n)) for n in numbers]
    return links_of(level, branch, patch, "next_page")


def spread(urls: Sequence[str], count: int) -> list[str]:
    """``count`` of ``urls`` spread evenly over them (all when there are fewer)."""
    if len(urls) <= count:
        return list(urls)
    step = len(urls) / count
    return [urls[int(i * step)] for i in range(count)]


class _Walker:
    def __init__(self, fetch: Fetch, hosts: set[str]) -> None:
        self.fetch, self.hosts, self.walk = fetch, hosts, Walk()

    def get(self, url: str) -> tuple[str, str | bytes] | None:
        if urlsplit(url).netloc not in self.hosts:
            return None  # the site only
        self.walk.fetched += 1
        got = self.fetch(url)
        if got is None:
            self.walk.failed.append(url)
        return got

    def level_pages(self, urls: Sequence[str], level: str) -> list[LevelPage]:
        out = []
        for url in urls:
            got = self.get(url)
            if got is not None:
                out.append(LevelPage(got[0], got[1]))
        self.walk.pages.setdefault(level, []).extend(out)
        return out


def walk_levels(
    spec: SourceSpec,
    pages: dict[str, list[LevelPage]],
    history: LevelHistory,
    rows: Mapping[str, Mapping[str, Any]],
    fetch: Fetch,
    minimum: float,
    *,
    sample: int = SAMPLE,
    max_pages: int = MAX_PAGES,
) -> Walk:
    """Follow the proposed level selectors from tonight's level ``pages`` (level name -> pages;
    the pages fetched are added to it) to up to ``sample`` item pages whose URL has a stored
    row in ``rows`` (URL -> row), fetched with ``fetch`` (see the module docstring)."""
    hosts = {urlsplit(p.url).netloc for level in pages.values() for p in level}
    walker = _Walker(fetch, hosts)
    levels = repair_levels(spec, pages, history, minimum)
    patch = proposed_levels(levels, minimum)
    for i, level in enumerate(spec.graph):
        tonight = pages.setdefault(level.name, [])
        if i + 1 < len(spec.graph):
            deeper = spec.graph[i + 1].name
            missing = max_pages - len(pages.get(deeper, []))
            if missing > 0:
                urls = spread(links_of(level, tonight, patch), missing)
                pages.setdefault(deeper, []).extend(walker.level_pages(urls, deeper))
                levels = repair_levels(spec, pages, history, minimum)
                patch = proposed_levels(levels, minimum)
            continue
        items = [u for u in links_of(level, tonight, patch) if u in rows]
        branch = list(tonight)
        for _ in range(max_pages):
            if len(items) >= sample or not tonight:
                break
            seen = {p.url for p in tonight}
            following = [u for u in next_urls(level, tonight[0], branch, patch) if u not in seen]
            branch = walker.level_pages(following[:1], level.name)
            if not branch:
                break
            tonight.extend(branch)
            items += [u for u in links_of(level, branch, patch) if u in rows and u not in items]
        for url in spread(items, sample):
            got = walker.get(url)
            if got is not None:
                row = rows.get(got[0]) or rows[url]
                walker.walk.items.append(KnownPage(got[0], got[1], row))
    walker.walk.levels = (
        repair_levels(spec, pages, history, minimum) if walker.walk.pages else levels
    )
    return walker.walk
