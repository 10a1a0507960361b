"""Harvest's blocking for near duplicates: which pairs of records dedupe's model scores at all.

Records are only compared with records that agree on every exactly compared field both have
(:func:`harvest.cleaning.near.block_fields`), with at most ``dedup.max_missing`` fields missing
between them: a re-listing repeats the item's exact attributes (city, rooms, year) and words its
free text anew. Measured against dedupe's own learned blocking in ``benchmarks/bench_dedup.py``
(faster, and more precise with the same model).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from harvest.cleaning.near import Compared, block_fields, column_values, compared_fields
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind


def blocking_codes(frame: pd.DataFrame, spec: SourceSpec) -> npt.NDArray[np.int64]:
    """One integer code per row and block field (-1 where missing), equal where the compared
    values are equal."""
    by_name = {c.name: c for c in compared_fields(spec)}
    names = block_fields(spec)
    columns = []
    for name in names:
        compared = by_name.get(name) or Compared(
            name, name, field_kind(spec.detail.fields[name].kind).comparison
        )
        values = pd.Series(column_values(frame, compared), dtype="object")
        codes, _ = pd.factorize(values, use_na_sentinel=True)
        columns.append(codes.astype(np.int64))
    if not columns:
        return np.empty((len(frame), 0), dtype=np.int64)
    return np.column_stack(columns)


def candidate_pairs(
    codes: npt.NDArray[np.int64],
    is_new: npt.NDArray[np.bool_],
    max_missing: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Harvest's blocking: (earlier, later) row positions of the pairs that agree on every block
    field both have, with at most ``max_missing`` fields missing between them, ``later`` new.

    One hash join per set of missing fields that occurs (the union of two rows' missing
    fields); rows are only ever joined on the fields both have, so the number of pairs grows
    with the block sizes, not with n². Sorted by (later, earlier).
    """
    n, width = codes.shape
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if width == 0 or n < 2:
        return empty
    weights = 1 << np.arange(width, dtype=np.int64)
    pattern = ((codes < 0) * weights).sum(axis=1)
    names = [f"f{i}" for i in range(width)]
    rows = pd.DataFrame(codes, columns=names)
    rows["_pos"] = np.arange(n)
    rows["_pattern"] = pattern
    occurring = {int(p) for p in np.unique(pattern)}
    unions = sorted(
        {a | b for a in occurring for b in occurring if (a | b).bit_count() <= max_missing},
        key=lambda u: (u.bit_count(), u),
    )
    found = []
    for missing in unions:
        keys = [f for i, f in enumerate(names) if not (missing >> i) & 1]
        if not keys:
            continue
        eligible = rows[(rows["_pattern"] & ~missing) == 0]
        left = eligible[is_new[eligible["_pos"].to_numpy()]]  # the missing side may be either
        joined = left[[*keys, "_pos", "_pattern"]].merge(
            eligible[[*keys, "_pos", "_pattern"]], on=keys, suffixes=("_a", "_b")
        )
        a = joined["_pos_a"].to_numpy()
        b = joined["_pos_b"].to_numpy()
        union = joined["_pattern_a"].to_numpy() | joined["_pattern_b"].to_numpy()
        earlier, later = np.minimum(a, b), np.maximum(a, b)
        keep = (earlier != later) & is_new[later] & (union == missing)
        found.append(np.column_stack([earlier[keep], later[keep]]))
    if not found:
        return empty
    both = np.unique(np.concatenate(found), axis=0)
    order = np.lexsort((both[:, 0], both[:, 1]))
    both = both[order]
    return both[:, 0].astype(np.int64), both[:, 1].astype(np.int64)
