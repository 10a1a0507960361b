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
from harvest.cleaning.normalise import normalise_frame
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind

ORDER = ["_date", "_key", "_url", "_batch", "_seq"]
SAMPLE = 256  # keys per part sampled for the key buckets' bounds
DISTINCT = 1000  # values per block field a part reports (enough to size a dimension)
NEAR_ROWS = 20_000  # rows of a near bucket aimed at (its candidate pairs are scored at once)
SCORED = 20_000  # candidate pairs scored by dedupe at a time


@dataclass
class Prepared:
    """What normalising one part found: rows, earliest day, typos corrected, block fields'
    missing values."""

    rows: int
    first_day: str | None = None
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, set[str]] = field(default_factory=dict)


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
    """Per block field, how many rows lack it and (up to :data:`DISTINCT`) its values."""
    missing, distinct = {}, {}
    for name, compared in _block_compared(spec).items():
        values = near.column_values(frame, compared)
        missing[name] = sum(v is None for v in values)
        distinct[name] = set(list({str(v) for v in values if v is not None})[:DISTINCT])
    return {"missing": missing, "distinct": distinct}


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


@dataclass(frozen=True)
class Grid:
    """The near buckets: one dimension per group field (a block field), ``sizes[i]`` buckets
    along it. A row's coordinate along a dimension is its value's place among ``values[i]``
    (every value of the field, when the parts reported them all: as even as the values allow)
    or else the hash of its value, modulo the size, and ``-1`` where it lacks the field: it is
    then copied to every bucket along that dimension, so any two rows that can be compared
    (equal on every block field both have) share a bucket. The bucket a match is *kept* in is
    the one of the pair's coordinates (either row's where one lacks the field, 0 where both
    do): once."""

    fields: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    values: tuple[tuple[str, ...], ...] = ()

    @property
    def buckets(self) -> int:
        return int(np.prod(self.sizes)) if self.sizes else 1

    def coordinates(self, frame: pd.DataFrame, spec: SourceSpec) -> np.ndarray:
        """One row of coordinates per record (``-1``: the field is missing)."""
        compared = _block_compared(spec)
        out = np.zeros((len(frame), len(self.fields)), dtype=np.int64)
        for i, (name, size) in enumerate(zip(self.fields, self.sizes, strict=True)):
            values = pd.Series(near.column_values(frame, compared[name]), dtype="object")
            hashed = pd.util.hash_pandas_object(values.astype("string"), index=False).to_numpy()
            place = (hashed % np.uint64(size)).astype(np.int64)
            known = self.values[i] if i < len(self.values) else ()
            if known:
                index = pd.Index(known, dtype="object").get_indexer(values.to_numpy())
                place = np.where(index >= 0, index % size, place)
            out[:, i] = np.where(values.isna(), -1, place)
        return out

    def number(self, coordinates: np.ndarray) -> np.ndarray:
        """The bucket number of full coordinates (no ``-1``), row by row."""
        strides = np.cumprod((1, *self.sizes[:-1])) if self.sizes else np.ones(0, np.int64)
        numbers: np.ndarray = (coordinates * strides).sum(axis=1).astype(np.int64)
        return numbers

    def spread(self, coordinates: np.ndarray) -> list[np.ndarray]:
        """Per bucket, the rows it holds (a row lacking a field in every bucket along it)."""
        strides = np.cumprod((1, *self.sizes[:-1])) if self.sizes else np.ones(0, np.int64)
        lacking = coordinates < 0
        base = self.number(np.maximum(coordinates, 0))
        placed_rows, placed_buckets = [], []
        patterns, inverse = np.unique(lacking, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            members = np.flatnonzero(inverse.ravel() == number)
            offsets = [0]
            for axis in np.flatnonzero(pattern):
                step = int(strides[axis])
                offsets = [o + k * step for o in offsets for k in range(self.sizes[axis])]
            for offset in offsets:
                placed_rows.append(members)
                placed_buckets.append(base[members] + offset)
        rows = np.concatenate(placed_rows) if placed_rows else np.empty(0, np.int64)
        where = np.concatenate(placed_buckets) if placed_buckets else np.empty(0, np.int64)
        order = np.lexsort((rows, where))
        rows, where = rows[order], where[order]
        bounds = np.searchsorted(where, np.arange(self.buckets + 1))
        return [rows[bounds[b] : bounds[b + 1]] for b in range(self.buckets)]


def grid(prepared: list[Prepared], buckets: int) -> Grid:
    """About ``buckets`` near buckets (at least one per :data:`NEAR_ROWS` rows) over the block
    fields no record lacks, the most varied first. The block of any candidate pair -- every
    record its sorted neighbourhood (``dedup.window``) slides over -- is then whole in one
    bucket, so each bucket finds the pairs the pandas path finds. (A field some record lacks
    would spread the blocks of the pairs lacking it over every bucket along it.)"""
    rows = sum(p.rows for p in prepared)
    buckets = max(buckets, -(-rows // NEAR_ROWS))
    distinct: dict[str, set[str]] = {}
    lacked: set[str] = set()
    for part in prepared:
        for name, count in part.missing.items():
            distinct.setdefault(name, set()).update(part.distinct[name])
            if count:
                lacked.add(name)
    fields: list[str] = []
    sizes: list[int] = []
    values: list[tuple[str, ...]] = []
    for name in sorted(set(distinct) - lacked, key=lambda n: (-len(distinct[n]), n)):
        total = int(np.prod(sizes)) if sizes else 1
        if total >= buckets:
            break
        size = min(len(distinct[name]), -(-buckets // total))
        if size >= 2:
            fields.append(name)
            sizes.append(size)
            every = all(len(p.distinct.get(name, ())) < DISTINCT for p in prepared)
            values.append(tuple(sorted(distinct[name])) if every else ())
    return Grid(tuple(fields), tuple(sizes), tuple(values))


def split_survivors(spec: SourceSpec, folder: str, bucket: int, cells: Grid) -> None:
    """The rows of key bucket ``bucket`` that content and near matching compare (the batch's
    survivors, the history) to their near buckets (``near/<bucket>/``; see :class:`Grid`)."""
    root = Path(folder)
    kept_path = root / "key" / f"kept-{bucket:05d}.parquet"
    _, history = bucket_files(root / "key", bucket)
    frames = {"batch": pd.read_parquet(kept_path) if kept_path.exists() else None, "hist": history}
    for side, frame in frames.items():
        if frame is None or frame.empty:
            continue
        coordinates = cells.coordinates(frame, spec)
        frame = frame.assign(**{f"_c{i}": coordinates[:, i] for i in range(coordinates.shape[1])})
        for near_bucket, members in enumerate(cells.spread(coordinates)):
            if len(members):
                target = root / "near" / f"{near_bucket:05d}"
                target.mkdir(parents=True, exist_ok=True)
                frame.iloc[members].to_parquet(target / f"{side}-{bucket:05d}.parquet", index=False)


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
    spec: SourceSpec, folder: str, bucket: int, cells: Grid, with_near: bool
) -> tuple[int, int]:
    """Content matches and scored candidate pairs of one near bucket, those whose bucket this
    is (:class:`Grid`), written by :func:`store_found` (content matches: ``p_*`` record, ``c_*``
    earliest record; pairs scored at or above ``threshold - review_margin``: ``e_*`` earlier,
    ``l_*`` later record, ``score``). Returns their numbers of rows."""
    dims = len(cells.fields)
    needed = {*spec.detail.fields, *(c.column for c in near.compared_fields(spec))}
    columns = {"logical_date", KEY, "url", "_seq", *needed, *(f"_c{i}" for i in range(dims))}
    rows = _rows(*bucket_files(Path(folder) / "near", bucket, columns), spec)
    pa.default_memory_pool().release_unused()  # the files' and copies' buffers, freed above
    n = len(rows)
    empty = pd.DataFrame()
    if n == 0:
        return store_found(folder, bucket, empty, empty)
    coordinates = rows[[f"_c{i}" for i in range(dims)]].to_numpy(dtype=np.int64).reshape(n, dims)

    def here(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether the match of rows ``a`` and ``b`` is kept in this bucket."""
        both = np.where(coordinates[a] >= 0, coordinates[a], coordinates[b])
        kept: np.ndarray = cells.number(np.maximum(both, 0)) == bucket
        return kept

    is_batch = rows["_batch"].to_numpy(dtype=bool)
    content = content_codes(rows, spec)
    live = np.arange(n)
    first = pd.Series(live).groupby(content).transform("min").to_numpy(dtype=np.int64)
    same = is_batch & (first != live)
    canonical = np.full(n, -1, dtype=np.int64)
    if spec.dedup.content_duplicates == "drop":
        canonical[same] = first[same]
    p = np.flatnonzero(same)
    p = p[here(p, first[p])]
    matches = pd.concat(
        [_entries(rows, p, spec, "p_"), _entries(rows, first[p], spec, "c_")], axis=1
    )
    if not with_near:
        return store_found(folder, bucket, matches, empty)
    del content, first, same
    alive = np.flatnonzero(canonical < 0)
    picked = rows if len(alive) == n else rows.iloc[alive]
    codes = blocking.blocking_codes(picked, spec)
    rank = blocking.sort_rank(picked, spec)
    del picked
    earlier, later = blocking.candidate_pairs(
        codes, is_batch[alive], spec.dedup.max_missing, rank, spec.dedup.window
    )
    earlier, later = alive[earlier], alive[later]
    keys = rows["_key"].to_numpy(dtype=object)
    keep = (keys[earlier] != keys[later]) & here(earlier, later)
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
    return store_found(folder, bucket, matches, pairs)
