"""``python -m harvest repair --source X --date D``: a spec patch from last night's values.

The night's stored item pages (the raw store's partition of ``D``) whose URL the warehouse
holds a row for from the nights before (the newest row within ``--days``, else the row of the
same key) are the pages with a known value. Each field of the spec is first checked as it is
(:func:`~harvest.learning.candidates.check_field`); a field that agrees on fewer than
``--minimum`` of its pages is learned again (:func:`~harvest.learning.candidates.learn_field`),
and the best candidates that reach ``--minimum`` make the proposed patch. The crawl levels'
``links``/``cards`` (and a ``next_page`` that matches nothing) are checked the same way against
the URLs the level led to in the newest earlier raw partition (and the item URLs stored), and
learned again (:mod:`~harvest.learning.levels`); when a level is patched and tonight holds
few item pages with a stored value (the crawl stopped at the broken level), item pages are
fetched from the site through the proposed levels (:mod:`~harvest.learning.walk`) and the
fields learned on them, so one proposal repairs both. The command prints each selector's agreement
now and proposed, examples, and the unified diff of the spec file; ``--apply`` writes the
patched spec, and nothing else ever does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, load_specs
from harvest.config.spec.files import spec_files
from harvest.errors import HarvestError
from harvest.learning.candidates import Candidate, KnownPage, check_field, learn_field
from harvest.learning.command import DAYS, MINIMUM
from harvest.learning.level_repair import (
    LevelRepair,
    card_pages,
    earlier_level_pages,
    level_history,
    level_pages,
    proposed_levels,
    repair_levels,
)
from harvest.learning.patch import spec_patch
from harvest.learning.walk import SAMPLE, Fetch, walk_levels
from harvest.partitions import recrawl_command
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
    """Each item-page field (or those named) checked, and learned again when it fails."""
    names = list(fields) or [n for n, f in spec.detail.fields.items() if f.from_ == "page"]
    out = []
    for name in names:
        field = spec.detail.fields[name]
        now = check_field(name, field, pages)
        ranked: tuple[Candidate, ...] = ()
        if now.pages and now.agreement < minimum:
            ranked = tuple(learn_field(name, field, pages))
        out.append(FieldRepair(name, now, ranked))
    return out


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
            what = "page with a stored value" if isinstance(r, FieldRepair) else (
                "link tonight leading where the level led before")  # fmt: skip
            lines.append(f"{r.name}: no {what} (not checked)")
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
            if isinstance(r, FieldRepair) and r.candidates and changed_overnight(r.candidates[0]):
                lines.append(
                    "  where it differs it reads another value of the field: values that "
                    "changed overnight (a source whose URLs stay)? Not proposed; check the "
                    f"examples, and accept it with --minimum "
                    f"{math.floor(r.candidates[0].agreement * 100) / 100:.2f}"
                )
                lines += _examples(r, r.candidates[0])
            continue
        lines.append(
            f"  proposed {r.candidates[0].agreement:.0%} ({r.candidates[0].agreed}/"
            f"{r.candidates[0].pages}): {r.candidates[0].text}"
        )
        lines += _examples(r, r.candidates[0])
    return lines


def changed_overnight(best: Candidate) -> bool:
    """Whether a candidate below the minimum looks right on a source whose values change: it
    agrees on at least half its pages and reads a value wherever it disagrees."""
    differs = [e for e in best.examples if not e.agrees]
    return best.agreement >= 0.5 and bool(differs) and all(e.found for e in differs)


def _examples(r: FieldRepair | LevelRepair, best: Candidate) -> list[str]:
    lines = []
    for example in best.examples[:3]:
        mark = "ok" if example.agrees else "differs"
        seen = "stored" if isinstance(r, FieldRepair) else "seen before"
        lines.append(f"    {mark}: {example.url}: {seen} {example.known}, read {example.found!r}")
    return lines


def spec_path(settings: Settings, source: str) -> Path:
    for path in spec_files(settings.sources_dir):
        if path.stem == source:
            return path
    raise RepairError(f"no spec file for source {source!r} in {settings.sources_dir}")


@dataclass
class RepairOutcome:
    """What ``repair`` found for one source and night: the checks and learned rankings of its
    level selectors and fields, the lines a person reads, and the patch (empty: nothing to
    patch) as a diff of the spec file and the patched text."""

    spec: SourceSpec
    day: dt.date
    header: str
    levels: list[LevelRepair]
    fields: list[FieldRepair]
    lines: list[str]
    patch: dict[str, Candidate]
    level_patch: dict[tuple[str, str], Candidate]
    minimum: float = 0.95
    path: Path | None = None
    diff: str = ""
    patched: str = ""

    def failing(self, repair: FieldRepair | LevelRepair) -> bool:
        """Whether the selector no longer agrees (a level's: its check said it is broken)."""
        if isinstance(repair, LevelRepair):
            return repair.broken
        return bool(repair.now.pages) and repair.now.agreement < self.minimum


def derive_repair(
    settings: Settings,
    spec: SourceSpec,
    day: dt.date,
    *,
    days: int = DAYS,
    minimum: float = MINIMUM,
    fields: Sequence[str] = (),
    fetch: Fetch | None = None,
) -> RepairOutcome:
    """The repair of ``spec`` from the night ``day``'s stored pages and the ``days`` before
    (see the module docstring); nothing is written but, with ``fetch`` (GET one page of the
    site) and a level patch, the item pages reached through it
    (:func:`~harvest.learning.walk.walk_levels`). :class:`RepairError` when there is nothing
    to learn from."""
    store = open_raw_store(settings.raw_store_url)
    try:
        docs = store.read_partition(spec.name, day)
        before = earlier_level_pages(store, spec.name, day, days)
    finally:
        store.close()
    with open_warehouse(settings, read_only=True) as warehouse:
        history = warehouse.read_history(
            spec.name, day - dt.timedelta(days=days), day - dt.timedelta(days=1)
        )
    pages = known_pages(spec, docs, history)
    items = history["url"].dropna().astype(str) if "url" in history else ()
    known = level_history(spec, before, items)
    tonight = level_pages(docs)
    levels = [] if fields else repair_levels(spec, tonight, known, minimum)
    header = (
        f"{spec.name} {day}: {len(docs)} stored pages, {len(pages)} item pages with values "
        f"stored in the {days} days before, {len(levels)} level selectors checked"
    )
    if not pages and not levels:
        raise RepairError(
            f"source {spec.name}, date {day}: no stored item page has a value from the "
            f"{days} days before and no level page links where it did before (crawl "
            f"{day} first, or widen --days)"
        )
    level_patch = proposed_levels(levels, minimum)
    rows = previous_rows(history, spec.detail.key)[0]
    walked = None
    if fetch is not None and level_patch and len(pages) < SAMPLE:
        walked = walk_levels(spec, tonight, known, rows, fetch, minimum)
        levels, level_patch = walked.levels, proposed_levels(walked.levels, minimum)
        seen = {p.url for p in pages}
        pages += [p for p in walked.items if p.url not in seen]
    repairs = repair_fields(spec, pages, minimum, fields) if pages else []
    on_cards = [n for n, f in spec.detail.fields.items() if f.from_ == "card"]
    cards = card_pages(spec, tonight, rows, level_patch) if on_cards and not fields else []
    if cards:
        repairs += repair_fields(spec, cards, minimum, on_cards)
    lines = report_lines([*levels, *repairs], minimum)
    if walked is not None:
        lines.insert(0, walked.line())
    if not pages:
        lines.insert(0, "no item page with a stored value tonight: fields are checked once "
                     "the levels reach them")  # fmt: skip
    outcome = RepairOutcome(
        spec, day, header, levels, repairs, lines,
        proposed(repairs, minimum), level_patch, minimum,
    )  # fmt: skip
    if outcome.patch or outcome.level_patch:
        outcome.path = spec_path(settings, spec.name)
        outcome.diff, outcome.patched = spec_patch(outcome.path, outcome.patch, outcome.level_patch)
    return outcome


def _apply_reviewed(settings: Settings, source: str, args: argparse.Namespace) -> bool:
    """``--apply`` of the proposal the night stored, as people reviewed it (in the crawl's
    warnings, the alert, the app), without deriving it again (the site may since have changed or
    be served elsewhere); ``False`` when there is none to apply that way (options that narrow
    the repair, ``--field``, ``--days``, ``--minimum``, always derive it again)."""
    from harvest.learning.proposals import mark_applied, reviewed_patch

    if args.field or args.days != DAYS or args.minimum != MINIMUM:
        return False
    path = spec_path(settings, source)
    proposal = reviewed_patch(settings.home, source, args.date, path.read_text(encoding="utf-8"))
    if proposal is None:
        return False
    print(f"source {source} date {args.date}: applying the stored proposal as it was shown")
    print(proposal.diff, end="")
    path.write_text(proposal.patched, encoding="utf-8")
    mark_applied(settings.home, source, args.date)
    print(f"applied to {path}")
    print(next_step(source, args))
    return True


def next_step(source: str, args: argparse.Namespace) -> str:
    """What to run after ``--apply``: the night's stored pages hold what the old spec read, and
    a plain re-run of that past date reuses their records, so it must be crawled again."""
    base_url = getattr(args, "base_url", None)
    where = "" if base_url else " (add --base-url URL where the site is served elsewhere now)"
    return (
        f"next: the pages stored for {args.date} hold what the old spec read, and a re-run "
        "reuses their records as they are; crawl the date again with the patched spec: "
        f"{recrawl_command(source, args.date, base_url)}{where}"
    )


def run_repair(
    settings: Settings,
    args: argparse.Namespace,
    site: Callable[[SourceSpec], AbstractContextManager[Fetch]] | None = None,
) -> int:
    """The ``repair`` command (see the module docstring); prints, returns the exit code.
    ``site(spec)``: the fetcher of item pages through proposed levels, as a context manager
    (``None``, or ``--offline``: only the stored pages are read)."""
    from harvest.learning.proposals import mark_applied

    result = load_specs(settings.sources_dir)
    if args.source not in result.specs:
        raise RepairError(
            f"source {args.source!r}: {result.errors.get(args.source) or 'no such source'}"
        )
    spec = result.specs[args.source]
    if args.apply and _apply_reviewed(settings, spec.name, args):
        return 0
    with site(spec) if site and not args.offline else nullcontext() as fetch:
        outcome = derive_repair(
            settings, spec, args.date,
            days=args.days, minimum=args.minimum, fields=args.field or (), fetch=fetch,
        )  # fmt: skip
    print(outcome.header)
    for line in outcome.lines:
        print(line)
    if outcome.path is None:
        print("nothing to patch")
        return 0
    print(outcome.diff, end="")
    if args.apply:
        outcome.path.write_text(outcome.patched, encoding="utf-8")
        mark_applied(settings.home, outcome.spec.name, args.date)
        print(f"applied to {outcome.path}")
        print(next_step(outcome.spec.name, args))
    else:
        print(f"not applied: add --apply to write {outcome.path}")
    return 0
