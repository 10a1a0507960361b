"""The duplicates and kept matches of :mod:`harvest.cleaning.partitioned`, written from the
Parquet files the key and near buckets wrote, never held whole: the final order is computed on
the sort-key columns only, the rows (each carrying both records' JSON text) are spilled to one
Arrow file per output chunk by their final position, and each chunk is sorted and appended to the
target by a :class:`pyarrow.parquet.ParquetWriter`. The file read back is the frame
:func:`harvest.cleaning.dedup.deduplicate` returns (:data:`MATCH_COLUMNS`, ``string`` and
``Float64`` ``score``), sorted by ``record_key``, ``url``, ``is_duplicate_of``, ``rule`` (stable:
ties in the order of the pieces, then of each piece's rows)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvest.cleaning.dedup import MATCH_COLUMNS

CHUNK_ROWS = 50_000  # rows of the targets gathered, and of the source files read, at a time
SORT_KEYS = ["record_key", "url", "is_duplicate_of", "rule"]
Tally = Counter[tuple[str, str, str]]
"""Rows written per (``rule``, ``scope``, ``action``)."""


@cache
def match_schema() -> pa.Schema:
    """The Arrow schema pandas' ``to_parquet`` writes for a frame of :data:`MATCH_COLUMNS`
    (``large_string`` columns, ``score`` double, the pandas metadata of ``string`` / ``Float64``)."""
    empty = pd.DataFrame(
        {c: pd.Series(dtype="Float64" if c == "score" else "string") for c in MATCH_COLUMNS}
    )
    return pa.Schema.from_pandas(empty, preserve_index=False)


@dataclass(frozen=True)
class Piece:
    """Rows of Parquet ``files`` (read as one table) as match rows, in their order ``rows``
    (positions over the files' rows in order). ``later`` empty: the files have
    :data:`MATCH_COLUMNS`; else their columns are the compared records' ``<later>_key``,
    ``_url``, ``_date``, ``record`` and the matched ``<earlier>_key``, ``_date``, ``_batch``,
    ``record`` (:func:`harvest.cleaning.found.store_found`), with ``score`` (``None``: 1.0)."""

    files: tuple[Path, ...]
    rows: np.ndarray
    later: str = ""
    earlier: str = ""
    rule: str = ""
    action: str = ""
    score: str | None = None

    def columns(self, table: pa.Table) -> dict[str, pa.Array | pa.ChunkedArray]:
        """The match columns of ``table`` (rows of :attr:`files`), by name."""
        if not self.later:
            return {c: table[c] for c in MATCH_COLUMNS if c in table.column_names}
        l, e, n = self.later, self.earlier, table.num_rows  # noqa: E741
        text = pa.large_string()
        names = {"record_key": f"{l}_key", "url": f"{l}_url", "logical_date": f"{l}_date",
                 "is_duplicate_of": f"{e}_key", "matched_date": f"{e}_date",
                 "record": f"{l}record", "matched_record": f"{e}record"}  # fmt: skip
        out = {c: table[s].cast(text) for c, s in names.items() if s in table.column_names}
        if f"{e}_batch" in table.column_names:
            out["scope"] = pc.if_else(table[f"{e}_batch"], "batch", "history").cast(text)
        out["kind"] = pa.repeat(pa.scalar("near" if self.rule == "near" else "exact", text), n)
        out["rule"] = pa.repeat(pa.scalar(self.rule, text), n)
        out["action"] = pa.repeat(pa.scalar(self.action, text), n)
        if self.score is None:
            out["score"] = pa.repeat(pa.scalar(1.0), n)
        elif self.score in table.column_names:
            out["score"] = table[self.score].cast(pa.float64())
        return out

    def source_columns(self, wanted: list[str]) -> list[str]:
        """The columns of :attr:`files` the match columns ``wanted`` come from."""
        if not self.later:
            return wanted
        l, e = self.later, self.earlier  # noqa: E741
        names = {"record_key": [f"{l}_key"], "url": [f"{l}_url"], "logical_date": [f"{l}_date"],
                 "is_duplicate_of": [f"{e}_key"], "matched_date": [f"{e}_date"],
                 "scope": [f"{e}_batch"], "score": [self.score] if self.score else [],
                 "record": [f"{l}record"], "matched_record": [f"{e}record"]}  # fmt: skip
        return [s for c in wanted for s in names.get(c, [])]

    def read(self, wanted: list[str]) -> pa.Table:
        """The match columns ``wanted`` of the piece's rows, in its order (small columns only,
        read file by file: only the piece's rows of each file are kept)."""
        columns, text = self.source_columns(wanted), pa.large_string()
        by_row = np.argsort(self.rows, kind="stable")
        ascending = self.rows[by_row]
        parts = [pa.table({c: pa.array([], text) for c in wanted})]  # so that none is empty
        offset = 0
        for file in self.files:
            rows = pq.ParquetFile(file).metadata.num_rows
            lo, hi = np.searchsorted(ascending, [offset, offset + rows])
            if hi > lo:
                table = pq.read_table(file, columns=columns)
                got = self.columns(table.take(pa.array(ascending[lo:hi] - offset, pa.int64())))
                parts.append(pa.table({c: pc.cast(got[c], text) for c in wanted}))
            offset += rows
        back = np.empty(len(by_row), dtype=np.int64)
        back[by_row] = np.arange(len(by_row))
        return pa.concat_tables(parts).take(pa.array(back))


def write_matches(
    pieces: list[Piece], target: Path, work: Path, chunk_rows: int = CHUNK_ROWS
) -> Tally:
    """The rows of ``pieces`` (in that order) sorted by :data:`SORT_KEYS` (stable) to the
    Parquet file ``target`` (replaced atomically), ``chunk_rows`` rows at a time; spill files
    under ``work`` (removed). Returns the rows written per (rule, scope, action)."""
    keys = [p.read([*SORT_KEYS, "scope", "action"]) for p in pieces]
    small = pa.concat_tables(keys) if keys else pa.table({})
    tally: Tally = Counter()
    if small.num_rows:
        counted = small.group_by(["rule", "scope", "action"]).aggregate([("rule", "count")])
        for row in counted.to_pylist():
            tally[(row["rule"], row["scope"], row["action"])] = int(row["rule_count"])
        order = pc.sort_indices(small, sort_keys=[(k, "ascending") for k in SORT_KEYS]).to_numpy()
    else:
        order = np.empty(0, np.int64)
    del small, keys
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    del order
    spill = work / f"spill-{uuid.uuid4().hex}"
    spill.mkdir(parents=True)
    try:
        chunks = _scatter(pieces, position, spill, chunk_rows)
        _gather(chunks, target, spill)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return tally


def _scatter(pieces: list[Piece], position: np.ndarray, spill: Path, chunk_rows: int) -> int:
    """Each piece's rows with their final ``position`` (over the pieces in order) to
    ``spill/<chunk>.arrow`` by ``position // chunk_rows``; the sources read ``chunk_rows`` rows
    at a time. Returns the number of chunks."""
    schema = match_schema().remove_metadata().append(pa.field("_pos", pa.int64()))
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    start = 0
    try:
        for piece in pieces:
            rows, final = piece.rows, position[start : start + len(piece.rows)]
            start += len(rows)
            by_row = np.argsort(rows, kind="stable")
            rows, final = rows[by_row], final[by_row]
            offset = 0
            for file in piece.files:
                parquet = pq.ParquetFile(file)
                for batch in parquet.iter_batches(batch_size=chunk_rows):
                    lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
                    if hi > lo:
                        picked = pa.Table.from_batches([batch]).take(rows[lo:hi] - offset)
                        columns = piece.columns(picked)
                        arrays = [pc.cast(columns[f.name], f.type) for f in match_schema()]
                        table = pa.table([*arrays, pa.array(final[lo:hi])], schema=schema)
                        _spill(table, final[lo:hi] // chunk_rows, writers, spill, schema)
                    offset += batch.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return (len(position) + chunk_rows - 1) // chunk_rows


def _spill(
    table: pa.Table,
    chunk: np.ndarray,
    writers: dict[int, pa.ipc.RecordBatchFileWriter],
    spill: Path,
    schema: pa.Schema,
) -> None:
    """``table``'s rows appended to the spill file of their ``chunk``."""
    for k in np.unique(chunk).tolist():
        if k not in writers:
            writers[k] = pa.ipc.new_file(spill / f"{k:06d}.arrow", schema)
        writers[k].write_table(table.filter(pa.array(chunk == k)))


def _gather(chunks: int, target: Path, spill: Path) -> None:
    """The spill files in order, each sorted by ``_pos``, to ``target`` through a temporary
    file beside it (``os.replace``: readers never see a partial file)."""
    schema = match_schema()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for k in range(chunks):
                path = spill / f"{k:06d}.arrow"
                with pa.memory_map(str(path)) as source:
                    table = pa.ipc.open_file(source).read_all()
                    table = table.take(pc.sort_indices(table["_pos"])).drop_columns("_pos")
                    writer.write_table(table.cast(schema))
                del table
                path.unlink()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
