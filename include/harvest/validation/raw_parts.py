"""A raw partition larger than memory, extracted into Parquet parts without ever holding it whole.

When the raw store holds more documents than ``Settings.dask_threshold_rows`` for a partition,
:func:`stage_raw_parts` reads it twice, one document at a time
(:meth:`harvest.storage.raw.RawStore.iter_partition`): first for the record URLs two item pages
may share (:func:`harvest.records.item_identity_urls`: redirected pages, few), the earlier
cards pages name (:func:`harvest.records.earliest_cards`) and, for a catalogue, its list pages'
account; then it extracts the records
(:class:`harvest.records.RecordExtraction`, the code of :func:`harvest.records.extract_records`)
and writes them as parts of ``part_rows`` rows. A record a later page of the same item replaces
after its part was written is patched into that part at the end. The parts equal
``extract_records`` of the whole partition cut into ``part_rows`` rows; no process holds more
than one part's rows and the few shared URLs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.observation import ListingAccount, listing_account
from harvest.records import (
    META_COLUMNS,
    RecordExtraction,
    earliest_cards,
    extract_records,
    item_identity_urls,
    rows_frame,
)
from harvest.storage.dask_frames import engages, work_dir
from harvest.storage.raw import RawDocument, RawStore
from harvest.text import TextRepairs

log = logging.getLogger(__name__)


@dataclass
class RawParts:
    """A partition's extracted records as Parquet files of at most ``part_rows`` rows (in
    ``paths``, in the partition's order), ``rows`` in all; ``meta`` is their empty frame;
    ``folder`` the run's work folder (the parts are under it)."""

    paths: list[Path]
    meta: pd.DataFrame
    rows: int
    folder: Path
    account: ListingAccount | None = None

    def frame(self) -> pd.DataFrame:
        """The records whole (for a partition found small enough for the pandas path)."""
        frames = [pd.read_parquet(p) for p in self.paths]
        return pd.concat(frames, ignore_index=True) if frames else self.meta.copy()


def stage_raw_parts(
    store: RawStore,
    spec: SourceSpec,
    day: dt.date,
    folder: Path,
    part_rows: int,
    repairs: TextRepairs,
    same_item: list[str],
) -> RawParts:
    """Extract partition (``spec.name``, ``day``) of ``store`` into ``folder/raw/part-N.parquet``
    (see the module docstring); ``repairs`` and ``same_item`` as :func:`extract_records` fills
    them."""
    catalogue = spec.mode == "catalogue"  # its account needs every page, not their fields
    light: list[RawDocument] = []
    first = store.iter_partition(spec.name, day, light=True)
    shared = item_identity_urls(_kept(first, light, catalogue))
    earlier = earliest_cards(d for d in light if d.earlier_cards)
    account = listing_account(light) if catalogue else None
    del light
    extraction = RecordExtraction(spec, repairs, same_item, shared, earlier)
    parts = folder / "raw"
    parts.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def write(frame: pd.DataFrame) -> None:
        paths.append(parts / f"part-{len(paths):05d}.parquet")
        frame.to_parquet(paths[-1], index=False)

    for doc in store.iter_partition(spec.name, day):
        extraction.add(doc)
        while len(extraction.rows) >= part_rows:
            write(extraction.take(part_rows))
    rows = extraction.start + len(extraction.rows)
    if extraction.rows or not paths:
        write(extraction.take())
    extraction.finish()
    _patch(paths, part_rows, extraction.replaced, list(spec.detail.fields))
    meta = rows_frame([], list(spec.detail.fields))
    log.info(
        "source=%s date=%s: %d records extracted into %d parts of %d, %d shared URLs",
        spec.name, day, rows, len(paths), part_rows, len(shared),
    )  # fmt: skip
    return RawParts(paths, meta, rows, folder, account)


def extract_partition(
    store: Any,
    spec: SourceSpec,
    day: dt.date,
    settings: Settings,
    stack: ExitStack,
    repairs: TextRepairs,
    same_item: list[str],
) -> tuple[dict[str, Any], Any]:
    """The partition's extracted records (``{"raw": frame}``) and, for a catalogue, its listing
    account; for a partition of more documents than the Dask threshold, the records staged as
    Parquet parts, never whole (``{"parts": RawParts}``, :mod:`harvest.validation.raw_parts`),
    in a work folder that ``stack`` removes."""
    if settings.dask_threshold_rows and engages(store.count(spec.name, day), settings):
        folder = stack.enter_context(work_dir(settings, spec.name, day.isoformat()))
        parts = stage_raw_parts(
            store, spec, day, folder, settings.dask_part_rows, repairs, same_item
        )
        return {"parts": parts}, parts.account
    docs = store.read_partition(spec.name, day)
    raw = extract_records(docs, spec, repairs, same_item)
    # a catalogue closes what its crawl looked for and did not find: keep what it read
    account = listing_account(docs) if spec.mode == "catalogue" else None
    return {"raw": raw}, account


def _kept(
    docs: Iterator[RawDocument], light: list[RawDocument], every: bool
) -> Iterator[RawDocument]:
    """``docs`` as they come, kept in ``light`` without their fields, body and card values (what
    :func:`listing_account` and :func:`earliest_cards` read: URLs, status, errors, listing, the
    number of cards, the earlier cards): ``every`` one, else those naming earlier cards (few)."""
    for doc in docs:
        yield doc
        if every or doc.earlier_cards:
            cards: list[dict[str, Any]] = [{}] * len(doc.records)
            light.append(replace(doc, fields={}, body=None, records=cards))


def _patch(
    paths: list[Path], part_rows: int, replaced: dict[int, list[Any]], names: list[str]
) -> None:
    """Put each row of ``replaced`` (position in the partition -> row) into its part."""
    by_part: dict[int, dict[int, list[Any]]] = {}
    for at, row in replaced.items():
        by_part.setdefault(at // part_rows, {})[at % part_rows] = row
    for number, rows in by_part.items():
        frame = pd.read_parquet(paths[number])
        positions = np.array(sorted(rows), dtype=np.int64)
        new = rows_frame([rows[int(p)] for p in positions], names)
        for column in META_COLUMNS + names:
            frame.loc[positions, column] = new[column].to_numpy()
        frame.to_parquet(paths[number], index=False)
