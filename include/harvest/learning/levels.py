"""Level selectors from the URLs seen before: candidate ``links``, ``next_page`` and ``cards``
selectors of a crawl level, derived from the links of tonight's level pages that lead where
the same level led the nights before, verified on every page and ranked by agreement.

Input: tonight's pages of one level (:class:`LevelPage`) and the URLs that level's links (or
its next pages) reached before (``known``: the raw store's ``listing.links`` of the level's
pages, the item URLs the warehouse holds). A link *agrees* when its URL was seen before or has
the *shape* of one (:func:`url_shape`: digits read as ``#``, so tonight's new listing
``/listing/L-20261127-0003`` has the shape of last night's ``/listing/L-20261126-0001``); the
links a page shows that agree form the page's *expected* set. A candidate's agreement is, over
all pages, the links it matches that agree divided by the union of what it matches and what
was expected (every link it misses and every other link it takes count against it), so ``a``
(every link, the menu's too) and a selector that finds half the links both rank below one that
finds exactly the listed items. Cards: blocks that hold exactly one expected URL, against the
cards that hold none or several and the expected links outside every card; each card's link is
then the card's link candidate. A spec's own selector may be CSS or XPath (it is checked as it
is); only CSS is proposed (``index:`` takes CSS alone), written in the XPath's place.

Next pages: a candidate must match the next link alone. A link that goes back (to a page of a
lower number, or to the first page, which has none: :func:`page_step`) counts against it, so
``div.pager a``, which takes the numbers of earlier pages too (and page 1 again as ``?page=1``),
ranks below ``a[rel="next"]``, the link named "next" (``a:contains("next")``) or the one after
the current page's marker (``span.current + a``). A last page, whose pager only goes back,
agrees with a candidate that matches nothing there and counts for no candidate.

Values that change overnight (new items whose URLs have another shape) lower the agreement
instead of producing a wrong selector: the caller proposes nothing below its minimum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin

from parsel import Selector, SelectorList

from harvest.learning.candidates import Candidate, Example, _css_part, _text
from harvest.selection import hrefs

LEVEL_KEYS = ("links", "next_page", "cards")
"""The level selectors that are repaired (``recurse`` and ``pages`` are left as they are)."""
MAX_ANCESTORS = 5
MAX_NEXT_TEXT = 20
"""The longest link text a ``next_page`` candidate is written with (``a:contains("Next »")``)."""
"""How far up from a link its containers are looked at (cards, ``div.results a``)."""
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class LevelPage:
    """One page of a crawl level as fetched tonight (``body``: its HTML)."""

    url: str
    body: str | bytes


def url_shape(url: str) -> str:
    """``url`` with every run of digits as ``#``: what the URLs of one kind of page share."""
    return _DIGITS.sub("#", urldefrag(url)[0])


def _absolute(page_url: str, href: str | None) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "#")):
        return None
    return urldefrag(urljoin(page_url, href))[0]


Query = str | Mapping[str, str]
"""A level selector: CSS, or ``{"css": ...}`` / ``{"xpath": ...}`` (a spec's own may be XPath)."""


def run(scope: Selector, query: Query) -> SelectorList[Selector]:
    """The matches of ``query`` in ``scope`` (a page or a card)."""
    if isinstance(query, str):
        return scope.css(query)
    return scope.css(query["css"]) if "css" in query else scope.xpath(query["xpath"])


def _links(page_url: str, matches: SelectorList[Selector]) -> set[str]:
    return {u for href in hrefs(matches) if (u := _absolute(page_url, href)) is not None}


@dataclass
class _Parsed:
    url: str
    selector: Selector
    expected: set[str]
    anchors: list[tuple[object, str]]  # (element, absolute URL) of the links that agree


class _Known:
    def __init__(self, known: Iterable[str]) -> None:
        self.urls = {urldefrag(u)[0] for u in known}
        self.shapes = {url_shape(u) for u in self.urls}

    def agrees(self, url: str) -> bool:
        return url in self.urls or url_shape(url) in self.shapes


def _parse(pages: Sequence[LevelPage], known: _Known) -> list[_Parsed]:
    out = []
    for page in pages:
        selector = Selector(text=_text(page.body))
        anchors = []
        for element in selector.root.iter("a"):
            url = _absolute(page.url, element.get("href"))
            if url is not None and url != page.url and known.agrees(url):
                anchors.append((element, url))
        out.append(_Parsed(page.url, selector, {u for _, u in anchors}, anchors))
    return out


def _link_selectors(element: object, stop: object = None) -> list[tuple[str, str]]:
    """Candidate CSS of one link (``how``, css), most stable first; ``stop``: the card, whose
    insides are the only scope (its own part is not written)."""
    out: list[tuple[str, str]] = []
    tag = element.tag  # type: ignore[attr-defined]
    attrib = element.attrib  # type: ignore[attr-defined]
    for name in ("rel", "itemprop"):
        if attrib.get(name) and '"' not in attrib[name]:
            out.append(("attribute", f'{tag}[{name}="{attrib[name]}"]'))
    part = _css_part(element)
    if part:
        out.append(("class", part))
    href = attrib.get("href", "")
    if href.startswith("/") and href.count("/") >= 2:
        prefix = href[: href.index("/", 1) + 1]
        out.append(("href", f'{tag}[href^="{prefix}"]'))
    node, steps = element, [tag]
    for _ in range(MAX_ANCESTORS):
        node = node.getparent()  # type: ignore[attr-defined]
        if node is None or node is stop or node.tag in ("body", "html"):
            break
        part = _css_part(node)
        if part:
            out.append(("class", f"{part} {tag}"))
            out.append(("path", " > ".join([part, *reversed(steps)])))
            break
        steps.append(node.tag)
    if stop is not None:
        out.append(("path", tag))
    return out


def _next_selectors(element: Any) -> list[tuple[str, str]]:
    """More candidate CSS of a next page's link: the link right after the element marking the
    current page (not a link, its text the page's number: ``span.current + a``, ``li.active +
    li > a``), or the link by its text (``a:contains("Next")``)."""
    out: list[tuple[str, str]] = []
    tag, parent = element.tag, element.getparent()
    for node, written in ((element, tag), (parent, f"{getattr(parent, 'tag', '')} > {tag}")):
        before = node.getprevious() if node is not None else None
        if before is None or not isinstance(before.tag, str) or before.tag == "a":
            continue
        part = _css_part(before)
        number = "".join(before.itertext()).strip()
        if part and number.isdigit() and part != _css_part(node) and before.find(".//a") is None:
            out.append(("attribute", f"{part} + {written}"))
    text = " ".join("".join(element.itertext()).split())
    if text and len(text) <= MAX_NEXT_TEXT and not text.isdigit() and not set(text) & set('"\\'):
        out.append(("path", f'{tag}:contains("{text}")'))
    return out


def _card_selectors(element: object) -> list[tuple[str, str]]:
    """Candidate CSS of the blocks around one link that may be its card."""
    out: list[tuple[str, str]] = []
    node = element
    for _ in range(MAX_ANCESTORS):
        node = node.getparent()  # type: ignore[attr-defined]
        if node is None or node.tag in ("body", "html"):
            break
        part = _css_part(node)
        if part:
            out.append(("class", part))
        parent = node.getparent()
        parent_part = _css_part(parent) if parent is not None else None
        if parent_part:
            out.append(("path", f"{parent_part} > {node.tag}"))
    return out


def _verify(
    candidate: Candidate, pages: Sequence[_Parsed], scope: Query | None = None
) -> Candidate:
    """Links: what ``candidate`` matches against each page's expected links (see the module
    docstring); with ``scope`` (a card selector), per card against the card's one link."""
    agreed = total = 0
    good: list[Example] = []
    bad: list[Example] = []
    for page in pages:
        units = (
            [(page.selector, page.expected)]
            if scope is None
            else [(card, _inside(card, page)) for card in run(page.selector, scope)]
        )
        for unit, expected in units:
            matched = _links(page.url, run(unit, candidate.selector))
            hits = matched & expected
            agreed += len(hits)
            total += len(matched | expected)
            for url in sorted(matched - expected)[:2]:
                bad.append(Example(page.url, "(not a link seen before)", url, False))
            for url in sorted(expected - matched)[:2]:
                bad.append(Example(page.url, url, None, False))
            good.extend(Example(page.url, url, url, True) for url in sorted(hits)[:1])
    return Candidate(
        candidate.field,
        candidate.selector,
        candidate.how,
        agreed,
        total,
        0,
        tuple(bad[:3] + good[: max(0, 5 - len(bad[:3]))]),
    )


def _inside(card: Selector, page: _Parsed) -> set[str]:
    urls = {_absolute(page.url, a.attrib.get("href")) for a in card.css("a")}
    return {u for u in urls if u in page.expected}


def _verify_cards(candidate: Candidate, pages: Sequence[_Parsed]) -> Candidate:
    """Cards: a card agrees when it holds exactly one expected URL; cards holding none or
    several, and expected URLs outside every card, count against."""
    agreed = total = 0
    examples: list[Example] = []
    for page in pages:
        covered: set[str] = set()
        for card in run(page.selector, candidate.selector):
            inside = _inside(card, page)
            covered |= inside
            total += 1
            if len(inside) == 1:
                agreed += 1
                if len(examples) < 3:
                    examples.append(Example(page.url, next(iter(inside)), "one link", True))
            elif len(examples) < 5:
                examples.insert(0, Example(page.url, "one link", f"{len(inside)} links", False))
        total += len(page.expected - covered)
    return Candidate(
        candidate.field, candidate.selector, candidate.how, agreed, total, 0, tuple(examples[:5])
    )


def page_step(page_url: str, url: str) -> int | None:
    """How many pages ``url`` is ahead of ``page_url`` when they differ by a page number only
    (``?page=3`` from ``?page=2``: 1); to the first page, which has no number (``/list/`` from
    ``/list/?page=2``), 1 minus the page's number; ``None`` when it cannot be told."""
    page, link = url_shape(page_url), url_shape(url)
    ours, theirs = _DIGITS.findall(urldefrag(page_url)[0]), _DIGITS.findall(urldefrag(url)[0])
    if page == link:
        moved = [int(b) - int(a) for a, b in zip(ours, theirs, strict=True) if a != b]
        return moved[0] if len(moved) == 1 else None
    if (
        page.startswith(link)
        and page[len(link) :].count("#") == 1
        and ours[: len(theirs)] == theirs
    ):
        return 1 - int(ours[len(theirs)])
    return None


def _verify_next(candidate: Candidate, pages: Sequence[_Parsed]) -> Candidate:
    """Next pages: a page that shows links of a known next page's shape agrees when the
    candidate matches at least one link there, every link it matches has such a shape, and
    none goes back (:func:`page_step`); a last page (all its links go back) where it matches
    nothing is not counted. ``multiple``: the pages where it matched more than one URL."""
    agreed = total = multiple = 0
    examples: list[Example] = []
    for page in pages:
        if not page.expected:
            continue
        matched = _links(page.url, run(page.selector, candidate.selector))
        back = {
            u for u in page.expected if (step := page_step(page.url, u)) is not None and step < 1
        }
        if not matched and page.expected <= back:
            continue
        total += 1
        multiple += len(matched) > 1
        agrees = bool(matched) and matched <= page.expected and not matched & back
        agreed += agrees
        shown = ", ".join(sorted(matched)[:2]) or None
        examples.append(Example(page.url, ", ".join(sorted(page.expected)[:2]), shown, agrees))
    examples.sort(key=lambda e: e.agrees)
    return Candidate(
        candidate.field,
        candidate.selector,
        candidate.how,
        agreed,
        total,
        multiple,
        tuple(examples[:5]),
    )


def _ranked(found: dict[str, Candidate], check: object, keep: int) -> list[Candidate]:
    """The ``keep`` best checked candidates; of two that agree alike, the one that matched
    more than one link on fewer pages (a next page's link alone, not every pager link)."""
    checked = [check(c) for c in found.values()]  # type: ignore[operator]
    return sorted(checked, key=lambda c: (c.rank()[0], c.multiple, *c.rank()[1:]))[:keep]


def learn_links(
    name: str,
    pages: Sequence[LevelPage],
    known: Iterable[str],
    *,
    key: str = "links",
    cards: Query | None = None,
    sample: int = 10,
    keep: int = 10,
) -> list[Candidate]:
    """Ranked CSS candidates for a level's ``links`` (or ``next_page``: ``key``; ``name`` labels
    them, ``"lists.links"``) on ``pages``, whose links should lead to ``known`` URLs or URLs of
    their shape; with ``cards``, the link is looked up inside each card. The ``keep`` best."""
    parsed = _parse(pages, _Known(known))
    found: dict[str, Candidate] = {}
    for page in parsed[:sample]:
        for element, _ in page.anchors:
            stop = None
            if cards is not None:
                stop = next(
                    (c.root for c in run(page.selector, cards) if element in c.root.iter("a")),
                    None,
                )
                if stop is None:
                    continue
            more = _next_selectors(element) if key == "next_page" else []
            for how, css in [*more, *_link_selectors(element, stop)]:
                found.setdefault(css, Candidate(name, {"css": css}, how))
    if key == "next_page":
        return _ranked(found, lambda c: _verify_next(c, parsed), keep)
    return _ranked(found, lambda c: _verify(c, parsed, cards), keep)


def learn_cards(
    name: str, pages: Sequence[LevelPage], known: Iterable[str], *, sample: int = 10, keep: int = 10
) -> list[Candidate]:
    """Ranked CSS candidates for a level's ``cards``: the blocks around the links to ``known``
    URLs (or URLs of their shape) that hold one such link each, the outermost first."""
    parsed = _parse(pages, _Known(known))
    found: dict[str, Candidate] = {}
    for page in parsed[:sample]:
        for element, _ in page.anchors:
            for how, css in _card_selectors(element):
                found.setdefault(css, Candidate(name, {"css": css}, how))
    checked = [_verify_cards(c, parsed) for c in found.values()]
    return sorted(checked, key=lambda c: (-c.agreement, -_size(c, parsed), *c.rank()))[:keep]


def _size(candidate: Candidate, pages: Sequence[_Parsed]) -> int:
    """How much the cards hold (elements in them, first page): of two blocks around each
    link that agree alike, the card is the outer one (the title's ``<h3>`` holds the link
    too, but not the price beside it)."""
    cards = run(pages[0].selector, candidate.selector) if pages else []
    return sum(len(card.root.xpath(".//*")) for card in cards)


def check_level(
    name: str,
    pages: Sequence[LevelPage],
    known: Iterable[str],
    query: Query,
    *,
    key: str = "links",
    cards: Query | None = None,
) -> Candidate:
    """How the level's own selector ``query`` (CSS, or ``{"xpath": ...}``; its ``key``:
    ``links``, ``next_page`` or ``cards``) agrees with ``known`` on ``pages``: the check a
    learned candidate gets."""
    parsed = _parse(pages, _Known(known))
    selector = {"css": query} if isinstance(query, str) else dict(query)
    candidate = Candidate(name, selector, "current")
    if key == "cards":
        return _verify_cards(candidate, parsed)
    if key == "next_page":
        return _verify_next(candidate, parsed)
    return _verify(candidate, parsed, cards)


__all__ = ["LEVEL_KEYS", "LevelPage", "check_level", "learn_cards", "learn_links", "url_shape"]
