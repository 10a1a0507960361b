"""The driver's ranks of order keys (:func:`harvest.cleaning.resolve.pair_ranks`): the rank of
each pair's records among the distinct records in :data:`harvest.cleaning.shuffle.ORDER`, as
sorting the distinct tuples in Python ranks them, from pair files read file by file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harvest.cleaning.resolve import pair_ranks
from harvest.cleaning.shuffle import ORDER


def _rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` distinct rows (one per ``_batch``, ``_seq``), with equal dates, keys and urls."""
    seq = rng.choice(10 * n, n, replace=False)
    return pd.DataFrame(
        {
            "_date": [["", "2026-11-25", "2026-11-26"][i] for i in rng.integers(0, 3, n)],
            "_key": [f"k{i}é" if i % 3 else f"K{i}" for i in rng.integers(0, n // 3 + 1, n)],
            "_url": [["", "http://a/1", "http://a/ü"][i] for i in rng.integers(0, 3, n)],
            "_batch": seq % 2 == 0,
            "_seq": seq.astype(np.int64),
        }
    )


def test_ranks_are_the_sorted_distinct_tuples_ranks(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = _rows(rng, 300)
    earlier = rows.iloc[rng.integers(0, len(rows), 1000)].reset_index(drop=True)
    later = rows.iloc[rng.integers(0, len(rows), 700)].reset_index(drop=True)
    tuples = [tuple(r) for r in pd.concat([earlier, later])[ORDER].itertuples(index=False)]
    rank = {t: i for i, t in enumerate(sorted(set(tuples)))}
    later = pd.concat([later, later.iloc[:300]], ignore_index=True)  # as many rows as earlier
    tuples += [tuple(r) for r in later.iloc[700:][ORDER].itertuples(index=False)]
    files = []
    for n, (lo, hi) in enumerate([(0, 1), (1, 450), (450, 1000)]):  # one file of a single pair
        pairs = pd.concat(
            [earlier.iloc[lo:hi].add_prefix("e_").reset_index(drop=True),
             later.iloc[lo:hi].add_prefix("l_").reset_index(drop=True)], axis=1,
        )  # fmt: skip
        files.append(tmp_path / f"pairs-{n:05d}.parquet")
        pairs.to_parquet(files[-1], index=False)
    first, second, later_seq = pair_ranks(tuple(files))
    assert [len(first), len(second)] == [1000, 1000]
    got = np.concatenate([first, second]).tolist()
    wanted = [rank[t] for t in tuples[:1000]] + [rank[t] for t in tuples[1000:1700]]
    wanted += [rank[t] for t in tuples[1700:]]
    assert got == wanted
    assert later_seq.tolist() == later["_seq"].tolist()
    assert len(set(got)) == len(set(tuples)) > 100
