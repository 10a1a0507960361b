"""Precision and recall of de-duplication against the demo site's ground truth of re-listings.

Records are built from the demo site's listing objects as the detail pages show them (the same
strings, missing fields left out) and parsed with the spec's parsers; records with a parse issue
are left out, as validation would quarantine them. Days are cleaned one after the other, each
against the canonical records of the days before (the history).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from harvest.cleaning.dedup import deduplicate
from harvest.cleaning.dedup_eval import evaluate_dedup
from harvest.config.spec import SourceSpec, load_spec
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records

SPEC_PATH = Path(__file__).parents[2] / "include" / "harvest" / "sources" / "demo.yaml"
FIRST_DAY = dt.date(2026, 3, 1)


def demo_spec() -> SourceSpec:
    """The demo spec as shipped, with its labelled pairs (drawn from another seed and other
    days than these tests use)."""
    return load_spec(SPEC_PATH)


def run_days(
    config: SiteConfig, days: int, spec: SourceSpec
) -> tuple[list[tuple[str, str]], dict[str, str | None], int]:
    history: pd.DataFrame | None = None
    pairs: list[tuple[str, str]] = []
    truth: dict[str, str | None] = {}
    against_history = 0
    for offset in range(days):
        frame, day_truth = demo_records(config, FIRST_DAY + dt.timedelta(days=offset), spec)
        result = deduplicate(frame, spec, history)
        pairs += result.pairs
        truth |= day_truth
        against_history += result.counts["near_history"]
        history = result.frame if history is None else pd.concat([history, result.frame])
    return pairs, truth, against_history


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_precision_and_recall_on_demo_days(seed: int) -> None:
    config = SiteConfig(seed=seed, listings_per_day=300)
    pairs, truth, against_history = run_days(config, 5, demo_spec())
    score = evaluate_dedup(pairs, truth)
    assert score.true_positives >= 15  # enough re-listings for the figures to mean something
    assert against_history > 0  # most re-listings are of earlier days
    assert score.precision >= 0.95, score
    assert score.recall >= 0.9, score


def test_precision_and_recall_on_bigger_days() -> None:
    config = SiteConfig(seed=11, listings_per_day=2000)
    pairs, truth, _ = run_days(config, 3, demo_spec())
    score = evaluate_dedup(pairs, truth)
    assert score.precision >= 0.95, score
    assert score.recall >= 0.9, score
