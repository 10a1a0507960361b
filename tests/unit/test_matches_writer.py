"""The chunked writer of the Dask path's duplicates and kept matches
(:func:`harvest.cleaning.matches.write_matches`): pieces of rows from files of several layouts,
written in several chunks, give the file pandas writes of the same rows concatenated and sorted
(stable) -- the same rows, order, dtypes and schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from harvest.cleaning.dedup import MATCH_COLUMNS
from harvest.cleaning.matches import Piece, write_matches


def _matches(rng: np.random.Generator, n: int, rule: str) -> pd.DataFrame:
    """``n`` match rows of ``rule`` with few distinct keys (ties the stable sort must keep)."""
    keys = [f"k{i}" if i % 4 else "K€" for i in rng.integers(0, 12, n)]
    urls = [None if i == 0 else f"http://a/{i}" for i in rng.integers(0, 3, n)]
    frame = pd.DataFrame(
        {
            "record_key": keys, "url": urls, "logical_date": "2026-11-26",
            "is_duplicate_of": [f"k{i}" for i in rng.integers(0, 3, n)],
            "matched_date": "2026-11-25", "kind": "near" if rule == "near" else "exact",
            "scope": np.where(rng.random(n) < 0.5, "batch", "history"), "rule": rule,
            "score": rng.random(n).round(3) if rule == "near" else 1.0, "action": "dropped",
            "record": [f'{{"title": "Flat {i} ü"}}' for i in range(n)],
            "matched_record": [None if i % 7 == 0 else f'{{"n": {i}}}' for i in range(n)],
        }
    )  # fmt: skip
    return frame.astype({c: "Float64" if c == "score" else "string" for c in MATCH_COLUMNS})


def _found(matches: pd.DataFrame, later: str, earlier: str) -> pd.DataFrame:
    """``matches`` in the layout of a near bucket's found files (with an unused column)."""
    return pd.DataFrame(
        {
            f"{later}_key": matches["record_key"].astype(object),
            f"{later}_url": matches["url"].astype(object),
            f"{later}_date": matches["logical_date"].astype(object),
            f"{later}record": matches["record"].astype(object),
            f"{earlier}_key": matches["is_duplicate_of"].astype(object),
            f"{earlier}_date": matches["matched_date"].astype(object),
            f"{earlier}_batch": (matches["scope"] == "batch").to_numpy(dtype=bool),
            f"{earlier}record": matches["matched_record"].astype(object),
            "score": matches["score"].astype(float),
            "unused": 0,
        }
    )


def test_chunks_write_the_file_pandas_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    key = [_matches(rng, n, "key") for n in (40, 0, 33)]
    key_files = []
    for n, frame in enumerate(key):
        if len(frame):
            key_files.append(tmp_path / f"key-{n}.parquet")
            frame.to_parquet(key_files[-1], index=False)
    near = [_matches(rng, n, "near") for n in (50, 45)]
    near_files = tuple(tmp_path / f"pairs-{n}.parquet" for n in range(len(near)))
    for frame, file in zip(near, near_files, strict=True):
        _found(frame, "l_", "e_").to_parquet(file, index=False)
    content = _matches(rng, 30, "content")
    content["score"] = pd.Series([1.0] * len(content), dtype="Float64")
    _found(content, "p_", "c_").drop(columns="score").to_parquet(tmp_path / "c.parquet")
    every_near = pd.concat(near, ignore_index=True)
    picked = rng.permutation(len(every_near))[:60]  # in the order decided, not the files'
    content_rows = rng.permutation(len(content))
    pieces = [
        Piece(tuple(key_files), np.arange(73)),
        Piece((tmp_path / "c.parquet",), content_rows, "p_", "c_", "content", "dropped"),
        Piece(near_files, picked, "l_", "e_", "near", "dropped", "score"),
    ]
    tally = write_matches(pieces, tmp_path / "got.parquet", tmp_path, chunk_rows=16)
    frames = [*key, content.iloc[content_rows], every_near.iloc[picked]]
    want = pd.concat([f for f in frames if len(f)], ignore_index=True)[MATCH_COLUMNS]
    want = want.sort_values(
        ["record_key", "url", "is_duplicate_of", "rule"], kind="stable", ignore_index=True
    )
    want.to_parquet(tmp_path / "want.parquet", index=False)
    assert len(want) == 163 and pq.ParquetFile(tmp_path / "got.parquet").metadata.num_row_groups > 5
    got_schema = pq.read_schema(tmp_path / "got.parquet")
    assert got_schema.equals(pq.read_schema(tmp_path / "want.parquet"), check_metadata=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "got.parquet"), want)
    counted = want.groupby(["rule", "scope", "action"]).size().to_dict()
    assert dict(tally) == counted
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("spill")) == []


def test_no_rows_write_the_empty_frame_pandas_writes(tmp_path: Path) -> None:
    empty = pd.DataFrame(
        {c: pd.Series(dtype="Float64" if c == "score" else "string") for c in MATCH_COLUMNS}
    )
    empty.to_parquet(tmp_path / "want.parquet", index=False)
    assert not write_matches([], tmp_path / "got.parquet", tmp_path)
    got_schema = pq.read_schema(tmp_path / "got.parquet")
    assert got_schema.equals(pq.read_schema(tmp_path / "want.parquet"), check_metadata=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "got.parquet"), empty)
