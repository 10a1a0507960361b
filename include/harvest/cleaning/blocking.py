"""Harvest's blocking for near duplicates: which pairs of records dedupe's model scores at all.

Records are only compared with records that agree on every exactly compared field both have
(:func:`harvest.cleaning.near.block_fields`), with at most ``dedup.max_missing`` fields missing
between them: a re-listing repeats the item's exact attributes (city, rooms, year) and words its
free text anew. Measured against dedupe's own learned blocking in ``benchmarks/bench_dedup.py``
(faster, and more precise with the same model).

Within a block a record is compared only with the ``dedup.window`` records nearest it on each
side in the block's sorted order (:func:`sort_rank`: the compared numbers such as price and
area, then the title): the *sorted neighbourhood* method (Hernández & Stolfo, "The merge/purge
problem for large databases", SIGMOD 1995; recordlinkage's ``SortedNeighbourhood`` index with
``block_on``; Christen, *Data Matching*, 2012, ch. 4). A re-listing repeats its flat's price
and area, so it sorts next to the record it re-lists; and a record has at most ``2 * window``
candidates per set of fields missing between it and them, so the candidate pairs grow linearly
with the records instead of with the square of the records per block (blocks of few fields,
or of records lacking fields, grow with the data).
"""

from __future__ import annotations

from collections.abc import Collection

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


def sort_rank(frame: pd.DataFrame, spec: SourceSpec) -> npt.NDArray[np.int64]:
    """Each row's rank (0..n-1) in the order the window slides over: the compared fields that do
    not block, numbers first (price, area), then text (the title, folded), missing values last,
    ties in row order. Two rows are in the same order in any frame holding both."""
    blocked = set(block_fields(spec))
    fields = [c for c in compared_fields(spec) if c.name not in blocked]
    numbers = [c for c in fields if c.comparison is not None and not c.comparison.blocks]
    texts = [c for c in fields if c not in numbers]
    keys: list[npt.NDArray[np.generic]] = [np.arange(len(frame))]
    for compared in reversed(numbers + texts):  # np.lexsort: the last key sorts first
        values = pd.Series(column_values(frame, compared), dtype="object")
        if compared in numbers:
            keys.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))  # NaN last
        else:
            codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
            keys.append(np.where(codes < 0, len(uniques), codes))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[np.lexsort(keys)] = np.arange(len(frame))
    return rank


def candidate_pairs(
    codes: npt.NDArray[np.int64],
    is_new: npt.NDArray[np.bool_],
    max_missing: int,
    rank: npt.NDArray[np.int64] | None = None,
    window: int | None = None,
    unions: Collection[int] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Harvest's blocking: (earlier, later) row positions of the pairs that agree on every block
    field both have, with at most ``max_missing`` fields missing between them (``u``), ``later``
    new; with a ``window``, only the pairs with fewer than ``window`` records of their block
    between them in ``rank`` order (default: row order). The block of a pair: the records
    lacking nothing outside ``u`` and equal to the pair on every field outside ``u``.

    Without a window, one sort-merge join per ``u`` and missing fields of the new row (``a``,
    within ``u``): new rows missing exactly ``a`` against the rows missing at least ``u`` less
    ``a`` and at most ``u``, joined on the fields ``u`` leaves. With one, a sorted
    neighbourhood per ``u``: the block's records sorted by (block, ``rank``), each record
    lacking the first field of ``u`` (every pair of ``u`` has one) paired with the ``window``
    records before and after it. Either way the work grows with the pairs found (block sizes,
    or ``window`` per record lacking a field), not with n² nor with pairs thrown away.
    ``unions`` (bitmasks of missing fields, bit ``i``: column ``i``): only the pairs of these
    unions (default: every union). Sorted by (later, earlier).
    """
    n, width = codes.shape
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if width == 0 or n < 2:
        return empty
    if rank is None:
        rank = np.arange(n, dtype=np.int64)
    weights = 1 << np.arange(width, dtype=np.int64)
    pattern = ((codes < 0) * weights).sum(axis=1)
    occurring = [int(p) for p in np.unique(pattern) if int(p).bit_count() <= max_missing]
    positions = np.arange(n, dtype=np.int64)
    found = []
    every = {a | b for a in occurring for b in occurring if (a | b).bit_count() <= max_missing}
    for union in sorted(every if unions is None else every & set(unions)):
        kept = [i for i in range(width) if not (union >> i) & 1]
        if not kept:
            continue
        key = _joint_key(codes[:, kept])
        within = (pattern & ~union) == 0
        if window is not None:
            a, b = _neighbours(positions[within], key * n + rank, pattern, union, window)
            found.append(_oriented(a, b, is_new))
            continue
        for own in (a for a in occurring if a & ~union == 0):
            left = positions[(pattern == own) & is_new]
            lacking = union & ~own  # what the other row must lack
            right = positions[within & ((pattern & lacking) == lacking)]
            a, b = _equal_pairs(key[left], left, key[right], right)
            found.append(_oriented(a, b, is_new))
    if not found:
        return empty
    both = np.unique(np.concatenate(found), axis=0)
    order = np.lexsort((both[:, 0], both[:, 1]))
    both = both[order]
    return both[:, 0].astype(np.int64), both[:, 1].astype(np.int64)


def _oriented(
    a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], is_new: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """The pairs as (earlier, later) rows, the later one new."""
    earlier, later = np.minimum(a, b), np.maximum(a, b)
    keep = (a != b) & is_new[later]
    return np.column_stack([earlier[keep], later[keep]])


def _neighbours(
    members: npt.NDArray[np.int64],
    place: npt.NDArray[np.int64],
    pattern: npt.NDArray[np.int64],
    union: int,
    window: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs of missing fields ``union`` among ``members`` (rows lacking nothing else) at
    most ``window`` apart in ``place`` order (``block * n + rank``) within their block."""
    ordered = members[np.argsort(place[members], kind="stable")]
    block = place[ordered] // len(place)
    if union:
        first = union & -union
        anchors = np.flatnonzero(pattern[ordered] & first)
        steps = [s for s in range(-window, window + 1) if s]
    else:
        anchors, steps = np.arange(len(ordered)), list(range(1, window + 1))
    a_parts, b_parts = [], []
    for step in steps:
        other = anchors + step
        inside = (other >= 0) & (other < len(ordered))
        mine, theirs = anchors[inside], other[inside]
        same = block[mine] == block[theirs]
        mine, theirs = mine[same], theirs[same]
        exact = (pattern[ordered[mine]] | pattern[ordered[theirs]]) == union
        a_parts.append(ordered[mine[exact]])
        b_parts.append(ordered[theirs[exact]])
    return np.concatenate(a_parts), np.concatenate(b_parts)


def _joint_key(columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One integer per row, equal exactly where the rows' ``columns`` are all equal (codes below
    the row count, factorized column by column so that the combination never overflows)."""
    key = np.zeros(len(columns), dtype=np.int64)
    for column in columns.T:
        key = combined_codes(key, column)
    return key


def combined_codes(
    key: npt.NDArray[np.int64], codes: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One integer per row (0..n-1), equal exactly where both ``key`` and ``codes`` (codes below
    the row count, -1 allowed) are equal: a joint key built one column at a time."""
    combined = key * (int(codes.max(initial=0)) + 2) + (codes + 1)
    joint: npt.NDArray[np.int64] = pd.factorize(combined)[0].astype(np.int64)
    return joint


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
