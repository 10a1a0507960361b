"""Fields only a list page's cards show (``from: card``), for ``harvest init``.

The candidates of each card are its own ``id``/``data-*`` attributes, those of an item page
(:func:`.itemfields.element_candidates`, looked up inside the card) plus a class that varies beside a constant one
(``<p class="star-rating Three">``: ``p.star-rating::attr(class)`` with the regex
``star-rating (\\S+)``). Each is run through Harvest's extraction on every card and kept when it
matches at most one node per card, reads a value on at least :data:`PRESENCE` of the cards (a
badge on some products) and differs from card to card; a candidate whose value the item page
already shows (a field drafted there reads the same on the sampled item the card links) is
left out (when no card links a sampled item: a value any sampled item page shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import (
    _CSS_NAME,
    DraftField,
    element_candidates,
    field_values,
    snake,
)
from harvest.selection import Page, hrefs
from harvest.text import fold

PRESENCE = 0.1


def _class_candidates(card: Selector) -> Iterable[tuple[str, str, dict[str, str]]]:
    for element in card.root.iter():
        classes = [c for c in (element.get("class") or "").split() if _CSS_NAME.match(c)]
        if len(classes) == 2:
            first = classes[0]
            yield (
                "card",
                snake(first),
                {"css": f"{element.tag}.{first}::attr(class)", "regex": f"{first} (\\S+)"},
            )


def own_attributes(card: Selector) -> Iterable[tuple[str, str, dict[str, str]]]:
    """The card's own ``id`` and ``data-*`` attributes (``<div class="quote" data-id="q01">``:
    ``::attr(data-id)``, named ``id``)."""
    for attr, value in card.root.attrib.items():
        if (attr == "id" or attr.startswith("data-")) and value:
            name = "id" if attr == "id" else snake(attr.removeprefix("data-"))
            yield "card", name, {"css": f"::attr({attr})"}


def card_fields(
    url: str,
    html: str,
    cards_css: str,
    links_css: str,
    item_fields: Sequence[DraftField],
    item_urls: Sequence[str],
) -> list[DraftField]:
    """The ``from: card`` fields of list page ``url`` whose cards are ``cards_css`` (their item
    link ``links_css``); ``item_fields``: the fields drafted on the item pages ``item_urls``."""
    selector = Selector(text=html)
    page = Page(selector, url)
    cards = list(selector.css(cards_css))
    if len(cards) < 2:
        return []
    links = [hrefs(card.css(links_css))[:1] for card in cards]
    urls = [urljoin(url, h[0]) if h else None for h in links]
    sampled = {u: i for i, u in enumerate(item_urls)}
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    for card in cards:
        inside = element_candidates(card, inside=True)
        for how, name, spec in [*own_attributes(card), *inside, *_class_candidates(card)]:
            if how in ("label", "id"):
                continue
            key = ", ".join(f"{k}: {v}" for k, v in spec.items())
            found.setdefault(key, ("card", name, spec))
    shown_anywhere = {fold(v) for f in item_fields for v in f.values if v is not None}

    def on_item_page(card: int, value: str) -> bool | None:
        """Whether the sampled item page this card links shows ``value`` (None: not sampled)."""
        at = sampled.get(urls[card] or "")
        if at is None:
            return None
        return any(fold(f.values[at]) == fold(value) for f in item_fields if f.values[at])

    out: list[DraftField] = []
    taken: list[tuple[str | None, ...]] = []
    for _, name, spec in found.values():
        values = field_values("card", {"from": "card", **spec}, [(c, page) for c in cards])
        if values is None:
            continue
        present = [v for v in values if v is not None]
        if len(present) < max(2, PRESENCE * len(cards)):
            continue
        if len({fold(v) for v in present}) < 2 and len(present) == len(cards):
            continue  # the same on every card: a button, not a field (a badge on some stays)
        seen = [on_item_page(i, v) for i, v in enumerate(values) if v is not None]
        judged = [s for s in seen if s is not None]
        if judged and sum(judged) > len(judged) / 2:
            continue  # the item page shows it: a field there reads it
        if not judged and any(fold(v) in shown_anywhere for v in present):
            continue  # no card of a sampled item: a value some item page shows is not kept
        if values in taken:
            continue
        taken.append(values)
        selector_keys: dict[str, Any] = {"from": "card", **spec}
        out.append(DraftField(name, selector_keys, "card", values, guess_kind(values)))
    return out
