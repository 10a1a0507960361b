"""Harvest's blocking at scale: the candidate pairs grow linearly with the records.

On the demo site's records with blocks of two fields (``dedup.block_on: [city, rooms]``: 30
blocks, a few hundred records each), where every pair in a block is a candidate the pairs grow
with the square of the records per block; the sorted neighbourhood (``dedup.window``) keeps
them to at most ``2 * window`` per record and join.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from harvest.cleaning import blocking
from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records

DAY = dt.date(2026, 3, 2)
N = 1_500


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    demo = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    dedup = demo.dedup.model_copy(update={"block_on": ["city", "rooms"]})
    return demo.model_copy(update={"dedup": dedup})


def pairs(spec: SourceSpec, n: int, window: int | None) -> int:
    """Candidate pairs among one demo day of ``n`` listings, every record new."""
    frame, _ = demo_records(SiteConfig(seed=5, listings_per_day=n), DAY, spec)
    codes = blocking.blocking_codes(frame, spec)
    rank = blocking.sort_rank(frame, spec)
    new = np.ones(len(frame), dtype=bool)
    earlier, _ = blocking.candidate_pairs(codes, new, spec.dedup.max_missing, rank, window)
    return len(earlier)


def test_candidate_pairs_grow_linearly_with_the_records(spec: SourceSpec) -> None:
    """Four times the records give at most 4.4 times the pairs. Why 4.4: a block of m records
    has about ``window * m`` pairs (each record and the ``window`` after it), less
    ``window * (window + 1) / 2`` at its end; at m of 50 or more (the smallest block here) and
    a window of 3 that end makes 4 m records have at most 4 * (1 + 0.04) times the pairs of m;
    the rest is slack for the joins of missing fields. Every pair in a block (no window) grows
    with the square: about 16 times."""
    window = spec.dedup.window
    small, large = pairs(spec, N, window), pairs(spec, 4 * N, window)
    assert large <= 4.4 * small, (small, large)
    every_small, every_large = pairs(spec, N, None), pairs(spec, 4 * N, None)
    assert every_large > 12 * every_small, (every_small, every_large)  # the test can fail
    assert large < every_large / 20
