"""``python -m harvest repair --source X --date D``: a spec patch from last night's values.

The night's stored item pages (the raw store's partition of ``D``) whose URL the warehouse
holds a row for from the nights before (the newest row within ``--days``, else the row of the
same key) are the pages with a known value. Each field of the spec is first checked as it is
(:func:`~harvest.learning.candidates.check_field`); a field that agrees on fewer than
``--minimum`` of its pages is learned again (:func:`~harvest.learning.candidates.learn_field`),
and the best candidates that reach ``--minimum`` make the proposed patch. The command prints
each field's agreement now and proposed, examples, and the unified diff of the spec file;
``--apply`` writes the patched spec, and nothing else ever does.
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


def proposed(repairs: Sequence[FieldRepair], minimum: float) -> dict[str, Candidate]:
    return {
        r.name: r.candidates[0]
        for r in repairs
        if r.candidates
        and r.candidates[0].agreement >= minimum
        and r.candidates[0].agreed > r.now.agreed
    }


def report_lines(repairs: Sequence[FieldRepair], minimum: float) -> list[str]:
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
        if r.now.agreement >= minimum:
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
            lines.append(
                f"    {mark}: {example.url}: stored {example.known}, read {example.found!r}"
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
    finally:
        store.close()
    with open_warehouse(settings, read_only=True) as warehouse:
        history = warehouse.read_history(
            spec.name, day - dt.timedelta(days=args.days), day - dt.timedelta(days=1)
        )
    pages = known_pages(spec, docs, history)
    print(
        f"{spec.name} {day}: {len(docs)} stored pages, {len(pages)} item pages with values "
        f"stored in the {args.days} days before"
    )
    if not pages:
        raise RepairError(
            f"source {spec.name}, date {day}: no stored item page has a value from the "
            f"{args.days} days before (crawl {day} first, or widen --days)"
        )
    repairs = repair_fields(spec, pages, args.minimum, args.field or ())
    for line in report_lines(repairs, args.minimum):
        print(line)
    patch = proposed(repairs, args.minimum)
    if not patch:
        print("nothing to patch")
        return 0
    path = spec_path(settings, spec.name)
    diff, patched = spec_patch(path, patch)
    print(diff, end="")
    if args.apply:
        path.write_text(patched, encoding="utf-8")
        print(f"applied to {path}")
    else:
        print(f"not applied: add --apply to write {path}")
    return 0
