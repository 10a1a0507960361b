"""De-duplication: precision, recall and time of today's matcher beside the former rules and baselines.

    python benchmarks/bench_dedup.py            # 20,000 a day x 7 days; 100k against 100k (~25 min)
    python benchmarks/bench_dedup.py --quick    # 2,000 a day x 7 days; 10k against 10k (~2 min)

Records come from the demo site (5% re-listings of the same day or the 7 before), built from its
listings as the detail pages show them and parsed with the spec's kinds
(:func:`harvest_demo.records.demo_records`); the seed (42) is not the one the demo's labelled
pairs were drawn from (:mod:`harvest_demo.dedup_pairs`), so the model is scored on unseen flats.

Two settings, each method scored with ``evaluate_dedup`` against the generator's ``relist_of``:

1. quality: ``--days`` days of ``--per-day`` listings, each day de-duplicated against the
   canonical records of the days before (as the pipeline does with its history);
2. scale: one day of ``--rows`` records against ``--rows`` of history (the previous day).

Methods, timed on the same frames in the same process, order rotated each round, ``--rounds``
rounds (median and min-max); each method must give the same pairs every round:

- ``harvest``: :func:`harvest.cleaning.dedup.deduplicate` with demo.yaml (dedupe's model trained
  on demo.dedup.json, Harvest's blocking); training is timed once, apart (a clean task trains
  once per process);
- ``dedupe blocking``: the same trained model with dedupe's own learned blocking
  (``Dedupe.pairs`` within the day, ``Gazetteer.index`` / ``blocks`` against history); slow, so
  run on at most ``--dedupe-rows`` listings a day and its time scaled to 100k records linearly
  (a lower bound: its pairs grow faster than n);
- ``rules (before #19)``: the former hand-tuned rules (``benchmarks/dedup_rules_v1.py``);
- ``drop_duplicates``: pandas on the former match fields (exact agreement, nulls equal).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import goal_line, load_average, rotated
from dedup_rules_v1 import DEMO_RULES
from dedup_rules_v1 import deduplicate as rules_deduplicate

from harvest.cleaning import near
from harvest.cleaning.dedup import deduplicate
from harvest.cleaning.dedup_eval import DedupScore, evaluate_dedup
from harvest.config.spec import SourceSpec, load_spec
from harvest.text import fold
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records

SPEC_PATH = Path(__file__).resolve().parent.parent / "include/harvest/sources/demo.yaml"
FIRST_DAY = dt.date(2026, 3, 1)
Pairs = list[tuple[str, str]]
Method = Callable[[pd.DataFrame, pd.DataFrame | None], tuple[Pairs, pd.DataFrame]]
"""(batch, history) -> (duplicate pairs, the batch's canonical records)."""


def harvest_method(spec: SourceSpec, status: near.MatcherStatus) -> Method:
    def run(batch: pd.DataFrame, history: pd.DataFrame | None) -> tuple[Pairs, pd.DataFrame]:
        result = deduplicate(batch, spec, history, matcher=status)
        return result.pairs, result.frame

    return run


def rules_method(spec: SourceSpec) -> Method:
    def run(batch: pd.DataFrame, history: pd.DataFrame | None) -> tuple[Pairs, pd.DataFrame]:
        result = rules_deduplicate(batch, spec, history, rules=DEMO_RULES)
        return result.pairs, result.frame

    return run


def drop_duplicates_method(spec: SourceSpec) -> Method:
    fields = list(DEMO_RULES.match_fields)

    def run(batch: pd.DataFrame, history: pd.DataFrame | None) -> tuple[Pairs, pd.DataFrame]:
        both = batch if history is None else pd.concat([history, batch], ignore_index=True)
        keyed = pd.DataFrame({"record_key": both["record_key"]})
        for name in fields:
            keyed[name] = both[name].map(fold) if both[name].dtype == "string" else both[name]
        keyed = keyed.sort_values("record_key", kind="stable")
        duplicated = keyed.duplicated(subset=fields, keep="first")
        first = keyed.groupby(fields, dropna=False)["record_key"].transform("first")
        chosen = duplicated & keyed["record_key"].isin(set(batch["record_key"]))
        pairs = list(zip(keyed.loc[chosen, "record_key"], first[chosen], strict=True))
        dropped = {k for k, _ in pairs}
        return pairs, batch[~batch["record_key"].isin(dropped)]

    return run


def dedupe_blocking_method(spec: SourceSpec, status: near.MatcherStatus) -> Method:
    """dedupe's own blocking: ``Dedupe.pairs`` within the batch, a ``Gazetteer`` over history."""
    import io

    import dedupe

    if status.matcher is None:
        raise SystemExit(f"dedupe blocking: {status.status}")
    settings = io.BytesIO()
    status.matcher.deduper.write_settings(settings)

    def run(batch: pd.DataFrame, history: pd.DataFrame | None) -> tuple[Pairs, pd.DataFrame]:
        threshold = spec.dedup.threshold
        batch = batch.sort_values(["record_key"], ignore_index=True)
        records = dict(zip(batch["record_key"], near.records(batch, spec), strict=True))
        best: dict[str, tuple[float, str]] = {}

        def offer(later: str, earlier: str, score: float) -> None:
            if score >= threshold and (later not in best or score > best[later][0]):
                best[later] = (score, earlier)

        deduper = status.matcher.deduper  # type: ignore[union-attr]
        pairs = list(deduper.pairs(records)) if len(records) > 1 else []
        if pairs:
            scored = deduper.score(iter(pairs))
            for (a, b), score in zip(scored["pairs"], scored["score"], strict=True):
                earlier, later = sorted((str(a), str(b)))
                offer(later, earlier, float(score))
        if history is not None and len(history):
            settings.seek(0)
            gazetteer = dedupe.StaticGazetteer(settings, num_cores=1)
            gazetteer.index(
                dict(zip(history["record_key"], near.records(history, spec), strict=True))
            )
            for block in gazetteer.score(gazetteer.blocks(records)):
                for (a, b), score in zip(block["pairs"], block["score"], strict=True):
                    offer(str(a), str(b), float(score))
        # the earliest of a group stays: a record chosen as canonical is never dropped
        found = [(later, earlier) for later, (_, earlier) in sorted(best.items())]
        dropped = {later for later, earlier in found if earlier not in best or earlier < later}
        return [(k, v) for k, v in found if k in dropped], batch[~batch["record_key"].isin(dropped)]

    return run


@dataclass
class Setup:
    """What a method runs on: a history (canonical records before the days) and the days."""

    history: pd.DataFrame | None
    history_truth: dict[str, str | None]
    days: list[tuple[pd.DataFrame, dict[str, str | None]]]

    @property
    def records(self) -> int:
        return sum(len(frame) for frame, _ in self.days)


def run_days(method: Method, setup: Setup) -> tuple[Pairs, dict[str, str | None], float]:
    """Each day against the history and the canonical records of the days before: pairs,
    truth, seconds."""
    history = setup.history
    pairs: Pairs = []
    truth = dict(setup.history_truth)
    started = time.perf_counter()
    for frame, day_truth in setup.days:
        found, kept = method(frame, history)
        pairs += found
        truth |= day_truth
        history = kept if history is None else pd.concat([history, kept], ignore_index=True)
    return pairs, truth, time.perf_counter() - started


def spread(seconds: list[float], per: float) -> str:
    values = [s * per for s in seconds]
    return f"{statistics.median(values):8.2f}s [{min(values):.2f}-{max(values):.2f}]"


def score_text(score: DedupScore) -> str:
    return (
        f"P {score.precision:.4f}  R {score.recall:.4f}  "
        f"(tp {score.true_positives}, fp {score.false_positives}, fn {score.false_negatives})"
    )


def measure(
    title: str,
    methods: dict[str, Method],
    setups: dict[str, Setup],
    rounds: int,
) -> DedupScore:
    """Run every method on its setup ``rounds`` times, order rotated; print P/R and the median
    time per 100k records with its spread; return the ``harvest`` method's score."""
    print(f"== {title} (times: median of {rounds} rounds [min-max]; {load_average()})")
    names = list(methods)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    results: dict[str, tuple[Pairs, dict[str, str | None]]] = {}
    for r in range(rounds):
        for name in rotated(names, r):
            pairs, truth, took = run_days(methods[name], setups[name])
            if name in results and sorted(results[name][0]) != sorted(pairs):
                raise SystemExit(f"{name}: round {r + 1} found other pairs than round 1")
            results[name] = (pairs, truth)
            seconds[name].append(took)
    baseline = statistics.median(seconds["drop_duplicates"]) / setups["drop_duplicates"].records
    for name in names:
        records = setups[name].records
        per = 100_000 / records
        pairs, truth = results[name]
        ratio = statistics.median(seconds[name]) / records / baseline
        note = f"  (on {records} records)" if records != setups["harvest"].records else ""
        print(
            f"  {name:<20} {score_text(evaluate_dedup(pairs, truth))}  "
            f"{spread(seconds[name], per)} per 100k, {ratio:6.1f}x drop_duplicates{note}"
        )
    return evaluate_dedup(*results["harvest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 a day; 10k against 10k")
    parser.add_argument("--per-day", type=int, default=20_000, help="quality: listings a day")
    parser.add_argument("--days", type=int, default=7, help="quality: days")
    parser.add_argument("--rows", type=int, default=100_000, help="scale: records (and history)")
    parser.add_argument("--dedupe-rows", type=int, default=1_000, help="dedupe blocking: a day")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.quick:
        args.per_day, args.rows, args.dedupe_rows = 2_000, 10_000, 500
    spec = load_spec(SPEC_PATH)

    started = time.perf_counter()
    status = near.load_matcher(spec)
    if status.matcher is None:
        raise SystemExit(f"demo.yaml: {status.status}")
    print(f"training: {status.status}; {time.perf_counter() - started:.1f}s (once per process)")

    def days(per_day: int, n: int) -> list[tuple[pd.DataFrame, dict[str, str | None]]]:
        config = SiteConfig(seed=args.seed, listings_per_day=per_day)
        return [demo_records(config, FIRST_DAY + dt.timedelta(days=k), spec) for k in range(n)]

    methods = {
        "harvest": harvest_method(spec, status),
        "dedupe blocking": dedupe_blocking_method(spec, status),
        "rules (before #19)": rules_method(spec),
        "drop_duplicates": drop_duplicates_method(spec),
    }
    quality = Setup(None, {}, days(args.per_day, args.days))
    small = Setup(None, {}, days(min(args.dedupe_rows, args.per_day), args.days))
    score = measure(
        f"quality: {args.days} days x {args.per_day} listings, each against the days before",
        methods,
        {name: quality for name in methods} | {"dedupe blocking": small},
        args.rounds,
    )
    print(
        goal_line(
            "harvest, quality",
            score.precision >= 0.99 and score.recall >= 0.95,
            "precision >= 0.99 at recall >= 0.95",
            f"precision {score.precision:.4f}, recall {score.recall:.4f}",
        )
    )

    def against_history(rows: int) -> Setup:
        (first, first_truth), second = days(rows, 2)
        kept = deduplicate(first, spec, matcher=status).frame  # the history as the pipeline has it
        keys = set(kept["record_key"])
        return Setup(kept, {k: v for k, v in first_truth.items() if k in keys}, [second])

    scale = against_history(args.rows)
    small_scale = against_history(min(args.dedupe_rows, args.rows))
    score = measure(
        f"scale: {args.rows} records against {args.rows} of history",
        methods,
        {name: scale for name in methods} | {"dedupe blocking": small_scale},
        args.rounds,
    )
    print(
        goal_line(
            "harvest, scale",
            score.precision >= 0.98,
            "precision >= 0.98",
            f"precision {score.precision:.4f}, recall {score.recall:.4f}",
        )
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
