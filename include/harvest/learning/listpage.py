"""A list page's structure, found from its HTML alone: the links that lead to item pages, the
repeated cards that hold them, and the link to the next page (for ``harvest init``).

Item links: the page's ``<a href>`` on the page's own host are grouped by where they sit (the
link's tag and classes under its two nearest ancestors' tags and classes); pagination links
(``rel=next/prev``, a number, "next", "»") are left out. Each group with at least
:data:`MIN_ITEMS` distinct URLs is scored by its distinct URLs times the text its cards carry
(a card: the highest ancestor of a link holding no other item URL), so a product grid beats a
sidebar of bare category links. Selectors are the shortest CSS (classes first, then the parent's
classes, then tags) that selects exactly the group's links, checked on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from parsel import Selector

from harvest.text import collapse_whitespace, fold

MIN_ITEMS = 3
NEXT_WORDS = frozenset(
    {"next", "next page", "next »", "next \u203a", "\u203a", "»", ">", "weiter", "nächste seite",
     "suivant", "page suivante", "siguiente", "successivo", "volgende", "older posts", "more"}
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z_][\w-]*$")


@dataclass(frozen=True)
class ListStructure:
    """What a list page shows: ``links`` (CSS of the links to item pages, inside each card when
    ``cards`` is set; ``None``: the cards are the records), ``next_page`` (CSS of the link to the next page, or ``None``), and the
    absolute item URLs and next-page URL found with them on this page."""

    links: str | None
    cards: str | None
    next_page: str | None
    item_urls: tuple[str, ...]
    next_url: str | None
    pages: str | None = None
    """The ``template`` of numbered pages (``?page={page}``) when there is no next link."""
    recurse: str | None = None
    """CSS of the links to deeper pages of this same level (sub-categories), when set."""
    scroll: Mapping[str, str] | None = field(default=None, compare=False)
    """The level's ``scroll`` keys when its page loads more cards as it is scrolled (``{}``) or
    a button is clicked (``{"load_more": css}``)."""
    bare_links: str | None = None
    """CSS of the item links on the whole page, for a level with ``cards`` that reads no field
    from them (a category tree's: an item listed in two categories is then one record)."""


def _part(element: object, classes: bool = True) -> str:
    """``tag.class.class`` (classes that are CSS names), or the bare tag."""
    tag = str(element.tag)  # type: ignore[attr-defined]
    names = [c for c in (element.get("class") or "").split() if _NAME.match(c)]  # type: ignore[attr-defined]
    return f"{tag}." + ".".join(names) if classes and names else tag


def _absolute(page_url: str, href: str | None) -> str | None:
    if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
        return None
    url = urldefrag(urljoin(page_url, href.strip()))[0]
    return url if urlsplit(url).scheme in ("http", "https") else None


def _is_pagination(element: object, text: str | None) -> bool:
    rel = (element.get("rel") or "").lower().split()  # type: ignore[attr-defined]
    words = fold(text) or ""
    return bool({"next", "prev", "previous"} & set(rel)) or words.isdigit() or words in NEXT_WORDS


def link_groups(selector: Selector, url: str) -> dict[str, list[tuple[object, str]]]:
    """The page's links to other pages of its host (not pagination), ``(element, absolute
    URL)``, grouped by where they sit (:func:`_signature`), in the page's order."""
    groups: dict[str, list[tuple[object, str]]] = {}
    for element, target in _links(selector, url):
        groups.setdefault(_signature(element), []).append((element, target))
    return groups


def group_score(members: list[tuple[object, str]]) -> float:
    """How much a group of links looks like a page's item links: its distinct URLs times the
    text its cards carry (less when it links one page twice)."""
    distinct = {target for _, target in members}
    cards = _cards(members)
    score = len(distinct) * (1 + sum(_text_size(c) for c in cards) / len(cards))
    return score * (1 if len(distinct) == len(members) else 0.8)


def _links(selector: Selector, url: str) -> Iterable[tuple[object, str]]:
    """Every ``<a href>`` in the body leading to another page of the same host (not pagination)."""
    host = urlsplit(url).netloc
    for anchor in selector.xpath("//body//a[@href]"):
        element = anchor.root
        target = _absolute(url, element.get("href"))
        if target is None or urlsplit(target).netloc != host or target == urldefrag(url)[0]:
            continue
        if _is_pagination(
            element, collapse_whitespace(" ".join(anchor.xpath(".//text()").getall()))
        ):
            continue
        yield element, target


def _signature(element: object) -> str:
    parts = [_part(element)]
    node = element.getparent()  # type: ignore[attr-defined]
    for _ in range(2):
        if node is None or node.tag in ("body", "html"):
            break
        parts.append(_part(node))
        node = node.getparent()
    return " > ".join(reversed(parts))


def _card(link: object, urls_under: dict[object, set[str]]) -> object:
    """The highest ancestor of ``link`` that holds no other item URL (the link itself at least)."""
    card = link
    node = link.getparent()  # type: ignore[attr-defined]
    while node is not None and node.tag not in ("body", "html") and len(urls_under[node]) <= 1:
        card, node = node, node.getparent()
    return card


def _cards(members: list[tuple[object, str]]) -> list[object]:
    """Each link's card: its highest ancestor holding no other URL of the same group."""
    urls_under: dict[object, set[str]] = {}
    for element, target in members:
        node = element.getparent()  # type: ignore[attr-defined]
        while node is not None:
            urls_under.setdefault(node, set()).add(target)
            node = node.getparent()
    return [_card(element, urls_under) for element, _ in members]


def _text_size(element: object) -> int:
    return len(collapse_whitespace(" ".join(element.itertext())) or "")  # type: ignore[attr-defined]


def _selects(selector: Selector, css: str, wanted: set[object]) -> bool:
    try:
        found = {m.root for m in selector.css(css)}
    except Exception:  # a selector parsel cannot compile is no candidate
        return False
    return found == wanted


def _css_for(selector: Selector, elements: list[object]) -> str | None:
    """The shortest CSS selecting exactly ``elements`` on the page (classes, then the parent's)."""
    wanted = set(elements)
    first = elements[0]
    parent = first.getparent()  # type: ignore[attr-defined]
    grand = parent.getparent() if parent is not None else None
    tries = [_part(first)] if _part(first) != first.tag else []  # type: ignore[attr-defined]
    if parent is not None:
        tries += [f"{_part(parent)} > {_part(first)}", f"{_part(parent)} > {_part(first, False)}"]
        if grand is not None:
            tries.append(f"{_part(grand)} > {_part(parent)} > {_part(first)}")
    for css in dict.fromkeys(tries):
        if _selects(selector, css, wanted):
            return css
    return None


def _inner_css(cards: list[object], links: list[object]) -> str:
    """CSS of a card's item link, looked up inside the card: the link's classes, or its tag
    under its parent's classes, or ``a``."""
    own = _part(links[0])
    if own != "a":
        return own
    parent = links[0].getparent()  # type: ignore[attr-defined]
    if parent is not None and parent not in cards:
        return f"{_part(parent)} a"
    return "a"


def next_page(selector: Selector, url: str) -> tuple[str, str] | None:
    """``(css, absolute URL)`` of the link to the next page: ``rel=next``, a class naming
    "next" on the link or its parent, or a link reading "next"/"»" (:data:`NEXT_WORDS`)."""
    for anchor in selector.xpath("//body//a[@href]"):
        element = anchor.root
        target = _absolute(url, element.get("href"))
        if target is None or target == urldefrag(url)[0]:
            continue
        rel = (element.get("rel") or "").lower().split()
        text = fold(collapse_whitespace(" ".join(anchor.xpath(".//text()").getall()))) or ""
        parent = element.getparent()
        tries = []
        if "next" in rel:
            tries.append("a[rel~=next]")
        if "next" in (element.get("class") or "").lower().split():
            tries.append(f"{_part(element)}")
        if parent is not None and "next" in (parent.get("class") or "").lower().split():
            tries.append(f"{_part(parent)} > a")
        if text in NEXT_WORDS or "next" in (element.get("aria-label") or "").lower():
            tries.append(f"{_part(element)}")
        for css in tries:
            found = {_absolute(url, m.attrib.get("href")) for m in selector.css(css)}
            if found == {target}:
                return css, target
    return None


def find_structure(url: str, html: str) -> ListStructure | None:
    """The item links, cards and next page of list page ``url`` (see the module docstring), or
    ``None`` when no group of at least :data:`MIN_ITEMS` item links is found there."""
    selector = Selector(text=html)
    best: tuple[float, list[tuple[object, str]]] | None = None
    for members in link_groups(selector, url).values():
        if len({target for _, target in members}) < MIN_ITEMS:
            continue
        score = group_score(members)
        if best is None or score > best[0]:
            best = (score, members)
    if best is None:
        return None
    return structure_of(selector, url, best[1])


def structure_of(selector: Selector, url: str, members: list[tuple[object, str]]) -> ListStructure:
    """The list structure of page ``url`` whose item links are ``members``: the cards holding
    them (when each link has its own), the CSS of both, and the next page."""
    cards = _cards(members)
    elements = [element for element, _ in members]
    item_urls = tuple(dict.fromkeys(target for _, target in members))
    card_css = None
    if all(c is not e for c, e in zip(cards, elements, strict=True)) and len(set(cards)) == len(
        cards
    ):
        card_css = _css_for(selector, cards)
    if card_css is not None:
        link_css = _inner_css(cards, elements)
    else:
        link_css = _css_for(selector, elements) or _signature(elements[0])
    found = next_page(selector, url)
    return ListStructure(
        links=link_css,
        cards=card_css,
        next_page=found[0] if found else None,
        item_urls=item_urls,
        next_url=found[1] if found else None,
    )
