"""Level selectors repaired for the ``repair`` command: each level's ``cards``, ``links`` and
``next_page`` checked against the URLs the level led to before (an earlier raw partition's
``listing`` of each list page, and the item URLs the warehouse holds), and learned again with
:mod:`harvest.learning.levels` when they no longer lead there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parsel import Selector

from harvest.config.selectors import SelectorSpec
from harvest.config.spec import SourceSpec
from harvest.learning.candidates import Candidate, KnownPage, _text
from harvest.learning.levels import (
    LevelPage,
    Query,
    _absolute,
    check_level,
    learn_cards,
    learn_links,
    run,
)
from harvest.selection import hrefs
from harvest.storage.raw import RawDocument


@dataclass(frozen=True)
class LevelRepair:
    """One level selector (``key``: ``links``, ``next_page``, ``cards``) of level ``level``:
    its own check (``now``) and, when it fails, the learned ranking."""

    level: str
    key: str
    now: Candidate
    candidates: tuple[Candidate, ...] = ()
    broken: bool = True

    @property
    def name(self) -> str:
        return f"{self.level}.{self.key}"


@dataclass
class LevelHistory:
    """What the crawl saw of each level before (level name -> URLs): where its links led
    (``links``, with the item URLs the warehouse holds for the last level) and its pages after
    the first of a branch (``next_pages``)."""

    links: dict[str, set[str]]
    next_pages: dict[str, set[str]]


def level_history(
    spec: SourceSpec, docs: Iterable[RawDocument], items: Iterable[str]
) -> LevelHistory:
    """:class:`LevelHistory` from an earlier night's raw ``docs`` (their ``listing``) and the
    item URLs stored before (``items``)."""
    history = LevelHistory({}, {})
    for doc in docs:
        listing = doc.listing or {}
        level = listing.get("level")
        if doc.page_type != "index" or not level or doc.error:
            continue
        history.links.setdefault(level, set()).update(listing.get("links") or ())
        if listing.get("branch") and listing["branch"] != doc.url:
            history.next_pages.setdefault(level, set()).add(doc.url)
    if spec.graph:
        history.links.setdefault(spec.graph[-1].name, set()).update(items)
    return history


def level_pages(docs: Iterable[RawDocument]) -> dict[str, list[LevelPage]]:
    """Tonight's fetched level pages by level name."""
    out: dict[str, list[LevelPage]] = {}
    for doc in docs:
        level = (doc.listing or {}).get("level")
        if doc.page_type == "index" and level and doc.body and not doc.error:
            out.setdefault(level, []).append(LevelPage(doc.final_url or doc.url, doc.body))
    return out


def query(selector: SelectorSpec | None) -> Query | None:
    """A level selector as checked: its CSS, or ``{"xpath": ...}``; ``None`` for none, or
    one that reads JSON or metadata (not checked)."""
    if selector is None or selector.jmespath is not None or selector.metadata is not None:
        return None
    return selector.css if selector.css is not None else {"xpath": str(selector.xpath)}


def _usable(ranked: Sequence[Candidate], now: Candidate, minimum: float) -> bool:
    return bool(ranked) and ranked[0].agreement >= minimum and ranked[0].agreed > now.agreed


def repair_levels(
    spec: SourceSpec,
    pages: dict[str, list[LevelPage]],
    history: LevelHistory,
    minimum: float,
) -> list[LevelRepair]:
    """Each level's ``cards`` and ``links`` (CSS or XPath) checked against the URLs seen before
    and learned again (as CSS) below ``minimum``; ``next_page`` learned again when it matches
    nothing tonight. A level without pages tonight or without history is not checked."""
    out = []
    for level in spec.graph:
        tonight = pages.get(level.name) or []
        known = history.links.get(level.name) or set()
        cards = query(level.cards)
        if not tonight:
            continue
        if cards is not None and known:
            now = check_level(f"{level.name}.cards", tonight, known, cards, key="cards")
            ranked = learn_cards(now.field, tonight, known) if now.agreement < minimum else []
            out.append(LevelRepair(level.name, "cards", now, tuple(ranked), bool(ranked)))
            if _usable(ranked, now, minimum):
                cards = ranked[0].selector["css"]
        for key, urls in (("links", known), ("next_page", history.next_pages.get(level.name))):
            selector = query(getattr(level, key))
            if selector is None or not urls:
                continue
            scope = cards if key == "links" else None
            name = f"{level.name}.{key}"
            now = check_level(name, tonight, urls, selector, key=key, cards=scope)
            broken = now.agreement < minimum if key == "links" else not now.agreed
            ranked = learn_links(name, tonight, urls, key=key, cards=scope) if broken else []
            out.append(LevelRepair(level.name, key, now, tuple(ranked), broken))
    return out


def proposed_levels(
    repairs: Sequence[LevelRepair], minimum: float
) -> dict[tuple[str, str], Candidate]:
    """The level selectors to patch: (level, key) -> the best candidate reaching ``minimum``."""
    return {
        (r.level, r.key): r.candidates[0] for r in repairs if _usable(r.candidates, r.now, minimum)
    }


def earlier_level_pages(store: Any, source: str, day: dt.date, days: int) -> list[RawDocument]:
    """The level pages of the newest partition among the ``days`` nights before ``day``."""
    for back in range(1, days + 1):
        docs = [
            d
            for d in store.read_partition(source, day - dt.timedelta(days=back))
            if d.page_type == "index"
        ]
        if docs:
            return docs
    return []


def card_pages(
    spec: SourceSpec,
    pages: Mapping[str, Sequence[LevelPage]],
    rows: Mapping[str, Mapping[str, Any]],
    level_patch: Mapping[tuple[str, str], Candidate],
) -> list[KnownPage]:
    """The cards of tonight's last-level pages as pages of their own (the card's HTML, under
    the URL of the one item page it links), with the row stored for that URL: what the
    ``from: card`` fields are checked and learned on. The cards and links selectors are the
    proposed ones where a patch has them, else the spec's."""
    if not spec.graph:
        return []
    last = spec.graph[-1]
    cards = level_patch.get((last.name, "cards"))
    links = level_patch.get((last.name, "links"))
    cards_query = cards.selector["css"] if cards else query(last.cards)
    links_query = links.selector["css"] if links else query(last.links)
    if cards_query is None or links_query is None:
        return []
    out = []
    for page in pages.get(last.name, ()):
        for card in run(Selector(text=_text(page.body)), cards_query):
            urls = {_absolute(page.url, href) for href in hrefs(run(card, links_query))}
            url = urls.pop() if len(urls) == 1 else None
            if url is not None and url in rows:
                out.append(KnownPage(url, card.get(), rows[url]))
    return out
