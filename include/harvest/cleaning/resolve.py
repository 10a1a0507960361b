"""The driver's side of :mod:`harvest.cleaning.partitioned`: the content matches and the scored
candidate pairs the near buckets found (:func:`harvest.cleaning.shuffle.content_and_pairs`,
in files under ``<work>/found``), decided as :func:`harvest.cleaning.dedup.deduplicate`
decides them, into the dropped records, the duplicates and the kept matches.

The pairs are decided from their order keys and scores alone (ranks in numpy arrays); the
compared records (JSON) of a pair are read only when it is output (a near duplicate or a kept
borderline pair), and then only chunk by chunk into the output files
(:mod:`harvest.cleaning.matches`): the driver holds sort keys and ranks, not the records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvest.cleaning.matches import Piece, Tally, write_matches
from harvest.cleaning.shuffle import ORDER
from harvest.config.spec import SourceSpec

_ORDER_TYPES = pa.schema(
    [("_date", pa.large_string()), ("_key", pa.large_string()), ("_url", pa.large_string()),
     ("_batch", pa.bool_()), ("_seq", pa.int64())]
)  # fmt: skip


def pair_ranks(files: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the pairs in ``files`` (pair files of :func:`harvest.cleaning.found.store_found`,
    read as one table): the rank of each pair's earlier (``e_``) and later (``l_``) record among
    the distinct records of them all in :data:`ORDER` (a record known by ``_batch`` and
    ``_seq``), and the later record's ``_seq``. Only the integer ids are read for every pair;
    the text of the order keys is read file by file and kept once per distinct record."""
    ids, later_seq = [], np.empty(0, np.int64)
    for p in ("e_", "l_"):
        tables = [pq.read_table(f, columns=[f"{p}_batch", f"{p}_seq"]) for f in files]
        seq = np.concatenate([t.column(1).to_numpy() for t in tables]).astype(np.int64)
        batch = np.concatenate([t.column(0).to_numpy(zero_copy_only=False) for t in tables])
        ids.append(seq * 2 + batch.astype(np.int64))
        later_seq = seq
    pairs = len(ids[0])
    every = np.concatenate(ids)
    del ids
    _, first, inverse = np.unique(every, return_index=True, return_inverse=True)
    del every
    wanted = np.sort(first)  # the first occurrence of each record, over e_ then l_ rows
    pieces, offset = [], 0
    for p in ("e_", "l_"):
        for file in files:
            rows = pq.ParquetFile(file).metadata.num_rows
            lo, hi = np.searchsorted(wanted, [offset, offset + rows])
            if hi > lo:
                table = pq.read_table(file, columns=[f"{p}{c}" for c in ORDER])
                picked = table.rename_columns(ORDER).take(pa.array(wanted[lo:hi] - offset))
                pieces.append(picked.cast(_ORDER_TYPES))
            offset += rows
    distinct = pa.concat_tables(pieces) if pieces else _ORDER_TYPES.empty_table()
    del pieces
    order = pc.sort_indices(distinct, sort_keys=[(c, "ascending") for c in ORDER]).to_numpy()
    del distinct
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))  # the rank of the records in the order of ``wanted``
    ranks = rank[np.searchsorted(wanted, first)][inverse.reshape(-1)]
    return ranks[:pairs], ranks[pairs:], later_seq


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


def resolve_found(
    spec: SourceSpec, folder: Path, key_files: list[Path], duplicates: Path, kept: Path
) -> tuple[frozenset[int], Tally, Tally]:
    """The batch rows dropped (their ``_seq``), the duplicates (the key buckets' ``key_files``,
    of :data:`harvest.cleaning.dedup.MATCH_COLUMNS`, and the others) written to ``duplicates`` and the kept matches to
    ``kept`` (:func:`harvest.cleaning.matches.write_matches`: never in memory whole), from what
    the near buckets wrote under ``folder/found`` (:func:`harvest.cleaning.shuffle.store_found`,
    in bucket order): content matches (dropped or reported, as the spec says) and the near pairs
    (:func:`decide_pairs`). Returns the rows written per (rule, scope, action) to each."""
    found = tuple(sorted((folder / "found").glob("content-*.parquet")))
    dropped: set[int] = set()
    dup_pieces = [Piece(tuple(key_files), np.arange(_rows(key_files)))] if key_files else []
    kept_pieces: list[Piece] = []
    if found:
        columns = [f"p_{c}" for c in ORDER]
        keys = pa.concat_tables([pq.read_table(f, columns=columns) for f in found])
        keys = keys.rename_columns(ORDER).cast(_ORDER_TYPES)
        rows = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in ORDER]).to_numpy()
        drop = spec.dedup.content_duplicates == "drop"
        if drop:
            dropped |= set(keys["_seq"].to_numpy().tolist())
        del keys
        action = "dropped" if drop else "reported"
        content = Piece(found, rows, "p_", "c_", "content", action)
        (dup_pieces if drop else kept_pieces).append(content)
    files = tuple(sorted((folder / "found").glob("pairs-*.parquet")))
    if files:
        earlier, later, later_seq = pair_ranks(files)
        scores = np.concatenate(
            [pq.read_table(f, columns=["score"])["score"].to_numpy() for f in files]
        ).astype(float)
        matched, borderline = decide_pairs(spec, earlier, later, scores)
        dropped |= set(later_seq[matched].tolist())
        del earlier, later, scores, later_seq
        for picked, action, pieces in ((matched, "dropped", dup_pieces),
                                       (borderline, "kept", kept_pieces)):  # fmt: skip
            if picked:
                rows = np.asarray(picked, dtype=np.int64)
                pieces.append(Piece(files, rows, "l_", "e_", "near", action, "score"))
    dup_tally = write_matches(dup_pieces, duplicates, folder)
    return frozenset(dropped), dup_tally, write_matches(kept_pieces, kept, folder)


def _rows(files: list[Path]) -> int:
    """The rows of Parquet ``files`` in all (from their footers)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
