"""The demo source's labelled pairs for de-duplication, taken from the site's ground truth.

What a person running ``harvest dedup label --source demo`` would answer, without the person:
``match`` pairs are re-listings with the listing they re-list (``relist_of``), ``distinct`` pairs
are different flats that Harvest's blocking puts side by side (agreeing on every exactly compared
field both show: the pairs dedupe's active learning asks about). Drawn from days and a seed the
benchmark never scores (:data:`TRAINING_SEED`), so ``bench_dedup`` measures unseen listings.

    python -m harvest_demo dedup-pairs --matches 50 --distincts 50 \\
        --out include/harvest/sources/demo.dedup.json
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd

from harvest.cleaning import blocking, near
from harvest.config.spec import SourceSpec
from harvest_demo.generator import SiteConfig
from harvest_demo.records import demo_records

TRAINING_SEED = 7
TRAINING_FIRST_DAY = dt.date(2025, 12, 1)
TRAINING_DAYS = 8
TRAINING_LISTINGS_PER_DAY = 2000


def labelled_pairs(
    spec: SourceSpec,
    matches: int,
    distincts: int,
    *,
    seed: int = TRAINING_SEED,
    listings_per_day: int = TRAINING_LISTINGS_PER_DAY,
    days: int = TRAINING_DAYS,
    first_day: dt.date = TRAINING_FIRST_DAY,
) -> dict[str, list[tuple[near.Record, near.Record]]]:
    """``matches`` re-listing pairs and ``distincts`` blocked pairs of different flats, as dedupe
    records of ``spec`` (deterministic for the same arguments). Raises ``ValueError`` when the
    days drawn hold fewer pairs than asked for."""
    config = SiteConfig(seed=seed, listings_per_day=listings_per_day)
    frames: list[pd.DataFrame] = []
    truth: dict[str, str | None] = {}
    for k in range(days):
        frame, day_truth = demo_records(config, first_day + dt.timedelta(days=k), spec)
        frames.append(frame)
        truth |= day_truth
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["logical_date", "record_key"], ignore_index=True)
    keys = rows["record_key"].astype(str).tolist()
    position = {key: i for i, key in enumerate(keys)}

    def root(key: str) -> str:
        seen = {key}
        while (parent := truth.get(key)) is not None and parent not in seen:
            seen.add(parent)
            key = parent
        return key

    rng = random.Random(seed)
    same = sorted((key, parent) for key, parent in truth.items() if parent and parent in position)
    earlier, later = blocking.candidate_pairs(
        blocking.blocking_codes(rows, spec), np.ones(len(rows), dtype=bool), spec.dedup.max_missing
    )
    different = [
        (keys[a], keys[b])
        for a, b in zip(earlier, later, strict=True)
        if root(keys[a]) != root(keys[b])
    ]
    if len(same) < matches or len(different) < distincts:
        raise ValueError(
            f"demo days hold {len(same)} re-listing and {len(different)} blocked distinct pairs; "
            f"asked for {matches} and {distincts}: draw more days or listings"
        )
    rng.shuffle(same)
    rng.shuffle(different)
    records = near.records(rows, spec)

    def pairs(chosen: list[tuple[str, str]]) -> list[tuple[near.Record, near.Record]]:
        return [(records[position[a]], records[position[b]]) for a, b in chosen]

    return {"match": pairs(same[:matches]), "distinct": pairs(different[:distincts])}
