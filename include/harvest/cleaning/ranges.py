"""Near matching on Dask in bounded tasks: Harvest's sorted neighbourhood
(:func:`harvest.cleaning.blocking.candidate_pairs` with a ``window``) cut into ranges.

On pandas, each *union* ``u`` of missing block fields (at most ``dedup.max_missing``) sorts its
members -- the records lacking nothing outside ``u`` -- by (block: the values of the block
fields ``u`` keeps, :func:`harvest.cleaning.blocking.sort_rank`) and pairs each record lacking
the first field of ``u`` with the ``window`` members before and after it in its block, when the
two lack exactly ``u`` between them. Every pair belongs to exactly one union. Here:

1. Every record gets one sort key per union containing its missing fields: (a 128-bit hash of
   its block, its *rank bytes*: the compared numbers, the folded texts -- missing last -- and
   its place in :data:`harvest.cleaning.shuffle.ORDER`, encoded so that bytes compare as
   :func:`sort_rank` orders). The key is global: two records are in the same order in any
   subset, which :func:`sort_rank`'s ties by row position are too (rows are in ``ORDER``).
2. :func:`sample_keys` (a task per group of key buckets) samples each union's keys; the driver
   cuts each union's key space into ranges of about ``range_rows`` members (:func:`cuts_of`).
3. :func:`split_ranges` writes each group's members to one Parquet file per union, one row
   group per range, with the ``window`` members just before the range (its *context*, flagged
   ``_ctx``): the range's predecessors in the whole order are among them whatever the sizes of
   the ranges before.
4. :func:`range_pairs` (a task per union and range) sorts its members after the ``window`` last
   context rows, finds the pairs, keeps those whose later member in the sorted order is its own
   (each pair found once), scores them with the dedupe matcher and returns those at or above
   ``threshold - review_margin``.

A block hash shared by different blocks would merge them: :func:`range_pairs` checks that the
rows of one hash have the same block values and raises naming the union if not (2^-128 a pair).
Memory per task: a range (``range_rows`` plus ``window`` per group) or a group of key buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harvest.cleaning import near
from harvest.cleaning.shuffle import ORDER, _rows, bucket_files, scored_pairs
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind

SAMPLES = 64  # keys sampled per union and group of key buckets
HASH_KEYS = ("harvest-blocks-1", "harvest-blocks-2")  # pandas' hash keys: 16 characters
MISSING_TEXT = b"\x02"  # after every present text (b"\x01..."): missing values sort last
NAN = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # after every number


@dataclass
class Keys:
    """The keys of rows in :data:`ORDER`: missing pattern over the block fields (bit ``i``:
    field ``i`` of :func:`near.block_fields` missing), each block field's values and two 64-bit
    hashes of them, and the rank bytes (:func:`rank_bytes`)."""

    pattern: npt.NDArray[np.int64]
    values: list[npt.NDArray[Any]]
    hashes: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]]
    rank: npt.NDArray[Any]

    def block(self, union: int, rows: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
        """Two 64-bit hashes of the block of ``rows`` in ``union`` (the fields it keeps)."""
        h1 = np.full(len(rows), 0x9E37_79B9_7F4A_7C15, dtype=np.uint64)
        h2 = np.full(len(rows), 0xC2B2_AE3D_27D4_EB4F, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i, (a, b) in enumerate(self.hashes):
                if not (union >> i) & 1:
                    h1 = (h1 ^ a[rows]) * np.uint64(0x100_0000_01B3) + np.uint64(i + 1)
                    h2 = (h2 ^ b[rows]) * np.uint64(0xFF51_AFD7_ED55_8CCD) + np.uint64(i + 1)
        return h1, h2


def block_compared(spec: SourceSpec) -> list[near.Compared]:
    """The block fields as :func:`harvest.cleaning.blocking.blocking_codes` compares them."""
    by_name = {c.name: c for c in near.compared_fields(spec)}
    return [
        by_name.get(name)
        or near.Compared(name, name, field_kind(spec.detail.fields[name].kind).comparison)
        for name in near.block_fields(spec)
    ]


def _texts(values: Any) -> npt.NDArray[Any]:
    """Order-preserving bytes of texts (code point order), prefix-free, missing last."""
    codes, uniques = pd.factorize(pd.Series(values, dtype="object"), use_na_sentinel=True)
    mapped = [
        b"\x01" + str(u).encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff")
        + b"\x00\x00" for u in uniques
    ]  # fmt: skip
    table = np.empty(len(mapped) + 1, dtype=object)
    table[:-1] = mapped
    table[-1] = MISSING_TEXT
    picked: npt.NDArray[Any] = table[codes]
    return picked


def _eight(numbers: npt.NDArray[np.uint64]) -> list[bytes]:
    raw = numbers.astype(">u8").tobytes()
    return [raw[i : i + 8] for i in range(0, len(raw), 8)]


def _numbers(values: Any) -> list[bytes]:
    """Order-preserving bytes of numbers (IEEE bits, sign flipped), NaN last, -0.0 as 0.0."""
    x = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce").to_numpy(float) + 0.0
    bits = x.view(np.uint64)
    coded = np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))
    return _eight(np.where(np.isnan(x), NAN, coded).astype(np.uint64))


def rank_bytes(rows: pd.DataFrame, spec: SourceSpec) -> npt.NDArray[Any]:
    """Per row (with the :data:`ORDER` columns), bytes comparing as
    :func:`harvest.cleaning.blocking.sort_rank` orders rows sorted by ``ORDER``: the compared
    numbers, then the texts, then ``ORDER`` itself."""
    blocked = set(near.block_fields(spec))
    fields = [c for c in near.compared_fields(spec) if c.name not in blocked]
    numbers = [c for c in fields if c.comparison is not None and not c.comparison.blocks]
    texts = [c for c in fields if c not in numbers]
    parts: list[Any] = [_numbers(near.column_values(rows, c)) for c in numbers]
    parts += [_texts(near.column_values(rows, c)) for c in texts]
    parts += [_texts(rows[c].astype("object").to_numpy()) for c in ORDER[:3]]
    parts.append([b"\x01" if b else b"\x00" for b in rows["_batch"].to_numpy(dtype=bool)])
    parts.append(_eight(rows["_seq"].to_numpy(dtype=np.int64).astype(np.uint64)))
    out = np.empty(len(rows), dtype=object)
    out[:] = [b"".join(t) for t in zip(*parts, strict=True)]
    return out


def keys_of(rows: pd.DataFrame, spec: SourceSpec) -> Keys:
    """The :class:`Keys` of ``rows`` (in :data:`ORDER`)."""
    values, hashes = [], []
    pattern = np.zeros(len(rows), dtype=np.int64)
    for i, compared in enumerate(block_compared(spec)):
        column = pd.Series(near.column_values(rows, compared), dtype="object")
        missing = column.isna().to_numpy()
        pattern |= missing.astype(np.int64) << i
        text = column.astype(str).to_numpy(dtype=object)
        values.append(column.to_numpy(dtype=object))
        hashes.append(tuple(pd.util.hash_array(text, hash_key=k) for k in HASH_KEYS))
    return Keys(pattern, values, hashes, rank_bytes(rows, spec))


def candidate_unions(spec: SourceSpec) -> list[int]:
    """Every union of missing block fields a pair may have (``max_missing`` at most, keeping a
    field): the samples are taken for these; :func:`unions_of` keeps those that occur."""
    width = len(near.block_fields(spec))
    full = (1 << width) - 1
    return [u for u in range(full) if u.bit_count() <= spec.dedup.max_missing]


def unions_of(patterns: set[int], spec: SourceSpec) -> list[int]:
    """The unions :func:`candidate_pairs` visits for these occurring missing patterns."""
    full = (1 << len(near.block_fields(spec))) - 1
    occurring = [p for p in patterns if p.bit_count() <= spec.dedup.max_missing]
    return sorted(
        {a | b for a in occurring for b in occurring}
        & {u for u in range(full) if u.bit_count() <= spec.dedup.max_missing}
    )


Key = tuple[int, int, bytes]


def _sorted_members(keys: Keys, union: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The rows of ``union`` (lacking nothing outside it) in key order, their hashes and ranks."""
    members = np.flatnonzero((keys.pattern & ~union) == 0)
    h1, h2 = keys.block(union, members)
    rank = keys.rank[members]
    code = pd.factorize(rank, sort=True)[0]
    order = np.lexsort((code, h2, h1))
    return members[order], h1[order], h2[order], rank[order]


def _range_of(h1: np.ndarray, h2: np.ndarray, rank: Any, cuts: list[Key]) -> np.ndarray:
    """The range of each key: how many cut keys are at or below it."""
    if not cuts:
        return np.zeros(len(h1), dtype=np.int64)
    ranks = np.empty(len(rank) + len(cuts), dtype=object)
    ranks[: len(rank)] = rank
    ranks[len(rank) :] = [c[2] for c in cuts]
    code = pd.factorize(ranks, sort=True)[0]
    first = np.concatenate([h1, np.array([c[0] for c in cuts], dtype=np.uint64)])
    second = np.concatenate([h2, np.array([c[1] for c in cuts], dtype=np.uint64)])
    is_row = np.concatenate([np.ones(len(h1), bool), np.zeros(len(cuts), bool)])
    order = np.lexsort((is_row, code, second, first))
    counted = np.cumsum(~is_row[order])
    out = np.empty(len(order), dtype=np.int64)
    out[order] = counted
    return out[: len(h1)]


def cuts_of(samples: list[Key], members: int, range_rows: int) -> list[Key]:
    """Cut keys splitting a union's ``members`` (sampled by ``samples``) into ranges of about
    ``range_rows``."""
    ranges = max(1, math.ceil(members / max(1, range_rows)))
    ordered = sorted(samples)
    picks = {ordered[len(ordered) * i // ranges] for i in range(1, ranges)} if ordered else set()
    return sorted(picks)


def group_rows(spec: SourceSpec, folder: str, buckets: list[int], dropped: Any) -> pd.DataFrame:
    """The rows of key buckets ``buckets`` near matching compares (the key survivors less the
    content duplicates dropped: ``_seq`` in ``dropped``, and the history), in :data:`ORDER`."""
    root = Path(folder) / "key"
    batches, histories = [], []
    for bucket in buckets:
        kept = root / f"kept-{bucket:05d}.parquet"
        if kept.exists():
            frame = pd.read_parquet(kept)
            batches.append(frame[~frame["_seq"].isin(dropped)])
        history = bucket_files(root, bucket)[1]
        if history is not None:
            histories.append(history)
    batch = pd.concat(batches, ignore_index=True) if batches else None
    history = pd.concat(histories, ignore_index=True) if histories else None
    rows = _rows(batch, history, spec)
    columns = {c.column for c in [*near.compared_fields(spec), *block_compared(spec)]}
    return rows[[*ORDER, *sorted(c for c in columns if c in rows and c not in ORDER)]]


def sample_keys(
    spec: SourceSpec, folder: str, buckets: list[int], dropped: Any
) -> tuple[set[int], dict[int, tuple[int, list[Key]]]]:
    """The missing patterns of a group of key buckets, and per candidate union its member count
    and :data:`SAMPLES` keys evenly spaced in its order."""
    rows = group_rows(spec, folder, buckets, dropped)
    keys = keys_of(rows, spec)
    out: dict[int, tuple[int, list[Key]]] = {}
    for union in candidate_unions(spec):
        members, h1, h2, rank = _sorted_members(keys, union)
        picked: list[int] = sorted({i * len(members) // SAMPLES for i in range(SAMPLES)})
        picked = picked if len(members) else []
        out[union] = (len(members), [(int(h1[i]), int(h2[i]), rank[i]) for i in picked])
    return {int(p) for p in np.unique(keys.pattern)}, out


def split_ranges(
    spec: SourceSpec, folder: str, group: int, buckets: list[int], dropped: Any,
    cuts: dict[int, list[Key]],
) -> dict[int, dict[int, tuple[int, int]]]:  # fmt: skip
    """Write a group's members of each union to ``near/<union>/<group>.parquet``, one row group
    per range (its members, and the ``window`` members before it flagged ``_ctx``). Returns
    per union: range -> (row group, members of the range)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = group_rows(spec, folder, buckets, dropped)
    keys = keys_of(rows, spec)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.append_column("_ctx", pa.array(np.zeros(len(rows), dtype=bool)))
    window = spec.dedup.window
    written: dict[int, dict[int, tuple[int, int]]] = {}
    for union, union_cuts in cuts.items():
        members, h1, h2, rank = _sorted_members(keys, union)
        if not len(members):
            continue
        where = _range_of(h1, h2, rank, union_cuts)
        target = Path(folder) / "near" / f"{union:05d}"
        target.mkdir(parents=True, exist_ok=True)
        groups: dict[int, tuple[int, int]] = {}
        with pq.ParquetWriter(target / f"{group:05d}.parquet", table.schema) as writer:
            for r in range(len(union_cuts) + 1):
                start, stop = np.searchsorted(where, [r, r + 1])
                before = members[max(0, start - window) : start]
                picked = np.concatenate([before, members[start:stop]])
                if not len(picked):
                    continue
                part = table.take(pa.array(picked))
                flag = pa.array(np.arange(len(picked)) < len(before))
                part = part.set_column(part.num_columns - 1, "_ctx", flag)
                writer.write_table(part, len(picked))
                groups[r] = (len(groups), int(stop - start))
        written[union] = groups
    return written


def range_pairs(
    spec: SourceSpec, folder: str, union: int, parts: list[tuple[int, int]], with_scores: bool
) -> pd.DataFrame:
    """The pairs of ``union`` that one range owns, from its row groups ``parts`` ((group, row
    group)): scored, those at or above ``threshold - review_margin`` (``e_*`` earlier, ``l_*``
    later record, ``score``; :func:`scored_pairs`), or with ``with_scores`` false the pairs'
    ``e__seq``/``l__seq``/``e__batch``/``l__batch`` (for tests)."""
    import pyarrow.parquet as pq

    target = Path(folder) / "near" / f"{union:05d}"
    frames = [
        pq.ParquetFile(target / f"{g:05d}.parquet").read_row_group(i).to_pandas() for g, i in parts
    ]
    frame = pd.concat(frames, ignore_index=True).sort_values(ORDER, ignore_index=True)
    earlier, later = owned_pairs(frame, spec, union)
    if not with_scores:
        return pd.DataFrame({
            "e__seq": frame["_seq"].to_numpy()[earlier], "l__seq": frame["_seq"].to_numpy()[later],
            "e__batch": frame["_batch"].to_numpy()[earlier],
            "l__batch": frame["_batch"].to_numpy()[later],
        })  # fmt: skip
    return scored_pairs(frame, earlier, later, spec)


def owned_pairs(
    frame: pd.DataFrame, spec: SourceSpec, union: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(earlier, later) positions in ``frame`` (a range's rows in :data:`ORDER`, ``_ctx`` the
    context) of the pairs of ``union`` whose later member in key order is not context, the later
    one new, of different keys; sorted by (later, earlier)."""
    keys = keys_of(frame, spec)
    members, h1, h2, _ = _sorted_members(keys, union)
    is_ctx = frame["_ctx"].to_numpy(dtype=bool)[members]
    context = np.flatnonzero(is_ctx)[-spec.dedup.window :] if is_ctx.any() else np.empty(0, int)
    own = np.flatnonzero(~is_ctx)
    line = np.concatenate([context, own])
    ordered, h1, h2 = members[line], h1[line], h2[line]
    _check_blocks(keys, union, ordered, h1, h2)
    pattern = keys.pattern[ordered]
    if union:
        anchors = np.flatnonzero(pattern & (union & -union))
        steps = [s for s in range(-spec.dedup.window, spec.dedup.window + 1) if s]
    else:
        anchors, steps = np.arange(len(ordered)), list(range(1, spec.dedup.window + 1))
    found = []
    for step in steps:
        other = anchors + step
        inside = (other >= 0) & (other < len(ordered))
        mine, theirs = anchors[inside], other[inside]
        keep = (h1[mine] == h1[theirs]) & (h2[mine] == h2[theirs])
        keep &= np.maximum(mine, theirs) >= len(context)
        keep &= (pattern[mine] | pattern[theirs]) == union
        found.append(np.column_stack([ordered[mine[keep]], ordered[theirs[keep]]]))
    both = np.concatenate(found) if found else np.empty((0, 2), np.int64)
    earlier, later = both.min(axis=1), both.max(axis=1)
    is_new = frame["_batch"].to_numpy(dtype=bool)
    record_keys = frame["_key"].to_numpy(dtype=object)
    keep = is_new[later] & (record_keys[earlier] != record_keys[later])
    pairs = np.unique(np.column_stack([earlier[keep], later[keep]]), axis=0)
    pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def _check_blocks(keys: Keys, union: int, rows: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> None:
    """Raise when rows of one block hash differ in a block value (a hash collision)."""
    same = (h1[1:] == h1[:-1]) & (h2[1:] == h2[:-1])
    for i, values in enumerate(keys.values):
        if not (union >> i) & 1:
            v = values[rows]
            if (same & (v[1:] != v[:-1])).any():
                raise RuntimeError(
                    f"near matching: two blocks of union {union} share a 128-bit hash "
                    f"(block field {i}); report it: the ranges cannot separate them"
                )


def find_pairs(
    run: Callable[..., list[Any]], spec: SourceSpec, folder: str, buckets: int, dropped: Any,
    range_rows: int, per_group: int = 1, *, with_scores: bool = True,
) -> list[pd.DataFrame]:  # fmt: skip
    """The pairs of every union and range (:func:`range_pairs`), the tasks run by
    ``run(names, function, *argument_tuples)`` (a list of their results; ``names``: each
    task's name for errors): ``buckets`` key buckets in groups of ``per_group``, unions cut
    into ranges of about ``range_rows`` members."""
    step = max(1, per_group)
    groups = [list(range(b, min(b + step, buckets))) for b in range(0, buckets, step)]
    names = [f"key buckets {g[0]}-{g[-1]}" for g in groups]
    sampled = run([f"near sample of {n}" for n in names], sample_keys,
                  *[(spec, folder, g, dropped) for g in groups])  # fmt: skip
    patterns = set().union(*(s[0] for s in sampled)) if sampled else set()
    cuts = {}
    for union in unions_of(patterns, spec):
        count = sum(s[1][union][0] for s in sampled)
        samples = [k for s in sampled for k in s[1][union][1]]
        cuts[union] = cuts_of(samples, count, range_rows)
    written = run([f"near split of {n}" for n in names], split_ranges,
                  *[(spec, folder, n, g, dropped, cuts) for n, g in enumerate(groups)])  # fmt: skip
    fields = near.block_fields(spec)
    tasks, range_names = [], []
    for union, union_cuts in cuts.items():
        for r in range(len(union_cuts) + 1):
            held = [(n, w[union][r]) for n, w in enumerate(written) if r in w.get(union, {})]
            parts = [(n, group) for n, (group, _) in held]
            if any(own for _, (_, own) in held):
                tasks.append((spec, folder, union, parts, with_scores))
                lacking = "+".join(f for i, f in enumerate(fields) if (union >> i) & 1) or "none"
                members = sum(own for _, (_, own) in held)
                range_names.append(
                    f"near range {r + 1}/{len(union_cuts) + 1} lacking {lacking} "
                    f"({members:,} records)"
                )
    return [p for p in run(range_names, range_pairs, *tasks) if len(p)]
