"""The driver's side of :mod:`harvest.cleaning.partitioned`: the content matches and the scored
candidate pairs the near buckets found (:func:`harvest.cleaning.shuffle.content_and_pairs`,
in files under ``<work>/found``), decided as :func:`harvest.cleaning.dedup.deduplicate`
decides them, into the dropped records, the duplicates and the kept matches.

The pairs are decided from their order keys and scores alone (ranks in numpy arrays); the
compared records (JSON) of a pair are read only when it is output (a near duplicate or a kept
borderline pair), so the driver holds the output and not every pair scored."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvest.cleaning.dedup import MATCH_COLUMNS
from harvest.cleaning.shuffle import ORDER
from harvest.config.spec import SourceSpec


def _match_rows(
    entries: pd.DataFrame, p: str, c: str, rule: str, scores: Any, action: str
) -> pd.DataFrame:
    """Rows of :data:`MATCH_COLUMNS` (the dtypes of :func:`dedup._matches_frame`)."""
    return pd.DataFrame(
        {
            "record_key": pd.Series(entries[f"{p}_key"].to_numpy(), dtype="string"),
            "url": pd.Series(entries[f"{p}_url"].to_numpy(), dtype="string"),
            "logical_date": pd.Series(entries[f"{p}_date"].to_numpy(), dtype="string"),
            "is_duplicate_of": pd.Series(entries[f"{c}_key"].to_numpy(), dtype="string"),
            "matched_date": pd.Series(entries[f"{c}_date"].to_numpy(), dtype="string"),
            "kind": pd.Series(
                ["near" if rule == "near" else "exact"] * len(entries), dtype="string"
            ),
            "scope": pd.Series(
                np.where(entries[f"{c}_batch"].to_numpy(dtype=bool), "batch", "history"),
                dtype="string",
            ),
            "rule": pd.Series([rule] * len(entries), dtype="string"),
            "score": pd.Series(np.asarray(scores, dtype=float), dtype="Float64"),
            "action": pd.Series([action] * len(entries), dtype="string"),
            "record": pd.Series(entries[f"{p}record"].to_numpy(), dtype="string"),
            "matched_record": pd.Series(entries[f"{c}record"].to_numpy(), dtype="string"),
        }
    )


def _sorted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="Float64" if c == "score" else "string")
                             for c in MATCH_COLUMNS})  # fmt: skip
    frame = pd.concat(frames, ignore_index=True)[MATCH_COLUMNS]
    return frame.sort_values(
        ["record_key", "url", "is_duplicate_of", "rule"], kind="stable", ignore_index=True
    )


_ORDER_TYPES = pa.schema(
    [("_date", pa.large_string()), ("_key", pa.large_string()), ("_url", pa.large_string()),
     ("_batch", pa.bool_()), ("_seq", pa.int64())]
)  # fmt: skip


def order_ranks(sides: list[pa.Table]) -> list[np.ndarray]:
    """Per table of :data:`ORDER` columns, each row's rank among the distinct rows of them all
    in :data:`ORDER` (equal ranks: the same row, known by ``_batch`` and ``_seq``)."""
    both = pa.concat_tables([s.select(ORDER).cast(_ORDER_TYPES) for s in sides])
    order = pc.sort_indices(both, sort_keys=[(c, "ascending") for c in ORDER]).to_numpy()
    batch = both["_batch"].to_numpy(zero_copy_only=False)[order]
    seq = both["_seq"].to_numpy()[order]
    del both
    new = np.ones(len(order), dtype=bool)
    new[1:] = (batch[1:] != batch[:-1]) | (seq[1:] != seq[:-1])
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    ends = np.cumsum([0, *(s.num_rows for s in sides)])
    return [ranks[a:b] for a, b in pairwise(ends)]


def decide_pairs(
    spec: SourceSpec, earlier: np.ndarray, later: np.ndarray, scores: np.ndarray
) -> tuple[list[int], list[int]]:
    """The positions of the near duplicates (the later record dropped) and of the borderline
    pairs kept among pairs of ranks (:func:`order_ranks`) ``earlier``, ``later`` scored
    ``scores``, decided as :func:`harvest.cleaning.dedup.deduplicate` decides: by the later
    record, then the best score, then the earliest record; a record dropped already is no
    one's canonical record."""
    canonical: dict[int, int] = {}
    matched, borderline = [], []
    threshold, margin = spec.dedup.threshold, spec.dedup.review_margin
    for i in np.lexsort((earlier, -scores, later)).tolist():
        a, b = int(earlier[i]), int(later[i])
        if scores[i] >= threshold:
            if b not in canonical and a not in canonical:
                canonical[b] = a
                matched.append(i)
        elif scores[i] >= threshold - margin:
            borderline.append(i)
    return matched, [i for i in borderline if int(later[i]) not in canonical]


def _rows_at(files: list[Path], sizes: list[int], positions: list[int]) -> pd.DataFrame | None:
    """The rows of ``files`` (``sizes`` rows each, read as one frame) at ``positions``, in
    that order, each file read once; ``None`` for no positions."""
    if not positions:
        return None
    wanted = np.asarray(positions, dtype=np.int64)
    order = np.argsort(wanted, kind="stable")
    ascending = wanted[order]
    starts = np.cumsum([0, *sizes])
    frames = []
    for n, file in enumerate(files):
        lo, hi = np.searchsorted(ascending, [starts[n], starts[n + 1]])
        if hi > lo:
            frames.append(pq.read_table(file).take(ascending[lo:hi] - starts[n]).to_pandas())
    picked = pd.concat(frames, ignore_index=True)
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order))
    return picked.iloc[back].reset_index(drop=True)


def resolve_found(
    spec: SourceSpec, folder: Path, key_duplicates: list[pd.DataFrame]
) -> tuple[frozenset[int], pd.DataFrame, pd.DataFrame]:
    """The batch rows dropped (their ``_seq``), the duplicates (``key_duplicates`` and the
    others) and the kept matches, from what the near buckets wrote under ``folder/found``
    (:func:`harvest.cleaning.shuffle.store_found`, in bucket order): content matches (dropped
    or reported, as the spec says) and the near pairs (:func:`decide_pairs`)."""
    found = sorted((folder / "found").glob("content-*.parquet"))
    dropped: set[int] = set()
    duplicates, kept = list(key_duplicates), []
    if found:
        matches = pd.concat([pd.read_parquet(f) for f in found], ignore_index=True)
        matches = matches.sort_values([f"p_{c}" for c in ORDER], kind="stable", ignore_index=True)
        ones = [1.0] * len(matches)
        if spec.dedup.content_duplicates == "drop":
            dropped |= set(matches["p__seq"].astype(int))
            duplicates.append(_match_rows(matches, "p_", "c_", "content", ones, "dropped"))
        else:
            kept.append(_match_rows(matches, "p_", "c_", "content", ones, "reported"))
        del matches
    files = sorted((folder / "found").glob("pairs-*.parquet"))
    if files:
        sides = []
        for p in ("e_", "l_"):
            columns = [f"{p}{c}" for c in ORDER]
            tables = [pq.read_table(f, columns=columns).rename_columns(ORDER) for f in files]
            sides.append(pa.concat_tables([t.cast(_ORDER_TYPES) for t in tables]))
        sizes = [t.num_rows for t in tables]
        earlier, later = order_ranks(sides)
        del sides, tables
        scores = np.concatenate(
            [pq.read_table(f, columns=["score"])["score"].to_numpy() for f in files]
        ).astype(float)
        matched, borderline = decide_pairs(spec, earlier, later, scores)
        near = _rows_at(files, sizes, matched)
        if near is not None:
            dropped |= set(near["l__seq"].astype(int))
            duplicates.append(_match_rows(near, "l_", "e_", "near", near["score"], "dropped"))
        border = _rows_at(files, sizes, borderline)
        if border is not None:
            kept.append(_match_rows(border, "l_", "e_", "near", border["score"], "kept"))
    return frozenset(dropped), _sorted(duplicates), _sorted(kept)
