"""The driver's side of :mod:`harvest.cleaning.partitioned`: the content matches and the scored
candidate pairs the near buckets found (:func:`harvest.cleaning.shuffle.content_and_pairs`,
in files under ``<work>/found``), decided as :func:`harvest.cleaning.dedup.deduplicate`
decides them, into the dropped records, the duplicates and the kept matches.

The pairs are decided from their order keys and scores alone (ranks in numpy arrays); the
compared records (JSON) of a pair are read only when it is output (a near duplicate or a kept
borderline pair), and then only chunk by chunk into the output files
(:mod:`harvest.cleaning.matches`): the driver holds sort keys and ranks, not the records."""

from __future__ import annotations

from itertools import pairwise
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
        sides = []
        for p in ("e_", "l_"):
            columns = [f"{p}{c}" for c in ORDER]
            tables = [pq.read_table(f, columns=columns).rename_columns(ORDER) for f in files]
            sides.append(pa.concat_tables([t.cast(_ORDER_TYPES) for t in tables]))
        later_seq = sides[1]["_seq"].to_numpy()
        earlier, later = order_ranks(sides)
        del sides, tables
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
