"""A list page whose repeated cards (or table rows) are the records themselves, with no link to
an item page (for ``harvest init``): ``<div class="row" id="p01"><b>Paged item 1</b></div>``,
``<table><tr><td>Country A</td><td>1037</td></tr>``.

The cards: the largest group (count times text) of at least :data:`~.listpage.MIN_ITEMS`
siblings of the same tag and classes, each showing text, outside ``nav``/``header``/``footer``,
that shows at least :data:`SHARE` of the page's text (scripts aside) and are no rows of a label (``<th>``)
and a value: not an item page's details;
their CSS is the shortest that selects exactly them (:func:`.listpage._css_for`). The fields, all
``from: card``: the card's own ``id``/``data-*`` attribute (``::attr(id)``), a table column by
its header (``header: Population``), every value element inside the card by its classes or
attribute (:func:`.itemfields.element_candidates`) and by its tag path (``b``,
``span:nth-of-type(2)``), named from its label, ``itemprop``, classes around it or its kind
(:mod:`.naming`). A candidate is kept when it reads a value on at least
:data:`PRESENCE` of the cards, at most one node per card, differs from card to card and reads
values no kept candidate already reads. The key is a field named like an id, else the first
field with a different value on every card.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from parsel import Selector

from harvest.learning.cardfields import own_attributes
from harvest.learning.draft import _KEY_NAME, Draft, spec_text
from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import (
    _CSS_NAME,
    PRIORITY,
    DraftField,
    _is_value_element,
    _text,
    element_candidates,
    field_values,
    snake,
)
from harvest.learning.listpage import MIN_ITEMS, ListStructure, next_page
from harvest.learning.listpage import _css_for as css_for
from harvest.learning.listpage import _part as part
from harvest.learning.naming import element_name, is_layout, kind_name
from harvest.selection import Page
from harvest.text import collapse_whitespace, fold

PRESENCE = 0.5
SHARE = 0.5
"""The least share of the page's text its cards must show to be the page's records."""
_NOT_CARDS = frozenset({"th", "td", "dt", "dd", "option", "br"})
_CHROME = frozenset({"nav", "header", "footer", "head", "script", "style", "select", "form"})


def find_cards(html: str) -> tuple[str, int] | None:
    """``(css, count)`` of the cards of a page whose repeated elements carry the records (see
    the module docstring); ``None`` when no group of :data:`MIN_ITEMS` such siblings is found."""
    selector = Selector(text=html)
    body = selector.root.find("body")
    best: tuple[float, list[Any]] | None = None
    for parent in (body if body is not None else selector.root).iter():
        if not isinstance(parent.tag, str) or parent.tag in _CHROME:
            continue
        if any(a.tag in _CHROME for a in parent.iterancestors()):
            continue
        groups: dict[str, list[Any]] = {}
        for child in parent:
            if isinstance(child.tag, str) and _text(child):
                groups.setdefault(part(child), []).append(child)
        for members in groups.values():
            if len(members) < MIN_ITEMS or members[0].tag in _NOT_CARDS:
                continue
            if all(len(m) and m[0].tag in ("th", "dt") for m in members):
                continue  # rows of a label and a value: an item page's details
            texts = [_text(m) or "" for m in members]
            if len(set(texts)) < len(texts) / 2:
                continue  # the same text repeated: decoration, not records
            score = len(members) * (1 + sum(map(len, texts)) / len(texts))
            if best is None or score > best[0]:
                best = (score, members)
    root = body if body is not None else selector.root
    if best is None or _shown(best[1]) < SHARE * _shown([root]):
        return None  # a few repeated rows on a page of other text: an item page's details
    css = css_for(selector, best[1])
    return (css, len(best[1])) if css else None


def _shown(elements: list[Any]) -> int:
    """The text the elements show (a script's or style's text is not shown)."""
    visible = "text()[not(ancestor::script or ancestor::style or ancestor::noscript)]"
    return sum(
        len(collapse_whitespace(" ".join(e.xpath(f"descendant-or-self::*/{visible}"))) or "")
        for e in elements
    )


def _headers(selector: Selector, cards_css: str) -> Iterable[tuple[str, dict[str, str]]]:
    for header in selector.css(cards_css).xpath("ancestor::table[1]//tr[th][1]/th"):
        text = _text(header.root)
        if text:
            yield snake(text), {"header": text}


def _path(card: Any, element: Any) -> str:
    steps = []
    node = element
    while node is not None and node is not card:
        parent = node.getparent()
        step = part(node)
        same = [c for c in parent if c.tag == node.tag] if parent is not None else [node]
        if step == node.tag and len(same) > 1:
            step += f":nth-of-type({same.index(node) + 1})"
        steps.append(step)
        node = parent
    return " > ".join(reversed(steps))


def _paths(card: Selector) -> Iterable[tuple[str, dict[str, str]]]:
    """Each value element of ``card`` by its tag path, named by what is around it
    (:func:`.naming.element_name`; ``""``: nothing, named from its values later)."""
    for element in card.root.iterdescendants():
        if isinstance(element.tag, str) and _text(element) and _is_value_element(element):
            yield element_name(card.root, element) or "", {"css": _path(card.root, element)}


def _tag(css: str) -> str:
    """The tag of a tag path's last step (``div > b:nth-of-type(2)`` -> ``b``)."""
    return re.split(r"[.#:\[]", css.split(" > ")[-1], maxsplit=1)[0]


def record_fields(url: str, html: str, cards_css: str) -> list[DraftField]:
    """The ``from: card`` fields of the cards ``cards_css`` of page ``url`` (module docstring)."""
    selector = Selector(text=html)
    page = Page(selector, url)
    cards = list(selector.css(cards_css))
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    candidates: list[tuple[str, str, dict[str, str]]] = [
        ("attribute", n, s) for _, n, s in own_attributes(cards[0])
    ]
    candidates += [("label", n, s) for n, s in _headers(selector, cards_css)]
    for card in cards:
        candidates += [
            (how, name, spec)
            for how, name, spec in element_candidates(card, inside=True)
            if how in ("attribute", "class")
        ]
        candidates += [("card", n, s) for n, s in _paths(card)]
    for how, name, spec in candidates:
        if all(_CSS_NAME.match(k) for k in spec):
            found.setdefault(repr(sorted(spec.items())), (how, name, spec))
    ranked = sorted(found.values(), key=lambda c: PRIORITY[c[0]])
    out: list[DraftField] = []
    names: set[str] = set()
    for how, name, spec in ranked:
        values = field_values("card", {"from": "card", **spec}, [(c, page) for c in cards])
        if values is None:
            continue
        present = [fold(v) for v in values if v is not None]
        if len(present) < PRESENCE * len(cards) or len(set(present)) < 2:
            continue
        folded = [fold(v) if v else None for v in values]
        if any(folded == [fold(v) if v else None for v in k.values] for k in out):
            continue
        guess = guess_kind(values)
        if not name or (how == "class" and is_layout(name)):  # a class saying how it looks
            name = kind_name(guess.kind, _tag(spec.get("css", "")))
        unique, number = name, 2
        while unique in names:
            unique, number = f"{name}_{number}", number + 1
        names.add(unique)
        out.append(DraftField(unique, {"from": "card", **spec}, "card", values, guess))
    return out


def record_key(fields: list[DraftField]) -> str | None:
    """The key field's name: one named like an id, else the first with a value on every card,
    each different; ``None`` when no field differs on every card."""
    unique = [
        f.name for f in fields if None not in f.values and len(set(f.values)) == len(f.values)
    ]
    named = [n for n in unique if _KEY_NAME.search(n)]
    return (named + unique + [None])[0]


def records_structure(url: str, html: str) -> ListStructure | None:
    """The list structure of a page whose cards are the records (no ``links``; its next page
    when it links one), or ``None`` when it has no such cards."""
    found = find_cards(html)
    if found is None:
        return None
    following = next_page(Selector(text=html), url)
    return ListStructure(
        links=None,
        cards=found[0],
        next_page=following[0] if following else None,
        item_urls=(),
        next_url=following[1] if following else None,
    )


def draft_records(
    url: str,
    html: str,
    structure: ListStructure,
    *,
    name: str | None = None,
    today: dt.date | None = None,
) -> Draft:
    """The spec of list page ``url`` whose cards (``structure.cards``) are the records: one
    level without links, every field ``from: card``."""
    if structure.cards is None:
        raise ValueError(f"{url}: no cards to draft the records from")
    fields = record_fields(url, html, structure.cards)
    if not fields:
        raise ValueError(f"{url}: the cards {structure.cards!r} show no value that differs")
    key = record_key(fields)
    notes = [f"the cards {structure.cards!r} link no item page: each card is a record"]
    if key is None:
        key = fields[0].name
        notes.append(f"no field differs on every card: the key {key} is a guess, check it")
    text, spec = spec_text(url, structure, fields, name=name, today=today, key=key)
    for draft in fields:
        if draft.presence < 1:
            seen = sum(v is not None for v in draft.values)
            notes.append(f"field {draft.name}: a value on {seen} of {len(draft.values)} cards only")
    return Draft(text, spec, fields, structure, notes)
