"""The de-duplication rules Harvest had before issue 19, kept only as ``bench_dedup``'s baseline.

Hand-tuned to the demo site (its former ``dedup:`` block is :data:`DEMO_RULES`); the product now
matches re-listings with dedupe (``harvest.cleaning.near``). What follows is that module's
docstring as it was.

Three rules, applied in this order; each record is a duplicate by at most one of them:

1. **exact, key**: the natural key (``record_key``) was already seen, earlier in the batch or in
   an earlier partition (history) with the same fields. A key from history whose fields changed
   is an **update**: it is kept (the load moves the key to this partition with the new values)
   and counted in ``counts["updated"]``, never dropped.
2. **exact, content**: every spec field except the key is identical (after normalisation) to an
   earlier record's.
3. **near**: a re-listing of the same flat under another key. Two records match when every
   ``dedup.match_fields`` agrees, each pair of values compared as its field kind says
   (:class:`harvest.fields.Comparison`): equal (text case- and accent-folded, integers,
   booleans and dates exactly), or within ``dedup.numeric_tolerance`` (relative, for decimal
   kinds such as the area), or missing on one side -- for at most
   :data:`MAX_MISSING_MATCH_FIELDS` fields of the pair -- and their ``dedup.title_field`` values
   are at least ``dedup.title_similarity`` alike. Integer fields (rooms, floor, year) must be
   equal: a relative tolerance means nothing for a count or a year.

Blocking keeps this linear: records are only compared with records that have the same values on
the match fields whose kind's comparison blocks (e.g. city, district, rooms, floor, built year). A record that lacks one
of them is compared, in a pass of its own, with the records that agree on the fields it has. Records are
ordered by (logical date, key, URL); the earliest of a group is the canonical record, and a later
one is marked ``is_duplicate_of`` the earliest *canonical* record it matches directly (never
through a chain, so a record missing a field cannot glue two different flats together).

Title similarity is rapidfuzz's ``token_set_ratio`` on folded (:func:`harvest.text.fold`: case
and accents), punctuation-free titles; text is NFC from extraction on, and folding also matches
history stored in another form. A re-listing typically keeps the words of the original and swaps
or appends a few ("Bright 2-room flat in Mitte" -> "Cosy 2-room flat in Mitte (reposted)"). ``token_set_ratio`` compares the shared
words with each title's leftovers, so appended words cost little and word order not at all, where
plain ``ratio`` would punish both; the match fields, not the title, are what tell two different
flats apart.

Duplicates are not loaded as new records: :func:`deduplicate` returns the canonical records and,
separately, the duplicates with the key of their canonical record, the rule and the scope.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz import fuzz, process, utils

from harvest.cleaning.normalise import to_date
from harvest.config.spec import SourceSpec
from harvest.fields import Comparison, field_kind
from harvest.text import fold

log = logging.getLogger(__name__)

KEY = "record_key"


@dataclass(frozen=True)
class Rules:
    """The former ``dedup:`` settings."""

    match_fields: tuple[str, ...]
    title_field: str | None
    title_similarity: float
    numeric_tolerance: float


DEMO_RULES = Rules(
    match_fields=("city", "district", "rooms", "area", "floor", "built_year", "available_from"),
    title_field="title",
    title_similarity=0.7,
    numeric_tolerance=0.02,
)
DUPLICATE_COLUMNS = [
    "record_key",
    "url",
    "logical_date",
    "is_duplicate_of",
    "kind",
    "scope",
    "rule",
    "title_similarity",
]
COUNT_NAMES = ("exact_batch", "exact_history", "near_batch", "near_history")
MAX_MISSING_MATCH_FIELDS = 1
"""Most match fields a near-duplicate pair may lack between them (a missing value matches
anything; each one more lets more different flats match)."""


@dataclass
class DedupResult:
    """Canonical records (to load), the duplicates (not loaded, kept for audit) and counts
    (:data:`COUNT_NAMES`, plus ``updated``: known keys kept because their fields changed)."""

    frame: pd.DataFrame
    duplicates: pd.DataFrame
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(duplicate key, canonical key) of every duplicate with another key (near or content)."""
        dups = self.duplicates
        other = dups[dups["record_key"] != dups["is_duplicate_of"]]
        return list(zip(other["record_key"], other["is_duplicate_of"], strict=True))


def deduplicate(
    batch: pd.DataFrame,
    spec: SourceSpec,
    history: pd.DataFrame | None = None,
    *,
    key_only: bool = False,
    rules: Rules = DEMO_RULES,
) -> DedupResult:
    """Split a normalised batch (with a ``record_key`` column) into canonical records and
    duplicates, comparing it with itself and with ``history`` (processed records of earlier
    partitions; rows dated on or after the batch's logical date are ignored, so re-running a
    partition that is already loaded gives the same answer).

    ``key_only`` applies rule 1 alone (a catalogue: distinct keys are distinct items, however
    alike). The canonical frame is sorted by (``record_key``, ``url``) and has an empty
    ``is_duplicate_of`` column; the duplicates frame has :data:`DUPLICATE_COLUMNS`.
    """
    if KEY not in batch:
        raise ValueError(f"deduplicate: the batch of source {spec.name!r} has no {KEY!r} column")
    rows = _ordered_rows(batch, spec, history)
    n = len(rows)
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    canonical = np.full(n, -1, dtype=np.int64)  # position of the canonical record, -1 = none
    rule = np.full(n, "", dtype=object)
    score = np.full(n, np.nan)

    # 1. exact: the same key earlier (history first, then the batch); a key from history whose
    # fields changed is an update, kept and counted, never a duplicate
    content = _content_key(rows, spec)
    first_of_key = rows.groupby("_key", sort=False)["_pos"].transform("min").to_numpy()
    dup = is_batch & (first_of_key != rows["_pos"].to_numpy())
    updated = dup & ~is_batch[first_of_key] & (content != content[first_of_key])
    dup &= ~updated
    canonical[dup] = first_of_key[dup]
    rule[dup] = "key"

    if key_only:
        result = _result(rows, batch, canonical, rule, score)
        result.counts["updated"] = int(updated.sum())
        return result

    # 2. exact: identical content on every field but the key
    live = canonical < 0
    first_of_content = (
        pd.Series(rows["_pos"].to_numpy()[live]).groupby(content[live]).transform("min").to_numpy()
    )
    positions = np.flatnonzero(live)
    same = is_batch[live] & (first_of_content != positions)
    canonical[positions[same]] = first_of_content[same]
    rule[positions[same]] = "content"

    # 3. near: re-listings, matched on the match fields and the title
    if rules.match_fields and rules.title_field:
        left, right, similarity = _near_pairs(rows, spec, rules, alive=canonical < 0)
        keys = rows["_key"].to_numpy(dtype=object)
        for earlier, later, sim in zip(left, right, similarity, strict=True):
            if keys[earlier] == keys[later]:
                continue  # an update of its own earlier version
            if canonical[later] < 0 and canonical[earlier] < 0:
                canonical[later] = earlier
                rule[later] = "near"
                score[later] = sim
    result = _result(rows, batch, canonical, rule, score)
    result.counts["updated"] = int(updated.sum())
    return result


def _ordered_rows(
    batch: pd.DataFrame, spec: SourceSpec, history: pd.DataFrame | None
) -> pd.DataFrame:
    """History (strictly earlier partitions, canonical rows only) then the batch, in the order
    that decides which record is the earliest: (logical date, key, URL)."""
    fields = list(spec.detail.fields)
    parts = []
    own = batch.copy()
    own["_batch"] = True
    own["_row"] = np.arange(len(own))
    parts.append(own)
    if history is not None and len(history):
        old = history.copy()
        if "is_duplicate_of" in old:
            old = old[old["is_duplicate_of"].isna()]
        batch_days = [d for d in _per_distinct(batch["logical_date"], _iso) if d is not None]
        first_day = min(batch_days) if batch_days else None
        days = pd.Series(_per_distinct(old["logical_date"], _iso), index=old.index)
        old = old[days.notna() & (days < first_day)] if first_day else old.iloc[0:0]
        old = old.assign(_batch=False, _row=-1)
        parts.insert(0, old)
    rows = pd.concat(parts, ignore_index=True)
    rows["_date"] = pd.Series(_per_distinct(rows["logical_date"], _iso), index=rows.index)
    rows["_date"] = rows["_date"].fillna("")
    rows["_key"] = rows[KEY].astype("string").fillna("")
    rows["_url"] = rows["url"].astype("string").fillna("") if "url" in rows else ""
    rows = rows.sort_values(["_date", "_key", "_url"], kind="stable", ignore_index=True)
    rows["_pos"] = np.arange(len(rows))
    for name in fields:
        if name not in rows:
            rows[name] = pd.NA
    return rows


def _per_distinct(column: pd.Series, fn: Any) -> npt.NDArray[Any]:
    """``fn`` of every value, called once per distinct value (``fn(None)`` for missing ones)."""
    codes, uniques = pd.factorize(column.astype("object"), use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=object)
    picked: npt.NDArray[Any] = mapped[codes]  # code -1 picks the last entry, fn(None)
    return picked


def _iso(value: Any) -> str | None:
    day = to_date(value)
    return day.isoformat() if day is not None else None


def _content_key(rows: pd.DataFrame, spec: SourceSpec) -> npt.NDArray[Any]:
    """One string per row joining every spec field but the key (missing values included)."""
    names = [n for n in spec.detail.fields if n != spec.detail.key]
    if not names:
        positions: npt.NDArray[Any] = rows["_pos"].astype(str).to_numpy()
        return positions
    parts = [_as_text(rows[n]) for n in names]
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    joined: npt.NDArray[Any] = key.to_numpy(dtype=object)
    return joined


def _as_text(column: pd.Series) -> pd.Series:
    """A stable text form of a column for comparisons: whole floats lose their ``.0``."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = pd.to_numeric(column, errors="coerce").astype("Float64")
        text = _per_distinct(numbers, lambda v: "\x00" if v is None else f"{float(v):.6g}")
    else:
        text = _per_distinct(column, lambda v: "\x00" if v is None else str(v))
    return pd.Series(text, index=column.index, dtype=object)


def _near_pairs(
    rows: pd.DataFrame, spec: SourceSpec, dedup: Rules, alive: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Matching (earlier, later) positions with their title similarity (0..1), later ascending
    and, for one later record, earlier ascending; the later record is always in the batch."""
    fields = spec.detail.fields
    comparison = {f: field_kind(fields[f].kind).comparison for f in dedup.match_fields}
    tolerant = [f for f in dedup.match_fields if not comparison[f].blocks]
    exact = [f for f in dedup.match_fields if comparison[f].blocks]
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    if not exact:
        log.warning("dedup of %s: no exact match field to block on; near dedup skipped", spec.name)
        return empty

    codes = np.column_stack([_codes(rows[f], comparison[f]) for f in exact])
    weights = 1 << np.arange(len(exact), dtype=np.int64)
    pattern = ((codes < 0) * weights).sum(axis=1)  # bit i set: exact field i is missing
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    blocks = pd.DataFrame(codes, columns=exact)
    blocks["_pos"] = rows["_pos"].to_numpy()
    blocks["_pattern"] = pattern
    blocks = blocks[alive]
    found: list[pd.DataFrame] = []
    for missing in _passes(blocks["_pattern"].to_numpy(), MAX_MISSING_MATCH_FIELDS):
        keys = [f for i, f in enumerate(exact) if not (missing >> i) & 1]
        if not keys:  # nothing to block on: such records are never near-matched
            continue
        eligible = blocks[(blocks["_pattern"] & ~missing) == 0]
        left = eligible if missing == 0 else eligible[eligible["_pattern"] != 0]
        if left.empty:
            continue
        pairs = left[[*keys, "_pos", "_pattern"]].merge(
            eligible[[*keys, "_pos", "_pattern"]], on=keys, suffixes=("_a", "_b")
        )
        a = pairs["_pos_a"].to_numpy()
        b = pairs["_pos_b"].to_numpy()
        union = pairs["_pattern_a"].to_numpy() | pairs["_pattern_b"].to_numpy()
        earlier, later = np.minimum(a, b), np.maximum(a, b)
        keep = (earlier != later) & is_batch[later] & (union == missing)
        found.append(pd.DataFrame({"earlier": earlier[keep], "later": later[keep]}))
    if not found:
        return empty
    candidates = pd.concat(found, ignore_index=True).drop_duplicates()
    earlier = candidates["earlier"].to_numpy(dtype=np.int64)
    later = candidates["later"].to_numpy(dtype=np.int64)

    ok = np.ones(len(earlier), dtype=bool)
    absent = np.array([int(p).bit_count() for p in pattern[earlier] | pattern[later]], dtype=int)
    for name in tolerant:
        values = pd.to_numeric(rows[name], errors="coerce").astype("float64").to_numpy()
        x, y = values[earlier], values[later]
        close = np.abs(x - y) <= dedup.numeric_tolerance * np.maximum(np.abs(x), np.abs(y))
        either = np.isnan(x) | np.isnan(y)
        absent += either
        ok &= either | close
    ok &= absent <= MAX_MISSING_MATCH_FIELDS
    earlier, later = earlier[ok], later[ok]

    titles = [_title(t) for t in rows[dedup.title_field]]
    similarity = (
        np.asarray(
            process.cpdist(
                [titles[i] for i in earlier],
                [titles[i] for i in later],
                scorer=fuzz.token_set_ratio,
                processor=None,
                dtype=np.float64,
            )
            if len(earlier)
            else np.empty(0),
            dtype=np.float64,
        )
        / 100.0
    )
    present = np.array([bool(t) for t in titles], dtype=bool)
    has_titles = present[earlier] & present[later]
    ok = has_titles & (similarity >= dedup.title_similarity)
    earlier, later, similarity = earlier[ok], later[ok], similarity[ok]
    order = np.lexsort((earlier, later))
    return earlier[order], later[order], np.round(similarity[order], 4)


def _passes(patterns: npt.NDArray[np.int64], max_missing: int) -> list[int]:
    """The blocking passes: one per set of missing exact fields a pair of records can have
    (the union of two records' patterns), at most ``max_missing`` fields, fewest first."""
    occurring = {int(p) for p in np.unique(patterns)}
    unions = {a | b for a in occurring for b in occurring}
    return sorted(
        (u for u in unions if u.bit_count() <= max_missing), key=lambda u: (u.bit_count(), u)
    )


def _codes(column: pd.Series, comparison: Comparison) -> npt.NDArray[np.int64]:
    """Integer codes of a match field for blocking (-1 where missing), equal where its kind's
    ``comparison`` says two values are: text folded, dates by day, other values as they are."""
    if comparison is Comparison.FOLDED:
        values = _per_distinct(column, fold)
    elif comparison is Comparison.SAME_DAY:
        values = _per_distinct(column, _iso)
    else:
        values = column.astype("object").where(column.notna(), None).to_numpy()
    codes, _ = pd.factorize(pd.Series(values, dtype="object"), use_na_sentinel=True)
    blocks: npt.NDArray[np.int64] = codes.astype(np.int64)
    return blocks


def _title(value: Any) -> str:
    """The comparison form of a title: folded (case, accents, compatibility forms), then
    punctuation-free; ``""`` when missing."""
    folded = fold(value)
    return "" if folded is None else str(utils.default_process(folded))


def _result(
    rows: pd.DataFrame,
    batch: pd.DataFrame,
    canonical: npt.NDArray[np.int64],
    rule: npt.NDArray[Any],
    score: npt.NDArray[np.float64],
) -> DedupResult:
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    keys = rows["_key"].to_numpy(dtype=object)
    dup = is_batch & (canonical >= 0)
    counts = dict.fromkeys(COUNT_NAMES, 0)
    from_history = np.zeros(len(rows), dtype=bool)
    from_history[dup] = ~is_batch[canonical[dup]]
    for position in np.flatnonzero(dup):
        kind = "near" if rule[position] == "near" else "exact"
        scope = "history" if from_history[position] else "batch"
        counts[f"{kind}_{scope}"] += 1

    positions = np.flatnonzero(dup)
    duplicates = pd.DataFrame(
        {
            "record_key": pd.Series(keys[positions], dtype="string"),
            "url": rows["_url"].to_numpy()[positions],
            "logical_date": rows["_date"].to_numpy()[positions],
            "is_duplicate_of": pd.Series(keys[canonical[positions]], dtype="string"),
            "kind": ["near" if rule[p] == "near" else "exact" for p in positions],
            "scope": ["history" if from_history[p] else "batch" for p in positions],
            "rule": rule[positions].astype(str),
            "title_similarity": pd.Series(score[positions], dtype="Float64"),
        }
    ).astype(dict.fromkeys(["url", "logical_date", "kind", "scope", "rule"], "string"))
    duplicates = duplicates.sort_values(["record_key", "url"], kind="stable", ignore_index=True)

    keep_rows = rows["_row"].to_numpy()[is_batch & (canonical < 0)]
    frame = batch.iloc[np.sort(keep_rows)].drop(columns="is_duplicate_of", errors="ignore")
    frame["is_duplicate_of"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    sort_by = [KEY, "url"] if "url" in frame else [KEY]
    frame = frame.sort_values(sort_by, kind="stable", ignore_index=True)
    return DedupResult(frame, duplicates, counts)
