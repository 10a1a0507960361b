"""The near buckets of :mod:`harvest.cleaning.partitioned`: groups of *unions* of missing block
fields, each group's rows split by the values of fields none of its unions lacks.

A row's *pattern* is the bitmask of the block fields it lacks (bit ``i``:
``near.block_fields(spec)[i]``). :func:`harvest.cleaning.blocking.candidate_pairs` finds each
pair in exactly one union ``u = pattern(a) | pattern(b)`` (at most ``dedup.max_missing``
fields); the block of the pair is the rows with a pattern within ``u`` that are equal to it
on every block field outside ``u`` -- so every row of it has every field outside ``u``.

:func:`layout` groups the unions occurring in the partition (batch and history) greedily:
group 1 is the unions without the most varied block field, group 2 those left without the
most varied field left, and so on (at most ``max_missing + 1`` groups). A group's *split
fields* are the block fields in none of its unions; a row belongs to a group when its pattern
is within one of the group's unions (it then has every split field), and goes to the bucket
of the hash of its split fields' compared values. The whole block of any pair of the group's
unions is thus in one bucket, and each row is in at most ``max_missing + 1`` buckets.
Content-identical rows have the same pattern and values, so they share every bucket they are
in; the row's first group reports its content match. Rows in no group (lacking more than
``max_missing`` fields, or in no union) can only be content duplicates: the *rest* buckets, by
the hash of every block field's value (missing ones included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harvest.cleaning import near
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind

NEAR_ROWS = 20_000  # rows of a near bucket aimed at (its candidate pairs are scored at once)
REPORT = "_report"  # the column saying whether the row's copy reports its content match


@dataclass(frozen=True)
class Group:
    """Unions of missing block fields (bitmasks), the block fields none of them lacks that split
    the group (``split``), its ``buckets`` numbered from ``first``."""

    unions: tuple[int, ...]
    split: tuple[str, ...]
    buckets: int
    first: int

    def holds(self, patterns: np.ndarray) -> np.ndarray:
        """Whether each pattern lies within one of the group's unions."""
        inside = np.zeros(len(patterns), dtype=bool)
        for union in self.unions:
            inside |= (patterns & ~np.int64(union)) == 0
        return inside


@dataclass(frozen=True)
class Layout:
    """The near buckets: the groups' buckets, then ``rest`` buckets for rows in no group."""

    groups: tuple[Group, ...] = ()
    rest: int = 1

    @property
    def buckets(self) -> int:
        return sum(g.buckets for g in self.groups) + self.rest

    def group_of(self, bucket: int) -> Group | None:
        """The group whose buckets include ``bucket`` (``None``: a rest bucket)."""
        for group in self.groups:
            if group.first <= bucket < group.first + group.buckets:
                return group
        return None


def block_values(frame: pd.DataFrame, spec: SourceSpec) -> dict[str, pd.Series]:
    """Each block field's compared values (as :func:`blocking.blocking_codes` compares them;
    ``None`` where missing), in the order of ``near.block_fields(spec)``."""
    by_name = {c.name: c for c in near.compared_fields(spec)}
    out = {}
    for name in near.block_fields(spec):
        compared = by_name.get(name) or near.Compared(
            name, name, field_kind(spec.detail.fields[name].kind).comparison
        )
        out[name] = pd.Series(near.column_values(frame, compared), dtype="object")
    return out


def patterns(values: dict[str, pd.Series], rows: int) -> np.ndarray:
    """Each row's bitmask of the block fields it lacks (bit ``i``: the ``i``-th of ``values``)."""
    out = np.zeros(rows, dtype=np.int64)
    for i, column in enumerate(values.values()):
        out |= column.isna().to_numpy().astype(np.int64) << i
    return out


def pattern_counts(frame: pd.DataFrame, spec: SourceSpec) -> dict[int, int]:
    """How many rows of ``frame`` lack each set of block fields (bitmask: rows)."""
    found, counts = np.unique(patterns(block_values(frame, spec), len(frame)), return_counts=True)
    return {int(p): int(c) for p, c in zip(found, counts, strict=True)}


def layout(
    counts: dict[int, int],
    distinct: dict[str, int],
    spec: SourceSpec,
    buckets: int,
) -> Layout:
    """The groups of the unions of the patterns in ``counts`` (pattern: rows of the batch and
    history), the most varied field (``distinct``: values seen per block field) first; each
    with at least one bucket per :data:`NEAR_ROWS` of its rows and its share of ``buckets``."""
    names = near.block_fields(spec)
    limit = spec.dedup.max_missing
    full = (1 << len(names)) - 1
    occurring = [p for p in counts if p.bit_count() <= limit]
    left = {a | b for a in occurring for b in occurring if (a | b).bit_count() <= limit}
    left.discard(full)  # no field outside it: no pairs (as in candidate_pairs)
    total = max(1, sum(counts.values()))
    splitting = [i for i, n in enumerate(names) if n != spec.detail.key]
    groups: list[Group] = []
    grouped: set[int] = set()
    start = 0
    while left:
        choices = [i for i in splitting if any(not (u >> i) & 1 for u in left)]
        if not choices:
            break  # only unions lacking every field but the key: the key splits nothing
        pick = max(choices, key=lambda i: (distinct.get(names[i], 0), -i))
        unions = tuple(sorted(u for u in left if not (u >> pick) & 1))
        left -= set(unions)
        lacked = 0
        for union in unions:
            lacked |= union
        split = tuple(names[i] for i in splitting if not (lacked >> i) & 1)
        members = [p for p in occurring if any(p & ~u == 0 for u in unions)]
        rows = sum(counts[p] for p in members)
        size = max(1, -(-rows // NEAR_ROWS), -(-buckets * rows // total))
        groups.append(Group(unions, split, size, start))
        grouped.update(members)
        start += size
    if left:  # unions left unsplittable: one bucket of their rows, split by nothing
        members = [p for p in occurring if any(p & ~u == 0 for u in left)]
        groups.append(Group(tuple(sorted(left)), (), 1, start))
        grouped.update(members)
        start += 1
    rest = sum(c for p, c in counts.items() if p not in grouped)
    return Layout(tuple(groups), max(1, -(-rest // NEAR_ROWS)))


def _buckets(
    values: dict[str, pd.Series], rows: np.ndarray, names: Sequence[str], first: int, count: int
) -> np.ndarray:
    """The bucket (``first`` to ``first + count - 1``) of each of ``rows``: the hash of the text
    of the ``names`` fields' compared values, modulo ``count``."""
    if not names:
        return np.full(len(rows), first, dtype=np.int64)
    table = pd.DataFrame({n: values[n].iloc[rows].astype("string") for n in names})
    hashed: np.ndarray = pd.util.hash_pandas_object(table, index=False).to_numpy()
    where: np.ndarray = first + (hashed % np.uint64(count)).astype(np.int64)
    return where


def split(frame: pd.DataFrame, spec: SourceSpec, plan: Layout) -> dict[int, pd.DataFrame]:
    """``frame``'s rows by near bucket (one copy per group the row belongs to, or one rest
    copy), each copy with :data:`REPORT`: whether it reports the row's content match (its
    first group's copy, or its rest copy)."""
    values = block_values(frame, spec)
    pattern = patterns(values, len(frame))
    reported = np.zeros(len(frame), dtype=bool)
    out: dict[int, list[pd.DataFrame]] = {}

    def place(rows: np.ndarray, where: np.ndarray, report: np.ndarray) -> None:
        picked = frame.iloc[rows].assign(**{REPORT: report})
        for bucket in np.unique(where):
            out.setdefault(int(bucket), []).append(picked[where == bucket])

    for group in plan.groups:
        rows = np.flatnonzero(group.holds(pattern))
        if not len(rows):
            continue
        where = _buckets(values, rows, group.split, group.first, group.buckets)
        place(rows, where, ~reported[rows])
        reported[rows] = True
    rows = np.flatnonzero(~reported)
    if len(rows):
        names = [n for n in values if n != spec.detail.key]
        where = _buckets(values, rows, names, sum(g.buckets for g in plan.groups), plan.rest)
        place(rows, where, np.ones(len(rows), dtype=bool))
    return {b: pd.concat(parts, ignore_index=True) for b, parts in sorted(out.items())}


def write_split(
    frame: pd.DataFrame, spec: SourceSpec, plan: Layout, folder: Path, name: str
) -> None:
    """:func:`split` of ``frame`` to ``<folder>/<bucket>/<name>.parquet``."""
    for bucket, part in split(frame, spec, plan).items():
        target = folder / f"{bucket:05d}"
        target.mkdir(parents=True, exist_ok=True)
        part.to_parquet(target / f"{name}.parquet", index=False)
