"""De-duplication: precision, recall and time, Harvest's blocking matcher against naive baselines.

    python benchmarks/bench_dedup.py                 # 100k records (about a minute)
    python benchmarks/bench_dedup.py --rows 20000    # quick check

Records come from the demo site (``SiteConfig``, 5% re-listings of the same or the last 7 days),
built from its listing objects as the detail pages show them and parsed with the spec's parsers.

1. Quality: ``--days`` days of ``--quality-rows`` listings, each day de-duplicated against the
   canonical records of the days before, scored with ``evaluate_dedup`` against the generator's
   ``relist_of``, with demo.yaml's dedup settings.
2. Scale: one day of ``--rows`` records, de-duplicated against a history of the previous day
   (``--rows`` more records): time per 100k records, and precision/recall at that volume. Against
   (a) pandas ``drop_duplicates`` on the match fields (exact agreement only) and (b) the all-pairs
   comparison with the same rule on a ``--sample`` subsample, its time scaled by (n / sample)².
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils

from harvest.cleaning.dedup import MAX_MISSING_MATCH_FIELDS, deduplicate
from harvest.cleaning.dedup_eval import evaluate_dedup
from harvest.config.spec import SourceSpec, load_spec
from harvest.fields import Comparison, field_kind
from harvest.text import fold
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records

SPEC_PATH = Path(__file__).resolve().parent.parent / "include/harvest/sources/demo.yaml"
FIRST_DAY = dt.date(2026, 3, 1)


def quality(spec: SourceSpec, frames: list[tuple[pd.DataFrame, dict[str, str | None]]]) -> str:
    history: pd.DataFrame | None = None
    pairs: list[tuple[str, str]] = []
    truth: dict[str, str | None] = {}
    for frame, day_truth in frames:
        result = deduplicate(frame, spec, history)
        pairs += result.pairs
        truth |= day_truth
        history = result.frame if history is None else pd.concat([history, result.frame])
    score = evaluate_dedup(pairs, truth)
    return (
        f"precision {score.precision:.3f}  recall {score.recall:.3f}  "
        f"(tp {score.true_positives}, fp {score.false_positives}, fn {score.false_negatives})"
    )


def drop_duplicates_baseline(
    frame: pd.DataFrame, history: pd.DataFrame, spec: SourceSpec
) -> tuple[list[tuple[str, str]], float]:
    """pandas ``drop_duplicates`` on the (folded) match fields: exact agreement, nulls equal."""
    started = time.perf_counter()
    both = pd.concat([history, frame], ignore_index=True)
    keyed = pd.DataFrame({"record_key": both["record_key"]})
    for name in spec.dedup.match_fields:
        keyed[name] = (
            both[name].map(fold)
            if field_kind(spec.detail.fields[name].kind).comparison is Comparison.FOLDED
            else both[name]
        )
    keyed = keyed.sort_values("record_key", kind="stable")
    duplicated = keyed.duplicated(subset=spec.dedup.match_fields, keep="first")
    first = keyed.groupby(spec.dedup.match_fields, dropna=False)["record_key"].transform("first")
    in_batch = keyed["record_key"].isin(set(frame["record_key"]))
    chosen = duplicated & in_batch
    elapsed = time.perf_counter() - started
    return list(zip(keyed.loc[chosen, "record_key"], first[chosen], strict=True)), elapsed


def all_pairs_seconds(frame: pd.DataFrame, spec: SourceSpec, sample: int, seed: int = 0) -> float:
    """Seconds to compare every pair of ``sample`` records with the same rule (vectorised
    numpy on the fields, rapidfuzz ``cdist`` on the titles, one thread)."""
    rows = frame.sample(n=min(sample, len(frame)), random_state=seed).reset_index(drop=True)
    started = time.perf_counter()
    n = len(rows)
    ok = np.ones((n, n), dtype=bool)
    missing = np.zeros((n, n), dtype=np.int64)
    tolerance = spec.dedup.numeric_tolerance
    for name in spec.dedup.match_fields:
        comparison = field_kind(spec.detail.fields[name].kind).comparison
        if comparison is Comparison.TOLERANCE:
            v = pd.to_numeric(rows[name], errors="coerce").astype("float64").to_numpy()
            a, b = v[:, None], v[None, :]
            close = np.abs(a - b) <= tolerance * np.maximum(np.abs(a), np.abs(b))
            either = np.isnan(a) | np.isnan(b)
            missing += either
            ok &= either | close
        else:
            values = (
                rows[name].map(fold)
                if comparison is Comparison.FOLDED
                else rows[name].astype("object")
            )
            codes, _ = pd.factorize(values)
            a, b = codes[:, None], codes[None, :]
            either = (a < 0) | (b < 0)
            missing += either
            ok &= either | (a == b)
    ok &= missing <= MAX_MISSING_MATCH_FIELDS
    titles = [utils.default_process(str(t)) for t in rows[spec.dedup.title_field or "title"]]
    scores = process.cdist(titles, titles, scorer=fuzz.token_set_ratio, workers=1)
    ok &= scores >= spec.dedup.title_similarity * 100
    int(np.triu(ok, 1).sum())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="records per day at scale")
    parser.add_argument("--days", type=int, default=7, help="days for precision and recall")
    parser.add_argument("--quality-rows", type=int, default=1000, help="listings per day (quality)")
    parser.add_argument("--sample", type=int, default=3000, help="all-pairs baseline subsample")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    spec = load_spec(SPEC_PATH)

    print(f"== quality: {args.days} days x {args.quality_rows} listings, seed {args.seed}")
    config = SiteConfig(seed=args.seed, listings_per_day=args.quality_rows)
    frames = [
        demo_records(config, FIRST_DAY + dt.timedelta(days=k), spec) for k in range(args.days)
    ]
    print(f"  demo.yaml dedup settings  {quality(spec, frames)}")

    print(f"== scale: {args.rows} records against {args.rows} of history, seed {args.seed}")
    config = SiteConfig(seed=args.seed, listings_per_day=min(args.rows, 100_000))
    started = time.perf_counter()
    history, history_truth = demo_records(config, FIRST_DAY, spec)
    frame, truth = demo_records(config, FIRST_DAY + dt.timedelta(days=1), spec)
    print(f"  generated and parsed in {time.perf_counter() - started:.1f}s")
    history_result = deduplicate(history, spec)
    history = history_result.frame
    kept = set(history["record_key"])
    truth = {**{k: v for k, v in history_truth.items() if k in kept}, **truth}

    started = time.perf_counter()
    within = deduplicate(frame, spec)
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = deduplicate(frame, spec, history)
    full_seconds = time.perf_counter() - started
    score = evaluate_dedup(result.pairs, truth)
    per_100k = 100_000 / len(frame)
    print(
        f"  harvest, batch only       {batch_seconds * per_100k:6.2f}s per 100k  "
        f"({sum(within.counts.values())} duplicates)"
    )
    print(
        f"  harvest, batch + history  {full_seconds * per_100k:6.2f}s per 100k  "
        f"precision {score.precision:.3f} recall {score.recall:.3f}  {result.counts}"
    )
    pairs, naive_seconds = drop_duplicates_baseline(frame, history, spec)
    naive = evaluate_dedup(pairs, truth)
    print(
        f"  drop_duplicates baseline  {naive_seconds * per_100k:6.2f}s per 100k  "
        f"precision {naive.precision:.3f} recall {naive.recall:.3f}  ({len(pairs)} found)"
    )
    seconds = all_pairs_seconds(pd.concat([history, frame], ignore_index=True), spec, args.sample)
    n = len(frame) + len(history)
    scaled = seconds * (n / min(args.sample, n)) ** 2 * per_100k
    print(
        f"  all-pairs baseline        {scaled:6.0f}s per 100k  (measured {seconds:.2f}s on "
        f"{args.sample} records, scaled by (n/sample)^2; finds the same pairs)"
    )
    print(
        f"  ratios: all-pairs / harvest = {scaled / (full_seconds * per_100k):.0f}x, "
        f"harvest / drop_duplicates = {full_seconds / max(naive_seconds, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
