"""The driver's ranks of order keys (:func:`harvest.cleaning.resolve.order_ranks`): the rank of
each row among the distinct rows in :data:`harvest.cleaning.shuffle.ORDER`, as sorting the
distinct tuples in Python ranks them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from harvest.cleaning.resolve import order_ranks
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


def test_ranks_are_the_sorted_distinct_tuples_ranks() -> None:
    rng = np.random.default_rng(7)
    rows = _rows(rng, 300)
    earlier = rows.iloc[rng.integers(0, len(rows), 1000)].reset_index(drop=True)
    later = rows.iloc[rng.integers(0, len(rows), 700)].reset_index(drop=True)
    tuples = [tuple(r) for r in pd.concat([earlier, later])[ORDER].itertuples(index=False)]
    rank = {t: i for i, t in enumerate(sorted(set(tuples)))}
    got = order_ranks([pa.Table.from_pandas(f, preserve_index=False) for f in (earlier, later)])
    assert [len(g) for g in got] == [1000, 700]
    assert np.concatenate(got).tolist() == [rank[t] for t in tuples]
    assert len(set(np.concatenate(got).tolist())) == len(set(tuples)) > 100
