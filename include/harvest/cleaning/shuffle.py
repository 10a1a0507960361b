"""The Dask tasks of :mod:`harvest.cleaning.partitioned`: parts normalised and shuffled into
buckets through Parquet files (``<work>/key/<bucket>/`` by key, ``<work>/content/<bucket>/`` by
a hash of the content), content matches per bucket, and the scoring of candidate pairs (found
by :mod:`harvest.cleaning.ranges`).

A row is known by its order key (``_date``, ``_key``, ``_url``, ``_batch``, ``_seq``): the
order :func:`harvest.cleaning.dedup.deduplicate` decides the earliest record by (history
before the batch, then each in its own order; ``_seq`` is the row's number in the validated
file, or in the history).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harvest.cleaning import near
from harvest.cleaning.dedup import KEY, _content_key, _iso, _per_distinct
from harvest.cleaning.normalise import normalise_frame
from harvest.config.spec import SourceSpec

ORDER = ["_date", "_key", "_url", "_batch", "_seq"]
SAMPLE = 256  # keys per part sampled for the key buckets' bounds
SCORED = 20_000  # candidate pairs scored by dedupe at a time


@dataclass
class Prepared:
    """What normalising one part found: rows, earliest day, typos corrected."""

    rows: int
    first_day: str | None = None
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)


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
    return Prepared(rows=len(old))


def bucket_files(
    folder: Path, bucket: int | str
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The batch rows and the history rows of one bucket (``None`` when it has none)."""
    target = folder / (bucket if isinstance(bucket, str) else f"{bucket:05d}")

    def read(prefix: str) -> pd.DataFrame | None:
        files = sorted(target.glob(f"{prefix}-*.parquet"))
        frames = [pd.read_parquet(f) for f in files]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else None

    return read("batch"), read("hist")


def _rows(
    batch: pd.DataFrame | None, history: pd.DataFrame | None, spec: SourceSpec
) -> pd.DataFrame:
    """Batch and history rows in :data:`ORDER` (as :func:`dedup._ordered_rows` orders them)."""
    parts = [
        f.assign(_batch=flag) for f, flag in ((history, False), (batch, True)) if f is not None
    ]
    if not parts:
        return pd.DataFrame(columns=[*ORDER, KEY])
    rows = pd.concat(parts, ignore_index=True)
    rows["_date"] = pd.Series(_per_distinct(rows["logical_date"], _iso), index=rows.index)
    rows["_date"] = rows["_date"].fillna("")
    rows["_key"] = rows[KEY].astype("string").fillna("")
    rows["_url"] = rows["url"].astype("string").fillna("") if "url" in rows else ""
    rows = rows.sort_values(ORDER, kind="stable", ignore_index=True)
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


def content_split(spec: SourceSpec, folder: str, bucket: int, buckets: int) -> None:
    """The rows of key bucket ``bucket`` content matching compares (the batch's key survivors,
    the history) to content buckets by a hash of their content (``content/<c>/``): every
    content-identical record in one bucket."""
    root = Path(folder)
    kept_path = root / "key" / f"kept-{bucket:05d}.parquet"
    _, history = bucket_files(root / "key", bucket)
    frames = {"batch": pd.read_parquet(kept_path) if kept_path.exists() else None, "hist": history}
    if not [n for n in spec.detail.fields if n != spec.detail.key]:
        return  # no content to compare: every record is distinct
    for side, frame in frames.items():
        if frame is None or frame.empty:
            continue
        which = _content_hash(frame, spec) % np.uint64(buckets)
        _write_buckets(frame, which.astype(np.int64), root / "content", f"{side}-{bucket:05d}")


def _coarse(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "\x00"
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return f"{float(value):.6g}"  # numbers in any column dtype as _as_text's numeric form
    return str(value)


def _content_hash(frame: pd.DataFrame, spec: SourceSpec) -> np.ndarray:
    """A hash per row equal for rows :func:`_content_key` finds equal, whatever the dtypes of
    the frames they come from (numbers compared coarsely: a coarser key only shares buckets)."""
    names = [n for n in spec.detail.fields if n != spec.detail.key]
    texts = pd.DataFrame(
        {n: _per_distinct(frame[n], _coarse) if n in frame else "\x00" for n in names},
        index=frame.index,
    )
    hashed: np.ndarray = pd.util.hash_pandas_object(texts, index=False).to_numpy()
    return hashed


def content_matches(spec: SourceSpec, folder: str, bucket: int) -> pd.DataFrame:
    """The content matches of one content bucket: each batch record identical on every field but
    the key to an earlier one (``p_*``), with the earliest (``c_*``; :data:`ORDER`)."""
    batch, history = bucket_files(Path(folder) / "content", bucket)
    rows = _rows(batch, history, spec)
    n = len(rows)
    if n == 0 or batch is None:
        return pd.DataFrame()
    is_batch = rows["_batch"].to_numpy(dtype=bool)
    content = _content_key(rows.assign(_pos=np.arange(n)), spec)
    live = np.arange(n)
    first = pd.Series(live).groupby(content).transform("min").to_numpy(dtype=np.int64)
    p = np.flatnonzero(is_batch & (first != live))
    return pd.concat([_entries(rows, p, spec, "p_"), _entries(rows, first[p], spec, "c_")], axis=1)


def scored_pairs(
    rows: pd.DataFrame, earlier: np.ndarray, later: np.ndarray, spec: SourceSpec
) -> pd.DataFrame:
    """The pairs (positions in ``rows``) scored by the source's dedupe matcher at or above
    ``threshold - review_margin``: ``e_*`` earlier, ``l_*`` later record (:func:`_entries`),
    ``score`` (rounded to 6 places as on pandas)."""
    matcher = near.load_matcher(spec).matcher
    if matcher is None:  # the driver found one: the training file changed under the run
        raise RuntimeError(f"source {spec.name}: no dedupe matcher in a Dask worker")
    wanted = np.unique(np.concatenate([earlier, later]))
    recs = dict(zip(wanted.tolist(), near.records(rows.iloc[wanted], spec), strict=True))
    scores = np.empty(len(earlier), dtype=np.float64)
    for start in range(0, len(earlier), SCORED):  # dedupe's arrays of one slice at a time
        stop = start + SCORED
        chunk = zip(earlier[start:stop], later[start:stop], strict=True)
        scores[start:stop] = np.round(matcher.score([(recs[a], recs[b]) for a, b in chunk]), 6)
    high = scores >= spec.dedup.threshold - spec.dedup.review_margin
    pairs = pd.concat(
        [_entries(rows, earlier[high], spec, "e_"), _entries(rows, later[high], spec, "l_")],
        axis=1,
    )
    pairs["score"] = scores[high]
    return pairs
