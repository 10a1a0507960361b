"""De-duplication of a partition's records, within the batch and against history.

Precision first: a record wrongly dropped is data lost. Three rules, in this order; each record
is dropped by at most one of them:

1. **key** (always): the declared key (``record_key``) was already seen, earlier in the batch or
   in an earlier partition (history) with the same fields. A key from history whose fields
   changed is an **update**: kept (the load moves the key to this partition with the new
   values) and counted in ``counts["updated"]``, never dropped.
2. **content**: identical on every spec field but the key to an earlier record. Records with
   different keys are distinct by default (two quotes by one author with the same tags are two
   quotes): they are *reported* (kept, listed with ``action == "reported"``) unless the spec
   says ``dedup.content_duplicates: drop``.
3. **near** (only with ``dedup.relistings: true`` and labelled pairs): a re-listing of an
   earlier record under a new key, matched by the source's dedupe model
   (:mod:`harvest.cleaning.near`) with a match probability at or above ``dedup.threshold``.
   Pairs scored within ``dedup.review_margin`` below it are kept and listed as borderline
   (``action == "kept"``) for ``harvest dedup review``.

Records are ordered by (logical date, key, URL); the earliest is canonical, and a later one is
marked ``is_duplicate_of`` the canonical record it matches directly (the best-scoring one,
never through a chain, so a record missing fields cannot glue two different items together).
Same batch, history and training pairs -> the same result.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harvest.cleaning import blocking, near
from harvest.cleaning.normalise import to_date
from harvest.config.spec import SourceSpec

log = logging.getLogger(__name__)

KEY = "record_key"
MATCH_COLUMNS = [
    "record_key",
    "url",
    "logical_date",
    "is_duplicate_of",
    "matched_date",
    "kind",
    "scope",
    "rule",
    "score",
    "action",
    "record",
    "matched_record",
]
"""The columns of the duplicates and of the kept matches: the record, the record it matched
(key and logical date), ``kind`` (exact | near), ``scope`` (batch | history), ``rule``
(key | content | near), ``score`` (near: dedupe's match probability; exact rules: 1.0),
``action`` (dropped | reported | kept) and both records' compared fields as JSON."""
DUPLICATE_COLUMNS = MATCH_COLUMNS
COUNT_NAMES = ("exact_batch", "exact_history", "near_batch", "near_history")
DROP_REASONS = ("duplicate_key", "content_identical", "near_duplicate")
"""The reasons a record is dropped by de-duplication (rule key, content, near)."""
_REASON = {"key": "duplicate_key", "content": "content_identical", "near": "near_duplicate"}


@dataclass
class DedupResult:
    """Canonical records (to load), the duplicates (dropped, kept for audit), the matches that
    were kept (reported content-identical records, borderline near pairs) and counts
    (:data:`COUNT_NAMES`, ``updated``, ``reported``, ``borderline``) and the near-matching
    status."""

    frame: pd.DataFrame
    duplicates: pd.DataFrame
    kept_matches: pd.DataFrame = field(default_factory=lambda: _empty_matches())
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    near_status: str = ""

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(duplicate key, canonical key) of every duplicate with another key (near or content)."""
        dups = self.duplicates
        other = dups[dups["record_key"] != dups["is_duplicate_of"]]
        return list(zip(other["record_key"], other["is_duplicate_of"], strict=True))

    @property
    def dropped(self) -> dict[str, int]:
        """Dropped records per reason (:data:`DROP_REASONS`)."""
        counts = self.duplicates["rule"].value_counts()
        return {_REASON[r]: int(counts.get(r, 0)) for r in _REASON}


def deduplicate(
    batch: pd.DataFrame,
    spec: SourceSpec,
    history: pd.DataFrame | None = None,
    *,
    key_only: bool = False,
    matcher: near.MatcherStatus | None = None,
) -> DedupResult:
    """Split a normalised batch (with a ``record_key`` column) into canonical records and
    duplicates, comparing it with itself and with ``history`` (processed records of earlier
    partitions; rows dated on or after the batch's logical date are ignored, so re-running a
    partition that is already loaded gives the same answer).

    ``key_only`` applies rule 1 alone (a catalogue: distinct keys are distinct items, however
    alike). ``matcher`` defaults to :func:`harvest.cleaning.near.load_matcher` of ``spec``.
    The canonical frame is sorted by (``record_key``, ``url``) with an empty ``is_duplicate_of``
    column; duplicates and kept matches have :data:`MATCH_COLUMNS`.
    """
    if KEY not in batch:
        raise ValueError(f"deduplicate: the batch of source {spec.name!r} has no {KEY!r} column")
    rows = _ordered_rows(batch, spec, history)
    n = len(rows)
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    canonical = np.full(n, -1, dtype=np.int64)  # position of the canonical record, -1 = none
    rule = np.full(n, "", dtype=object)
    score = np.full(n, np.nan)
    kept: list[tuple[int, int, str, float, str]] = []  # (row, matched row, rule, score, action)

    # 1. key: the same key earlier (history first, then the batch); a key from history whose
    # fields changed is an update, kept and counted, never a duplicate
    content = _content_key(rows, spec)
    first_of_key = rows.groupby("_key", sort=False)["_pos"].transform("min").to_numpy()
    dup = is_batch & (first_of_key != rows["_pos"].to_numpy())
    updated = dup & ~is_batch[first_of_key] & (content != content[first_of_key])
    dup &= ~updated
    canonical[dup] = first_of_key[dup]
    rule[dup] = "key"
    score[dup] = 1.0
    status = "exact-key only: a catalogue keeps every key" if key_only else ""

    if not key_only:
        # 2. content: identical on every field but the key; reported unless the spec drops them
        live = np.flatnonzero(canonical < 0)
        first_of_content = (
            pd.Series(live).groupby(content[live]).transform("min").to_numpy(dtype=np.int64)
        )
        same = is_batch[live] & (first_of_content != live)
        if spec.dedup.content_duplicates == "drop":
            canonical[live[same]] = first_of_content[same]
            rule[live[same]] = "content"
            score[live[same]] = 1.0
        else:
            kept += [(int(p), int(c), "content", 1.0, "reported")
                     for p, c in zip(live[same], first_of_content[same], strict=True)]  # fmt: skip

        # 3. near: re-listings, scored by the source's dedupe model
        status_of = matcher if matcher is not None else near.load_matcher(spec)
        status = status_of.status
        if status_of.matcher is not None:
            kept += _near(rows, spec, status_of.matcher, canonical, rule, score)
    result = _result(rows, batch, canonical, rule, score, kept, spec)
    result.counts["updated"] = int(updated.sum())
    result.near_status = status
    return result


def _near(
    rows: pd.DataFrame,
    spec: SourceSpec,
    matcher: near.Matcher,
    canonical: npt.NDArray[np.int64],
    rule: npt.NDArray[Any],
    score: npt.NDArray[np.float64],
) -> list[tuple[int, int, str, float, str]]:
    """Mark near duplicates in place; return the borderline pairs kept."""
    alive = np.flatnonzero(canonical < 0)
    is_new = rows["_batch"].to_numpy(dtype=bool)[alive]
    codes = blocking.blocking_codes(rows.iloc[alive], spec)
    rank = blocking.sort_rank(rows.iloc[alive], spec)
    earlier, later = blocking.candidate_pairs(
        codes, is_new, spec.dedup.max_missing, rank, spec.dedup.window
    )
    earlier, later = alive[earlier], alive[later]
    keys = rows["_key"].to_numpy(dtype=object)
    other = keys[earlier] != keys[later]  # a key's own earlier version is an update
    earlier, later = earlier[other], later[other]
    wanted = np.unique(np.concatenate([earlier, later]))
    recs = dict(zip(wanted.tolist(), near.records(rows.iloc[wanted], spec), strict=True))
    scores = matcher.score([(recs[a], recs[b]) for a, b in zip(earlier, later, strict=True)])
    threshold, margin = spec.dedup.threshold, spec.dedup.review_margin
    # best score first; among equals the earliest canonical record
    order = np.lexsort((earlier, -np.round(scores, 6), later))
    kept: list[tuple[int, int, str, float, str]] = []
    for i in order:
        a, b, s = int(earlier[i]), int(later[i]), float(round(scores[i], 6))
        if s >= threshold:
            if canonical[b] < 0 and canonical[a] < 0:
                canonical[b] = a
                rule[b] = "near"
                score[b] = s
        elif s >= threshold - margin:
            kept.append((b, a, "near", s, "kept"))
    return [k for k in kept if canonical[k[0]] < 0]


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


def content_codes(rows: pd.DataFrame, spec: SourceSpec) -> npt.NDArray[np.int64]:
    """One integer per row (0..n-1), equal exactly where :func:`_content_key` is equal, built
    column by column (8 bytes a row, not a joined string a row). A field's text holding the
    separator falls back to the joined key (parts with it could join to equal strings)."""
    names = [n for n in spec.detail.fields if n != spec.detail.key]
    key = np.zeros(len(rows), dtype=np.int64)
    if not names:
        return np.arange(len(rows), dtype=np.int64)  # every row its own content
    for name in names:
        codes, uniques = pd.factorize(_as_text(rows[name]))
        if any("\x1f" in u for u in uniques):
            joined: npt.NDArray[np.int64] = pd.factorize(_content_key(rows, spec))[0]
            return joined.astype(np.int64)
        key = blocking.combined_codes(key, codes.astype(np.int64))
    return key


def _as_text(column: pd.Series) -> pd.Series:
    """A stable text form of a column for comparisons: whole floats lose their ``.0``."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = pd.to_numeric(column, errors="coerce").astype("Float64")
        text = _per_distinct(numbers, lambda v: "\x00" if v is None else f"{float(v):.6g}")
    else:
        text = _per_distinct(column, lambda v: "\x00" if v is None else str(v))
    return pd.Series(text, index=column.index, dtype=object)


def _empty_matches() -> pd.DataFrame:
    return _matches_frame(pd.DataFrame(), np.empty(0, np.int64), np.empty(0, np.int64), [], [], [])


def _matches_frame(
    rows: pd.DataFrame,
    positions: npt.NDArray[np.int64],
    matched: npt.NDArray[np.int64],
    rules: list[str],
    scores: list[float],
    actions: list[str],
    spec: SourceSpec | None = None,
) -> pd.DataFrame:
    """One row per (record, matched record) decision, with :data:`MATCH_COLUMNS`."""
    if len(positions) and spec is not None:
        wanted = np.unique(np.concatenate([positions, matched]))
        recs = dict(zip(wanted.tolist(), near.records(rows.iloc[wanted], spec), strict=True))
        as_json = {p: json.dumps(r, sort_keys=True, ensure_ascii=False) for p, r in recs.items()}
    else:
        as_json = {}
    is_batch = rows["_batch"].to_numpy(dtype=bool) if len(rows) else np.empty(0, bool)
    pick = (lambda col: rows[col].to_numpy()[positions]) if len(rows) else (lambda col: [])
    other = (lambda col: rows[col].to_numpy()[matched]) if len(rows) else (lambda col: [])
    frame = pd.DataFrame(
        {
            "record_key": pd.Series(pick("_key"), dtype="string"),
            "url": pd.Series(pick("_url"), dtype="string"),
            "logical_date": pd.Series(pick("_date"), dtype="string"),
            "is_duplicate_of": pd.Series(other("_key"), dtype="string"),
            "matched_date": pd.Series(other("_date"), dtype="string"),
            "kind": pd.Series(["near" if r == "near" else "exact" for r in rules], dtype="string"),
            "scope": pd.Series(
                ["batch" if is_batch[m] else "history" for m in matched], dtype="string"
            ),
            "rule": pd.Series(rules, dtype="string"),
            "score": pd.Series(scores, dtype="Float64"),
            "action": pd.Series(actions, dtype="string"),
            "record": pd.Series([as_json.get(int(p)) for p in positions], dtype="string"),
            "matched_record": pd.Series([as_json.get(int(m)) for m in matched], dtype="string"),
        }
    )
    return frame.sort_values(
        ["record_key", "url", "is_duplicate_of", "rule"], kind="stable", ignore_index=True
    )


def _result(
    rows: pd.DataFrame,
    batch: pd.DataFrame,
    canonical: npt.NDArray[np.int64],
    rule: npt.NDArray[Any],
    score: npt.NDArray[np.float64],
    kept: list[tuple[int, int, str, float, str]],
    spec: SourceSpec,
) -> DedupResult:
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    dup = is_batch & (canonical >= 0)
    positions = np.flatnonzero(dup)
    counts = dict.fromkeys(COUNT_NAMES, 0)
    for position in positions:
        kind = "near" if rule[position] == "near" else "exact"
        scope = "batch" if is_batch[canonical[position]] else "history"
        counts[f"{kind}_{scope}"] += 1
    duplicates = _matches_frame(
        rows,
        positions,
        canonical[positions],
        [str(r) for r in rule[positions]],
        [float(s) for s in score[positions]],
        ["dropped"] * len(positions),
        spec,
    )
    kept_matches = _matches_frame(
        rows,
        np.array([k[0] for k in kept], dtype=np.int64),
        np.array([k[1] for k in kept], dtype=np.int64),
        [k[2] for k in kept],
        [k[3] for k in kept],
        [k[4] for k in kept],
        spec,
    )
    counts["reported"] = int((kept_matches["action"] == "reported").sum())
    counts["borderline"] = int((kept_matches["action"] == "kept").sum())

    keep_rows = rows["_row"].to_numpy()[is_batch & (canonical < 0)]
    frame = batch.iloc[np.sort(keep_rows)].drop(columns="is_duplicate_of", errors="ignore")
    frame["is_duplicate_of"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    sort_by = [KEY, "url"] if "url" in frame else [KEY]
    frame = frame.sort_values(sort_by, kind="stable", ignore_index=True)
    return DedupResult(frame, duplicates, kept_matches, counts)
