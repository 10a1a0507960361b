"""Training: model quality against the noise floor, LightGBM against XGBoost tuning time, and the
pipeline's scoring rate against bare ``booster.predict``.

    python benchmarks/bench_training.py            # 30 days x 800 listings, 30 trials, 1M rows
    python benchmarks/bench_training.py --quick    # 8 days x 300, 5 trials, 100k rows

Rows come from the demo site as a cleaned partition would hold them
(``harvest_demo.shown``: shown prices and areas with their outliers, missing fields,
re-listings removed, rows validation would quarantine left out), loaded into a SQLite warehouse under a temporary home with the real
``Warehouse.load_partition``; training then runs exactly as the DAG runs it.

1. Quality: ``train_source`` (both kinds tuned, best by validation RMSE) on the demo spec
   (2 days held out). Holdout RMSE against the noise floor the site's ground truth gives: the sd
   of its price noise (60 EUR) and the empirical RMSE of the true noisy price around the expected
   price on the same holdout rows. Also the median-per-district baseline's ratio, and how many
   of the holdout rows LIME explained have another top feature than SHAP's (the second
   opinion). Goal: model within 10% of the floor (RMSE / 60 <= 1.10).
2. Tuning time: ``--trials`` Optuna trials of LightGBM, XGBoost and (with the ``dl`` extra) the
   Keras network on the same data, one after the other in this process, once (the studies are
   the ones training then uses). Reported as seconds and the XGBoost / LightGBM ratio: one round,
   no goal, a rough figure. Then each candidate's best trial refitted on the training dates: its
   holdout RMSE against the noise floor and its fit time (once); without the ``dl`` extra the
   network is said to be skipped, and why.
3. Scoring: the trained champion pipeline on ``--score-rows`` rows (the holdout repeated) against
   the bare booster's ``predict`` on the already-transformed matrix, ``--score-rounds`` rounds in
   rotated order (at least 3), median and spread, both checked to predict the same prices.
   Goal: pipeline >= 0.5 x bare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    demo_spec,
    goal_line,
    load_average,
    make_settings,
    median,
    ratio_line,
    rotated,
    spread,
)

from harvest.features import build_pipeline
from harvest.features.pipeline import transform_features
from harvest.storage.warehouse import open_warehouse
from harvest.training import TrainingSettings, tuning
from harvest.training.run import candidate_kinds, prepare, train_source, tune_candidates
from harvest_demo import NOISE_SD, SiteConfig
from harvest_demo.shown import shown_partition

FIRST_DAY = dt.date(2026, 3, 1)


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def load_days(settings, spec, days: int, per_day: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Load ``days`` demo partitions; return the frames (with the truth columns) concatenated."""
    config = SiteConfig(listings_per_day=per_day)
    frames = []
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.migrate([spec])
        for n in range(days):
            day = FIRST_DAY + dt.timedelta(days=n)
            frame = shown_partition(config, day, spec)
            warehouse.load_partition(spec, day, frame)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def bare_predict(model, columns) -> object:  # type: ignore[no-untyped-def]
    """The booster's own predict on a float matrix (what the pipeline ends with); the network's
    own predict on that matrix as a frame (it reads its columns by name)."""
    if hasattr(model, "model_"):
        return lambda matrix: model.predict(pd.DataFrame(matrix, columns=columns))
    if hasattr(model, "booster_"):
        booster = model.booster_
        return lambda matrix: booster.predict(matrix)
    booster = model.get_booster()
    return lambda matrix: booster.inplace_predict(matrix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int)
    parser.add_argument("--per-day", type=int)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--score-rows", type=int)
    parser.add_argument(
        "--score-rounds", type=int, default=5, help="scoring rounds (rotated, at least 3)"
    )
    args = parser.parse_args(argv)
    score_rounds = max(3, args.score_rounds)  # a median and a spread need 3 rounds at least
    days = args.days or (8 if args.quick else 30)
    per_day = args.per_day or (300 if args.quick else 800)
    trials = args.trials or (5 if args.quick else 30)
    score_rows = args.score_rows or (100_000 if args.quick else 1_000_000)
    logging.basicConfig(level=logging.WARNING)
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    say(f"== training: {days} days x {per_day} listings, {trials} trials; {load_average()}")

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        spec = demo_spec()
        training = TrainingSettings(trials=trials, shap_sample=500)
        started = time.perf_counter()
        truth = load_days(settings, spec, days, per_day)
        say(
            f"loaded {len(truth):,} listings over {days} days in {time.perf_counter() - started:.1f} s"
        )

        # 2. tuning time, each kind alone on the same matrices
        prepared = prepare(spec, settings, training)
        kinds, skipped = candidate_kinds(training.models, "bench")
        for kind, why in skipped.items():
            say(f"{kind}: skipped ({why})")
        seconds = {}
        for kind in kinds:
            t0 = time.perf_counter()
            tune_candidates(prepared, settings, training, kinds=(kind,))
            seconds[kind] = time.perf_counter() - t0

        # 1. quality (the studies are done: this fits, evaluates, logs and registers)
        report = train_source(spec, settings, training)
        holdout = prepared.split.holdout
        kept = truth.set_index("listing_id").loc[holdout["record_key"]]
        empirical_floor = float(
            np.sqrt(np.mean((kept["true_price"] - kept["expected_price"]) ** 2))
        )
        say()
        say(f"split: {report.split}")
        say(f"model ({report.model_kind}) holdout RMSE   {report.holdout_rmse:8.1f} EUR")
        say(f"baseline holdout RMSE          {report.baseline_rmse:8.1f} EUR")
        say(f"noise floor (site sd)          {NOISE_SD:8.1f} EUR")
        say(f"noise floor (holdout, truth)   {empirical_floor:8.1f} EUR")
        say(f"model / floor {report.holdout_rmse / NOISE_SD:.2f}, baseline / floor "
            f"{report.baseline_rmse / NOISE_SD:.2f}, model / baseline "
            f"{report.holdout_rmse / report.baseline_rmse:.2f}")  # fmt: skip
        opinion = report.second_opinion
        say(f"LIME second opinion on {opinion['rows']} holdout rows: {opinion['disagreements']} "
            f"with another top feature than SHAP's ({opinion['share']:.0%})")  # fmt: skip
        say(goal_line("quality", report.holdout_rmse / NOISE_SD <= 1.10, "RMSE <= 1.10 x floor",
                      f"{report.holdout_rmse / NOISE_SD:.2f} x floor"))  # fmt: skip
        say()
        say(f"tuning, {trials} trials on {len(prepared.split.fit):,} rows: "
            + ", ".join(f"{k} {seconds[k]:.1f} s" for k in kinds)
            + (f", XGBoost / LightGBM {seconds['xgboost'] / seconds['lightgbm']:.2f}"
               if {"xgboost", "lightgbm"} <= set(seconds) else ""))  # fmt: skip
        # each candidate with its best parameters, fitted on the training dates, on the holdout
        say("each candidate on the holdout (best trial refitted on all training dates, once):")
        studies = tune_candidates(prepared, settings, training)
        y_train, y_holdout = prepared.y(prepared.split.train), prepared.y(holdout)
        for kind, study in studies.items():
            model = tuning.make_model(kind, tuning.best_params(kind, study), training.seed,
                                      training.n_jobs, prepared.columns.categorical)  # fmt: skip
            candidate = build_pipeline(prepared.columns, spec.features, model, training.seed,
                                       tuning.encoding(kind))  # fmt: skip
            t0 = time.perf_counter()
            candidate.fit(prepared.split.train, y_train)
            fit = time.perf_counter() - t0
            rmse = float(np.sqrt(np.mean((candidate.predict(holdout) - y_holdout) ** 2)))
            say(f"  {kind:9s} RMSE {rmse:7.1f} EUR, RMSE / floor {rmse / NOISE_SD:5.2f}, "
                f"valid RMSE {study.best_value:7.1f}, fit {fit:6.1f} s")  # fmt: skip
        for kind, why in skipped.items():
            say(f"  {kind:9s} skipped: {why}")

        # 3. scoring throughput
        import mlflow

        pipeline = mlflow.sklearn.load_model(f"models:/{report.model_name}@champion")
        repeats = -(-score_rows // len(holdout))
        rows = pd.concat([holdout] * repeats, ignore_index=True).head(score_rows)
        predict = bare_predict(
            pipeline.steps[-1][1], transform_features(pipeline, holdout.head(1)).columns
        )
        results: dict[str, np.ndarray] = {}

        def piped() -> float:
            t0 = time.perf_counter()
            results["pipeline"] = np.asarray(pipeline.predict(rows), dtype=np.float64)
            return time.perf_counter() - t0

        def bare() -> float:
            # the bare side starts from the matrix the pipeline's feature steps make (untimed)
            matrix = transform_features(pipeline, rows).to_numpy(dtype=np.float64)
            t0 = time.perf_counter()
            results["bare"] = np.asarray(predict(matrix), dtype=np.float64)  # type: ignore[operator]
            return time.perf_counter() - t0

        sides = {"pipeline": piped, "bare": bare}
        times: dict[str, list[float]] = {name: [] for name in sides}
        for n in range(score_rounds):
            for name in rotated(list(sides), n):
                times[name].append(sides[name]())
            if not np.allclose(results["pipeline"], results["bare"], rtol=1e-6, atol=1e-6):
                raise RuntimeError("the pipeline and the bare booster predict different prices")
        say()
        say(f"scoring {len(rows):,} rows, {score_rounds} rounds in rotated order, the same "
            f"predictions: pipeline {len(rows) / median(times['pipeline']):,.0f} rows/s (spread "
            f"{spread([len(rows) / t for t in times['pipeline']], ',.0f')}), bare booster "
            f"{len(rows) / median(times['bare']):,.0f} rows/s (spread "
            f"{spread([len(rows) / t for t in times['bare']], ',.0f')})")  # fmt: skip
        ratios = [b / p for p, b in zip(times["pipeline"], times["bare"], strict=True)]
        say(ratio_line("scoring, pipeline rate / bare booster rate", ratios,
                       median(ratios) >= 0.5, ">= 0.5", unit="x"))  # fmt: skip
        say(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
