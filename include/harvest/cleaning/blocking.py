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

    One sort-merge join per set of missing fields between two rows (their union, ``u``) and
    missing fields of the new row (``a``, within ``u``): new rows missing exactly ``a`` against
    the rows missing at least ``u`` less ``a`` and at most ``u``, joined on the fields ``u``
    leaves. Each pair is produced by the one join of its own missing fields, so the work
    grows with the pairs found (block sizes), not with n² nor with pairs thrown away.
    Sorted by (later, earlier).
    """
    n, width = codes.shape
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if width == 0 or n < 2:
        return empty
    weights = 1 << np.arange(width, dtype=np.int64)
    pattern = ((codes < 0) * weights).sum(axis=1)
    occurring = [int(p) for p in np.unique(pattern) if int(p).bit_count() <= max_missing]
    positions = np.arange(n, dtype=np.int64)
    found = []
    unions = {a | b for a in occurring for b in occurring if (a | b).bit_count() <= max_missing}
    for union in sorted(unions):
        kept = [i for i in range(width) if not (union >> i) & 1]
        if not kept:
            continue
        key = _joint_key(codes[:, kept])
        within = (pattern & ~union) == 0
        for own in (a for a in occurring if a & ~union == 0):
            left = positions[(pattern == own) & is_new]
            lacking = union & ~own  # what the other row must lack
            right = positions[within & ((pattern & lacking) == lacking)]
            a, b = _equal_pairs(key[left], left, key[right], right)
            earlier, later = np.minimum(a, b), np.maximum(a, b)
            keep = (a != b) & is_new[later]
            found.append(np.column_stack([earlier[keep], later[keep]]))
    if not found:
        return empty
    both = np.unique(np.concatenate(found), axis=0)
    order = np.lexsort((both[:, 0], both[:, 1]))
    both = both[order]
    return both[:, 0].astype(np.int64), both[:, 1].astype(np.int64)


def _joint_key(columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One integer per row, equal exactly where the rows' ``columns`` are all equal (codes below
    the row count, factorized column by column so that the combination never overflows)."""
    key = np.zeros(len(columns), dtype=np.int64)
    for column in columns.T:
        combined = key * (int(column.max(initial=0)) + 2) + (column + 1)
        key = pd.factorize(combined)[0].astype(np.int64)
    return key


def _equal_pairs(
    left_key: npt.NDArray[np.int64],
    left: npt.NDArray[np.int64],
    right_key: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (``left[i]``, ``right[j]``) with ``left_key[i] == right_key[j]`` (sort-merge join)."""
    if not len(left) or not len(right):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(right_key, kind="stable")
    ordered = right_key[order]
    low = np.searchsorted(ordered, left_key, side="left")
    counts = np.searchsorted(ordered, left_key, side="right") - low
    a = np.repeat(left, counts)
    offsets = np.arange(len(a)) - np.repeat(np.cumsum(counts) - counts, counts)
    b = right[order[np.repeat(low, counts) + offsets]]
    return a, b
