"""What the near buckets found (:func:`harvest.cleaning.shuffle.content_and_pairs`), kept in
files under the run's work folder for the driver (:mod:`harvest.cleaning.resolve`) to read only
what it decides by and outputs, not every pair in memory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def store_found(
    folder: str, bucket: int, matches: pd.DataFrame, pairs: pd.DataFrame
) -> tuple[int, int]:
    """One near bucket's content matches and pairs (:func:`harvest.cleaning.shuffle.content_and_pairs`) to
    ``found/content-<bucket>`` and ``found/pairs-<bucket>`` (none when there are no rows): the
    driver reads only what it decides by (:mod:`harvest.cleaning.resolve`). Their numbers of
    rows."""
    target = Path(folder) / "found"
    for name, frame in (("content", matches), ("pairs", pairs)):
        if len(frame):
            target.mkdir(exist_ok=True)
            frame.to_parquet(target / f"{name}-{bucket:05d}.parquet", index=False)
    return len(matches), len(pairs)
