"""``python -m harvest repair --source X --date D``: a spec patch from last night's values.

The night's stored item pages (the raw store's partition of ``D``) whose URL the warehouse
holds a row for from the nights before (the newest row within ``--days``, else the row of the
same key) are the pages with a known value. Each field of the spec is first checked as it is
(:func:`~harvest.learning.candidates.check_field`); a field that agrees on fewer than
``--minimum`` of its pages is learned again (:func:`~harvest.learning.candidates.learn_field`),
and the best candidates that reach ``--minimum`` make the proposed patch. The crawl levels'
``links``/``cards`` (and a ``next_page`` that matches nothing) are checked the same way against
the URLs the level led to in the newest earlier raw partition (and the item URLs stored), and
learned again (:mod:`~harvest.learning.levels`). The command prints each selector's agreement
now and proposed, examples, and the unified diff of the spec file; ``--apply`` writes the
patched spec, and nothing else ever does.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, load_specs
from harvest.config.spec.files import spec_files
from harvest.errors import HarvestError
from harvest.learning.candidates import Candidate, KnownPage, check_field, learn_field
from harvest.learning.levels import LevelPage, check_level, learn_cards, learn_links
from harvest.learning.patch import spec_patch
from harvest.storage.raw import RawDocument, open_raw_store
from harvest.storage.warehouse import open_warehouse


class RepairError(HarvestError, ValueError):
    """Nothing to learn from (no stored pages, no earlier values): says which source and date."""

    retryable = False


@dataclass(frozen=True)
class FieldRepair:
    """One field: its own selector's check (``now``) and, when it fails, the learned ranking."""

    name: str
    now: Candidate
    candidates: tuple[Candidate, ...] = ()


def previous_rows(history: pd.DataFrame, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest stored row per URL and per record key of ``history`` (oldest first)."""
    by_url: dict[str, Any] = {}
    by_key: dict[str, Any] = {}
    for row in history.to_dict("records"):
        by_url[str(row.get("url"))] = row
        if row.get(key) is not None:
            by_key[str(row[key])] = row
    return by_url, by_key


def known_pages(
    spec: SourceSpec, docs: Iterable[RawDocument], history: pd.DataFrame
) -> list[KnownPage]:
    """The item pages of ``docs`` with a body and a stored row (by URL, else by key)."""
    key = spec.detail.key
    by_url, by_key = previous_rows(history, key)
    pages = []
    for doc in docs:
        if doc.page_type != "detail" or not doc.body or doc.error:
            continue
        row = by_url.get(doc.url) or by_key.get(str((doc.fields or {}).get(key)))
        if row is not None:
            pages.append(KnownPage(doc.final_url or doc.url, doc.body, row))
    return pages


def repair_fields(
    spec: SourceSpec, pages: Sequence[KnownPage], minimum: float, fields: Iterable[str] = ()
) -> list[FieldRepair]:
    """Each single item-page field (or those named) checked, and learned again when it fails."""
    names = list(fields) or [
        n for n, f in spec.detail.fields.items() if f.from_ == "page" and not f.many
    ]
    out = []
    for name in names:
        field = spec.detail.fields[name]
        now = check_field(name, field, pages)
        ranked: tuple[Candidate, ...] = ()
        if now.pages and now.agreement < minimum:
            ranked = tuple(learn_field(name, field, pages))
        out.append(FieldRepair(name, now, ranked))
    return out


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


def _usable(ranked: Sequence[Candidate], now: Candidate, minimum: float) -> bool:
    return bool(ranked) and ranked[0].agreement >= minimum and ranked[0].agreed > now.agreed


def repair_levels(
    spec: SourceSpec,
    pages: dict[str, list[LevelPage]],
    history: LevelHistory,
    minimum: float,
) -> list[LevelRepair]:
    """Each level's CSS ``cards`` and ``links`` checked against the URLs seen before and learned
    again below ``minimum``; ``next_page`` learned again when it matches nothing tonight. A
    level without pages tonight or without history is not checked."""
    out = []
    for level in spec.graph:
        tonight = pages.get(level.name) or []
        known = history.links.get(level.name) or set()
        cards = level.cards.css if level.cards is not None else None
        if not tonight:
            continue
        if cards is not None and known:
            now = check_level(f"{level.name}.cards", tonight, known, cards, key="cards")
            ranked = learn_cards(now.field, tonight, known) if now.agreement < minimum else []
            out.append(LevelRepair(level.name, "cards", now, tuple(ranked), bool(ranked)))
            if _usable(ranked, now, minimum):
                cards = ranked[0].selector["css"]
        for key, urls in (("links", known), ("next_page", history.next_pages.get(level.name))):
            selector = getattr(level, key)
            if selector is None or selector.css is None or not urls:
                continue
            scope = cards if key == "links" else None
            name = f"{level.name}.{key}"
            now = check_level(name, tonight, urls, selector.css, key=key, cards=scope)
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


def proposed(repairs: Sequence[FieldRepair], minimum: float) -> dict[str, Candidate]:
    return {
        r.name: r.candidates[0]
        for r in repairs
        if r.candidates
        and r.candidates[0].agreement >= minimum
        and r.candidates[0].agreed > r.now.agreed
    }


def report_lines(repairs: Sequence[FieldRepair | LevelRepair], minimum: float) -> list[str]:
    """What ``repair`` prints per field: agreement now, the proposal and its examples."""
    lines = []
    for r in repairs:
        now = (
            f"{r.name}: now {r.now.agreement:.0%} ({r.now.agreed}/{r.now.pages}) with {r.now.text}"
        )
        if not r.now.pages:
            lines.append(f"{r.name}: no page with a stored value (not checked)")
            continue
        lines.append(now)
        if (r.now.agreement >= minimum) if isinstance(r, FieldRepair) else not r.broken:
            continue
        if not r.candidates or r.candidates[0].agreement < minimum:
            near = (
                f" (best: {r.candidates[0].text}, {r.candidates[0].agreement:.0%})"
                if r.candidates
                else ""
            )
            lines.append(f"  no selector reaches {minimum:.0%}{near}: fix it by hand")
            continue
        best = r.candidates[0]
        lines.append(f"  proposed {best.agreement:.0%} ({best.agreed}/{best.pages}): {best.text}")
        for example in best.examples[:3]:
            mark = "ok" if example.agrees else "differs"
            seen = "stored" if isinstance(r, FieldRepair) else "seen before"
            lines.append(
                f"    {mark}: {example.url}: {seen} {example.known}, read {example.found!r}"
            )
    return lines


def spec_path(settings: Settings, source: str) -> Path:
    for path in spec_files(settings.sources_dir):
        if path.stem == source:
            return path
    raise RepairError(f"no spec file for source {source!r} in {settings.sources_dir}")


def run_repair(settings: Settings, args: argparse.Namespace) -> int:
    """The ``repair`` command (see the module docstring); prints, returns the exit code."""
    result = load_specs(settings.sources_dir)
    if args.source not in result.specs:
        raise RepairError(
            f"source {args.source!r}: {result.errors.get(args.source) or 'no such source'}"
        )
    spec = result.specs[args.source]
    day: dt.date = args.date
    store = open_raw_store(settings.raw_store_url)
    try:
        docs = store.read_partition(spec.name, day)
        before = earlier_level_pages(store, spec.name, day, args.days)
    finally:
        store.close()
    with open_warehouse(settings, read_only=True) as warehouse:
        history = warehouse.read_history(
            spec.name, day - dt.timedelta(days=args.days), day - dt.timedelta(days=1)
        )
    pages = known_pages(spec, docs, history)
    items = history["url"].dropna().astype(str) if "url" in history else ()
    levels = (
        []
        if args.field
        else repair_levels(
            spec, level_pages(docs), level_history(spec, before, items), args.minimum
        )
    )
    print(
        f"{spec.name} {day}: {len(docs)} stored pages, {len(pages)} item pages with values "
        f"stored in the {args.days} days before, {len(levels)} level selectors checked"
    )
    if not pages and not levels:
        raise RepairError(
            f"source {spec.name}, date {day}: no stored item page has a value from the "
            f"{args.days} days before and no level page links where it did before (crawl "
            f"{day} first, or widen --days)"
        )
    repairs = repair_fields(spec, pages, args.minimum, args.field or ()) if pages else []
    if not pages:
        print(
            "no item page with a stored value tonight: fields are checked once the levels reach them"
        )
    for line in report_lines([*levels, *repairs], args.minimum):
        print(line)
    patch = proposed(repairs, args.minimum)
    level_patch = proposed_levels(levels, args.minimum)
    if not patch and not level_patch:
        print("nothing to patch")
        return 0
    path = spec_path(settings, spec.name)
    diff, patched = spec_patch(path, patch, level_patch)
    print(diff, end="")
    if args.apply:
        path.write_text(patched, encoding="utf-8")
        print(f"applied to {path}")
    else:
        print(f"not applied: add --apply to write {path}")
    return 0


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
