"""De-duplication: precision, recall and time, Harvest's blocking matcher against naive baselines.

    python benchmarks/bench_dedup.py                 # 100k records (a few minutes)
    python benchmarks/bench_dedup.py --quick         # 5k records: checks it works

Records come from the demo site (``SiteConfig``, 5% re-listings of the same or the last 7 days),
built from its listing objects as the detail pages show them and parsed with the spec's parsers.

1. Quality: ``--days`` days of ``--quality-rows`` listings, each day de-duplicated against the
   canonical records of the days before, scored with ``evaluate_dedup`` against the generator's
   ``relist_of``, with demo.yaml's dedup settings.
2. Scale: one day of ``--rows`` records, de-duplicated against a history of the previous day
   (``--rows`` more records): time per 100k records, and precision/recall at that volume. Against
   (a) pandas ``drop_duplicates`` on the match fields (exact agreement only) and (b) the all-pairs
   comparison with the same rule on a ``--sample`` subsample, its time scaled by (n / sample)².
   Timed in ``--rounds`` rounds, the sides in rotated order; medians with their spread. The
   baselines are quality baselines: they find other pairs (their precision and recall say how).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_average, median, rotated, spread

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
    parser.add_argument("--quick", action="store_true", help="small sizes: checks it works")
    parser.add_argument("--rows", type=int, help="records per day at scale (default 100k)")
    parser.add_argument("--days", type=int, help="days for precision and recall (default 7)")
    parser.add_argument("--quality-rows", type=int, help="listings per day (quality; 1000)")
    parser.add_argument("--sample", type=int, help="all-pairs baseline subsample (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (rotated)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rows = args.rows or (5_000 if args.quick else 100_000)
    days = args.days or (3 if args.quick else 7)
    quality_rows = args.quality_rows or (300 if args.quick else 1000)
    sample = args.sample or (500 if args.quick else 3000)
    spec = load_spec(SPEC_PATH)
    print(f"== de-duplication; {load_average()}")

    print(f"== quality: {days} days x {quality_rows} listings, seed {args.seed}")
    config = SiteConfig(seed=args.seed, listings_per_day=quality_rows)
    frames = [demo_records(config, FIRST_DAY + dt.timedelta(days=k), spec) for k in range(days)]
    print(f"  demo.yaml dedup settings  {quality(spec, frames)}")

    print(f"== scale: {rows} records against {rows} of history, seed {args.seed}, "
          f"{args.rounds} rounds in rotated order")  # fmt: skip
    config = SiteConfig(seed=args.seed, listings_per_day=min(rows, 100_000))
    started = time.perf_counter()
    history, history_truth = demo_records(config, FIRST_DAY, spec)
    frame, truth = demo_records(config, FIRST_DAY + dt.timedelta(days=1), spec)
    print(f"  generated and parsed in {time.perf_counter() - started:.1f}s")
    history_result = deduplicate(history, spec)
    history = history_result.frame
    kept = set(history["record_key"])
    truth = {**{k: v for k, v in history_truth.items() if k in kept}, **truth}
    both = pd.concat([history, frame], ignore_index=True)

    outputs: dict[str, object] = {}

    def timed(name: str, run: Callable[[], object]) -> Callable[[], float]:
        def side() -> float:
            started = time.perf_counter()
            outputs[name] = run()
            return time.perf_counter() - started

        return side

    sides = {
        "batch": timed("batch", lambda: deduplicate(frame, spec)),
        "full": timed("full", lambda: deduplicate(frame, spec, history)),
        "naive": timed("naive", lambda: drop_duplicates_baseline(frame, history, spec)[0]),
        "all-pairs": lambda: all_pairs_seconds(both, spec, sample),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for n in range(args.rounds):
        for name in rotated(list(sides), n):
            times[name].append(sides[name]())
    per_100k = 100_000 / len(frame)
    n_all = len(frame) + len(history)
    times["all-pairs"] = [t * (n_all / min(sample, n_all)) ** 2 for t in times["all-pairs"]]

    def cost(name: str, fmt: str = ".2f") -> str:
        scaled = [t * per_100k for t in times[name]]
        return f"{median(scaled):6{fmt}}s per 100k (spread {spread(scaled, fmt)})"

    within = outputs["batch"]
    result = outputs["full"]
    score = evaluate_dedup(result.pairs, truth)  # type: ignore[attr-defined]
    print(f"  harvest, batch only       {cost('batch')}  "
          f"({sum(within.counts.values())} duplicates)")  # type: ignore[attr-defined]  # fmt: skip
    print(f"  harvest, batch + history  {cost('full')}  precision {score.precision:.3f} "
          f"recall {score.recall:.3f}  {result.counts}")  # type: ignore[attr-defined]  # fmt: skip
    pairs = outputs["naive"]
    naive = evaluate_dedup(pairs, truth)  # type: ignore[arg-type]
    print(f"  drop_duplicates baseline  {cost('naive')}  precision {naive.precision:.3f} "
          f"recall {naive.recall:.3f}  ({len(pairs)} found)")  # type: ignore[arg-type]  # fmt: skip
    print(f"  all-pairs baseline        {cost('all-pairs', '.0f')}  (measured on {sample} "
          f"records, scaled by (n/sample)^2; the same rule on every pair)")  # fmt: skip
    full = times["full"]
    print(f"  ratios (median of {args.rounds} rounds): all-pairs / harvest = "
          f"{median([a / f for a, f in zip(times['all-pairs'], full, strict=True)]):.0f}x, "
          f"harvest / drop_duplicates = "
          f"{median([f / d for f, d in zip(full, times['naive'], strict=True)]):.1f}x "
          f"(spread {spread([f / d for f, d in zip(full, times['naive'], strict=True)], '.1f')})")  # fmt: skip
    print(load_average())


if __name__ == "__main__":
    main()
