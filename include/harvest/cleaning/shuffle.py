"""The Dask tasks of :mod:`harvest.cleaning.partitioned`: parts normalised and shuffled into
buckets through Parquet files (``<work>/key/<bucket>/``, ``<work>/near/<bucket>/``), content
matches and scored candidate pairs per bucket, and their resolution in the driver.

A row is known by its order key (``_date``, ``_key``, ``_url``, ``_batch``, ``_seq``): the
order :func:`harvest.cleaning.dedup.deduplicate` decides the earliest record by (history
before the batch, then each in its own order; ``_seq`` is the row's number in the validated
file, or in the history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from harvest.cleaning import blocking, near
from harvest.cleaning.dedup import KEY, _iso, _per_distinct, content_codes
from harvest.cleaning.found import store_found
from harvest.cleaning.groups import REPORT, Layout, pattern_counts, write_split
from harvest.cleaning.normalise import normalise_frame
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind

ORDER = ["_date", "_key", "_url", "_batch", "_seq"]
SAMPLE = 256  # keys per part sampled for the key buckets' bounds
DISTINCT = 1000  # values per block field a part reports (enough to size a dimension)
SCORED = 20_000  # candidate pairs scored by dedupe at a time


@dataclass
class Prepared:
    """What normalising one part found: rows, earliest day, typos corrected, block fields'
    values (up to :data:`DISTINCT` each) and how many rows lack each set of block fields."""

    rows: int
    first_day: str | None = None
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, set[str]] = field(default_factory=dict)
    patterns: dict[int, int] = field(default_factory=dict)  # missing block fields: rows


def key_sample(path: str, group: int, key: str) -> list[str]:
    """Every n-th key of one row group of the validated file (for the bucket bounds)."""
    import pyarrow.parquet as pq

    keys = pq.ParquetFile(path).read_row_group(group, columns=[key]).column(0).to_pylist()
    step = max(1, len(keys) // SAMPLE)
    return sorted(str(k) for k in keys[::step] if k is not None)


def key_bounds(sample: list[str], buckets: int) -> list[str]:
    """``buckets - 1`` sorted keys splitting ``sample`` into about equal ranges."""
    ordered = sorted(sample)
    if buckets < 2 or not ordered:
        return []
    picks = {ordered[len(ordered) * i // buckets] for i in range(1, buckets)}
    return sorted(picks)


def key_bucket_of(keys: pd.Series, bounds: list[str], buckets: int) -> np.ndarray:
    """The key bucket of each ``record_key`` (range buckets; a missing key to the last)."""
    text = keys.astype("object")
    missing = text.isna().to_numpy()
    filled = text.where(~missing, "").to_numpy(dtype=object)
    picked = np.searchsorted(np.array(bounds, dtype=object), filled, side="right")
    return np.where(missing, buckets - 1, picked).astype(np.int64)


def _write_buckets(frame: pd.DataFrame, which: np.ndarray, folder: Path, name: str) -> None:
    for bucket in np.unique(which):
        target = folder / f"{int(bucket):05d}"
        target.mkdir(parents=True, exist_ok=True)
        frame[which == bucket].to_parquet(target / f"{name}.parquet", index=False)


def _block_counts(frame: pd.DataFrame, spec: SourceSpec) -> dict[str, Any]:
    """Per block field (up to :data:`DISTINCT`) its values, and the rows lacking each set of
    block fields (:func:`harvest.cleaning.groups.pattern_counts`)."""
    distinct = {}
    for name, compared in _block_compared(spec).items():
        values = near.column_values(frame, compared)
        distinct[name] = set(list({str(v) for v in values if v is not None})[:DISTINCT])
    return {"distinct": distinct, "patterns": pattern_counts(frame, spec)}


def _block_compared(spec: SourceSpec) -> dict[str, near.Compared]:
    by_name = {c.name: c for c in near.compared_fields(spec)}
    return {
        name: by_name.get(name)
        or near.Compared(name, name, field_kind(spec.detail.fields[name].kind).comparison)
        for name in near.block_fields(spec)
        if name != spec.detail.key
    }


def prepare_batch(
    path: str, group: int, spec: SourceSpec, folder: str, offset: int, bounds: list[str],
    buckets: int,
) -> Prepared:  # fmt: skip
    """Normalise row group ``group`` of the validated file, number its rows from ``offset``
    and write them to their key buckets (``key/<bucket>/batch-<group>``)."""
    import pyarrow.parquet as pq

    part = pq.ParquetFile(path).read_row_group(group).to_pandas()
    normalised = normalise_frame(part, spec)
    frame = normalised.frame
    frame["record_key"] = frame[spec.detail.key].astype("string")
    frame["_seq"] = np.arange(offset, offset + len(frame), dtype=np.int64)
    which = key_bucket_of(frame[KEY], bounds, buckets)
    _write_buckets(frame, which, Path(folder) / "key", f"batch-{group:05d}")
    days = [d for d in _per_distinct(frame["logical_date"], _iso) if d is not None]
    return Prepared(
        rows=len(frame),
        first_day=min(days) if days else None,
        corrections=normalised.corrections,
        corrected=normalised.corrected,
        **_block_counts(frame, spec),
    )


def prepare_history(
    path: str, number: int, offset: int, spec: SourceSpec, folder: str,
    first_day: str | None, bounds: list[str], buckets: int,
) -> Prepared:  # fmt: skip
    """Normalise one part of the history: whole to ``history/<n>`` (imputation reads it), and
    the rows de-duplication compares with (canonical, dated before ``first_day``) to their
    key buckets (``key/<bucket>/hist-<n>``)."""
    old = normalise_frame(pd.read_parquet(path), spec).frame
    (Path(folder) / "history").mkdir(exist_ok=True)
    old.to_parquet(Path(folder) / "history" / f"{number:05d}.parquet", index=False)
    if "is_duplicate_of" in old:
        old = old[old["is_duplicate_of"].isna()]
    days = pd.Series(_per_distinct(old["logical_date"], _iso), index=old.index)
    old = old[days.notna() & (days < first_day)] if first_day else old.iloc[0:0]
    old = old.assign(_seq=np.arange(offset, offset + len(old), dtype=np.int64))
    which = key_bucket_of(old[KEY], bounds, buckets)
    _write_buckets(old, which, Path(folder) / "key", f"hist-{number:05d}")
    return Prepared(rows=len(old), **_block_counts(old, spec))


def bucket_files(
    folder: Path, bucket: int | str, columns: set[str] | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The batch rows and the history rows of one bucket (``None`` when it has none); only
    ``columns`` (those the files have) when given."""
    import pyarrow.parquet as pq

    target = folder / (bucket if isinstance(bucket, str) else f"{bucket:05d}")

    def one(path: Path) -> pd.DataFrame:
        if columns is None:
            return pd.read_parquet(path)
        return pd.read_parquet(
            path, columns=[c for c in pq.read_schema(path).names if c in columns]
        )

    def read(prefix: str) -> pd.DataFrame | None:
        files = sorted(target.glob(f"{prefix}-*.parquet"))
        frames = [one(f) for f in files]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else None

    return read("batch"), read("hist")


def split_survivors(spec: SourceSpec, folder: str, bucket: int, plan: Layout) -> None:
    """The rows of key bucket ``bucket`` that content and near matching compare (the batch's
    survivors, the history) to their near buckets (``near/<bucket>/``; see
    :mod:`harvest.cleaning.groups`), only the columns :func:`content_and_pairs` reads."""
    root = Path(folder)
    kept_path = root / "key" / f"kept-{bucket:05d}.parquet"
    columns = _near_columns(spec)
    _, history = bucket_files(root / "key", bucket, columns)
    batch = pd.read_parquet(kept_path) if kept_path.exists() else None
    for side, frame in (("batch", batch), ("hist", history)):
        if frame is not None and len(frame):
            frame = frame[[c for c in frame.columns if c in columns]]
            write_split(frame, spec, plan, root / "near", f"{side}-{bucket:05d}")


def _near_columns(spec: SourceSpec) -> set[str]:
    """The columns a near bucket needs: the order key's and the compared fields."""
    needed = {*spec.detail.fields, *(c.column for c in near.compared_fields(spec))}
    return {"logical_date", KEY, "url", "_seq", *needed}


def _rows(
    batch: pd.DataFrame | None, history: pd.DataFrame | None, spec: SourceSpec
) -> pd.DataFrame:
    """Batch and history rows in :data:`ORDER` (as :func:`dedup._ordered_rows` orders them)."""
    parts = [(f, flag) for f, flag in ((history, False), (batch, True)) if f is not None]
    if not parts:
        return pd.DataFrame(columns=[*ORDER, KEY])
    flags = np.concatenate([np.full(len(f), flag) for f, flag in parts])
    rows = pd.concat([f for f, _ in parts], ignore_index=True)
    del parts, batch, history  # the concatenation holds them: one copy at a time
    rows["_batch"] = flags
    needed = {*spec.detail.fields, *(c.column for c in near.compared_fields(spec))}

    def taken(name: str) -> pd.Series:  # a column only the order key needs: moved into it
        return rows[name] if name in needed else rows.pop(name)

    rows["_date"] = pd.Series(_per_distinct(taken("logical_date"), _iso), index=rows.index)
    rows["_date"] = rows["_date"].fillna("")
    rows["_key"] = taken(KEY).astype("string").fillna("")
    rows["_url"] = taken("url").astype("string").fillna("") if "url" in rows else ""
    order = rows[ORDER].sort_values(ORDER, kind="stable").index.to_numpy()
    rows = pd.DataFrame(  # sorted a column at a time, each freed once taken
        {c: rows.pop(c).take(order).reset_index(drop=True) for c in list(rows.columns)}
    )
    for name in spec.detail.fields:
        if name not in rows:
            rows[name] = pd.NA
    return rows


def _entries(
    rows: pd.DataFrame, positions: np.ndarray, spec: SourceSpec, prefix: str
) -> pd.DataFrame:
    """The order key and the compared fields (JSON) of ``rows`` at ``positions``."""
    picked = rows.iloc[positions]
    out = pd.DataFrame({f"{prefix}{c}": picked[c].to_numpy() for c in ORDER})
    recs = near.records(picked, spec) if len(picked) else []
    out[f"{prefix}record"] = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in recs]
    return out


def content_and_pairs(
    spec: SourceSpec, folder: str, bucket: int, plan: Layout, with_near: bool
) -> tuple[int, int, int]:
    """Content matches and scored candidate pairs of one near bucket (:mod:`harvest.cleaning.groups`:
    a content match where its row's copy reports it, a pair in the bucket of its union's
    group), written by :func:`store_found` (content matches: ``p_*`` record, ``c_*`` earliest
    record; pairs scored at or above ``threshold - review_margin``: ``e_*`` earlier, ``l_*``
    later record, ``score``). Returns their numbers of rows and the bucket's rows."""
    group = plan.group_of(bucket)
    columns = {*_near_columns(spec), REPORT}
    rows = _rows(*bucket_files(Path(folder) / "near", bucket, columns), spec)
    pa.default_memory_pool().release_unused()  # the files' and copies' buffers, freed above
    n = len(rows)
    empty = pd.DataFrame()
    if n == 0:
        return (*store_found(folder, bucket, empty, empty), 0)
    report = rows.pop(REPORT).to_numpy(dtype=bool)
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    content = content_codes(rows, spec)
    live = np.arange(n)
    first = pd.Series(live).groupby(content).transform("min").to_numpy(dtype=np.int64)
    same = is_batch & (first != live)
    canonical = np.full(n, -1, dtype=np.int64)
    if spec.dedup.content_duplicates == "drop":
        canonical[same] = first[same]
    p = np.flatnonzero(same & report)
    matches = pd.concat(
        [_entries(rows, p, spec, "p_"), _entries(rows, first[p], spec, "c_")], axis=1
    )
    if not with_near or group is None:  # a rest bucket's rows are in no union: no pairs
        return (*store_found(folder, bucket, matches, empty), n)
    del content, first, same, report
    alive = np.flatnonzero(canonical < 0)
    picked = rows if len(alive) == n else rows.iloc[alive]
    codes = blocking.blocking_codes(picked, spec)
    rank = blocking.sort_rank(picked, spec)
    del picked
    earlier, later = blocking.candidate_pairs(
        codes, is_batch[alive], spec.dedup.max_missing, rank, spec.dedup.window,
        unions=group.unions,
    )  # fmt: skip
    earlier, later = alive[earlier], alive[later]
    keys = rows["_key"].to_numpy(dtype=object)
    keep = keys[earlier] != keys[later]
    earlier, later = earlier[keep], later[keep]
    matcher = near.load_matcher(spec).matcher
    if matcher is None:  # the driver found one: the training file changed under the run
        raise RuntimeError(f"source {spec.name}: no dedupe matcher in a Dask worker")
    del codes, rank, keys, keep
    scores = np.empty(len(earlier), dtype=np.float64)
    for start in range(0, len(earlier), SCORED):  # dedupe's arrays of one slice at a time
        stop = start + SCORED
        scores[start:stop] = np.round(
            matcher.score(near.record_pairs(rows, earlier[start:stop], later[start:stop], spec)), 6
        )
    high = scores >= spec.dedup.threshold - spec.dedup.review_margin
    pairs = pd.concat(
        [_entries(rows, earlier[high], spec, "e_"), _entries(rows, later[high], spec, "l_")],
        axis=1,
    )
    pairs["score"] = scores[high]
    return (*store_found(folder, bucket, matches, pairs), n)
