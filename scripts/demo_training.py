"""`make demo` training step: several demo days through the real pipeline, then training.

Runs the ``harvest_demo`` DAG (scrape -> validate -> clean -> load, the demo site served from
this process) for ``--days`` consecutive dates ending yesterday, then the training DAG
``harvest_train_demo`` once (plan -> tune -> train -> score) with ``dag.test()``, and prints the
champion's version, its holdout RMSE, the naive baseline's and the noise floor of the demo
site's prices. Data only reaches the warehouse through the load task. Embedded defaults
(SQLite warehouse, local MLflow store under ``.harvest``); Airflow's output goes to a log file.

    python scripts/demo_training.py [--days 5] [--trials 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from demo_runs import clear_asset_queue, run_dag, run_dag_file, say, start_demo_site

import harvest_local as local

TRAIN_DAG_ID = "harvest_train_demo"
SOURCES = ("demo",)
"""The sources whose DAG runs each of the days (their specs from the settings' sources folder)."""


def training_days(count: int) -> list[dt.date]:
    """The ``count`` consecutive dates ending yesterday (UTC), oldest first."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return [yesterday - dt.timedelta(days=n) for n in range(count - 1, -1, -1)]


def before_start(days: list[dt.date]) -> str | None:
    """The error for ``days`` when one is before a source's ``start_date`` (Airflow would run
    none of its tasks for it, and say nothing why), naming the source, the date and the
    ``start_date``; ``None`` when every date can run (a source whose spec does not load is left
    to the run, which says why)."""
    from harvest.config.settings import Settings
    from harvest.config.spec import load_specs

    specs = load_specs(Settings.from_env().sources_dir).specs
    for name in SOURCES:
        spec = specs.get(name)
        if spec is None or days[0] >= spec.start_date:
            continue
        most = (days[-1] - spec.start_date).days + 1
        what = (
            f'Load fewer days (--days {most}: make demo DEMO_TRAINING_ARGS="--days {most}"), '
            "or set an earlier start_date in the spec"
            if most >= 4
            else "Fewer than 4 days (the training's least) start on or after it: set an "
            "earlier start_date in the spec"
        )
        return (
            f"error: source {name}: logical date {days[0]} (the first of --days {len(days)}: "
            f"{days[0]}..{days[-1]}) is before its spec's start_date {spec.start_date}, so "
            f"Airflow runs none of its tasks. {what}"
        )
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options (``--days``, ``--trials``); exits with usage on a bad one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=5, help="demo days to load (>= 4)")
    parser.add_argument("--trials", type=int, default=10, help="Optuna trials per model kind")
    args = parser.parse_args(argv)
    if args.days < 4:
        parser.error("--days must be at least 4 (2 held out, 1 to validate, 1 or more to fit)")
    return args


def loaded_rows(warehouse_url: str) -> dict[dt.date, int]:
    """Rows of source demo in the warehouse per date already loaded (by an earlier `make
    demo`): those dates are not crawled again."""
    from harvest.storage.warehouse import open_warehouse

    with open_warehouse(warehouse_url) as warehouse:
        warehouse.migrate([])  # the shared tables, as the first load creates them
        summaries = {
            d: warehouse.partition_summary("demo", d) for d in warehouse.loaded_dates("demo")
        }
        return {d: s.loaded for d, s in summaries.items() if s is not None}


def rows_changed(before: dict[dt.date, int], after: dict[dt.date, int]) -> list[str]:
    """What the loads did to dates loaded before them, a line each: a listing of a later date
    that repeats one of an earlier date loaded since is a duplicate, dropped from the later date
    (see docs/concepts/runs.md, dates in any order), so its rows go down."""
    lines = []
    for day, rows in sorted(before.items()):
        now = after.get(day, rows)
        if now < rows:
            lines.append(
                f"  {day}: {now} rows now, {rows} before: {rows - now} of its listings repeat "
                "listings of the earlier days loaded since (duplicates across dates, dropped)"
            )
        elif now > rows:
            lines.append(
                f"  {day}: {now} rows now, {rows} before: de-duplicated again against the "
                "earlier days loaded since"
            )
    return lines


def run_training_dag(log_path: Path) -> tuple[str, dict[str, Any]]:
    """``dag.test()`` of the training DAG: (run state, XCom return value per task)."""
    state, results, _states, _run_id = run_dag_file(
        "harvest_training.py", TRAIN_DAG_ID, log_path, ("plan", "train", "score"), None
    )
    return state, results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = local.local_env()
    os.environ.update(env)
    days = training_days(args.days)
    refused = before_start(days)
    if refused:  # up front: before Airflow's metadata DB, not after a day that ran nothing
        say(refused)
        return 2
    os.environ.setdefault("HARVEST_TRAINING_TRIALS", str(args.trials))
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    log_path = (
        Path(env["HARVEST_HOME"]) / "logs" / f"demo-training-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"Harvest training demo: source demo, {args.days} days {days[0]}..{days[-1]}")
    say(f"  Airflow output goes to {log_path}")
    started = time.monotonic()
    local.migrate_db_if_needed(env, log_path)
    local.ensure_pool(env, log_path)

    from harvest.config.settings import Settings
    from harvest.config.spec import load_specs

    rows_before = loaded_rows(Settings.from_env().warehouse_url)
    done = set(rows_before)
    spec = load_specs(Settings.from_env().sources_dir).specs.get("demo")  # its crawl started ahead
    for day in sorted(done.intersection(days)):
        say(f"  {day}: already loaded, not crawled again")
    shows = (
        f"the pages of each day {days[0]}..{days[-1]} in turn, as each night's crawl would see them"
    )
    site, base_url = start_demo_site(days[-1], shows)
    os.environ["HARVEST_SOURCE_DEMO_BASE_URL"] = base_url
    try:
        for day in [d for d in days if d not in done]:
            site.set_day(day)  # the site shows the run's date, as a nightly crawl would see it
            stage_started = time.monotonic()
            state, results, _states, run_id = run_dag(day, log_path, spec=spec)
            loaded = results.get("load", {}).get("loaded", "?")
            say(
                f"  {day}: harvest_demo {state}, {loaded} rows loaded "
                f"({time.monotonic() - stage_started:.0f} s)"
            )
            if state != "success":
                say(f"FAILED: run {run_id}; the log is in {log_path}:\n{local.tail(log_path, 25)}")
                return 1
    finally:
        site.stop()
    for line in rows_changed(rows_before, loaded_rows(Settings.from_env().warehouse_url)):
        say(line)

    say(
        f"  running DAG {TRAIN_DAG_ID} (dag.test, {os.environ['HARVEST_TRAINING_TRIALS']} trials per model) ..."
    )
    stage_started = time.monotonic()
    state, results = run_training_dag(log_path)
    say(f"  {TRAIN_DAG_ID} {state} ({time.monotonic() - stage_started:.0f} s)")
    trained = results.get("train")
    if state != "success" or not trained:
        say(f"FAILED: {TRAIN_DAG_ID} ended {state}; the log is in {log_path}:")
        say(local.tail(log_path, 25))
        return 1
    if clear_asset_queue(TRAIN_DAG_ID):  # the run above trained on the days just loaded
        say(
            f"  {TRAIN_DAG_ID}: not triggered again by these loads (the run above already "
            "trained on them; the runs they queued are cancelled)"
        )
    say()
    say(f"Done in {time.monotonic() - started:.0f} s")
    say(
        f"  model               {trained['model_name']} version {trained['version']} ({trained['model_kind']})"
    )
    say(f"  promotion           {trained['reason']}")
    for kind, why in trained.get("skipped_candidates", {}).items():
        say(f"  skipped candidate   {kind} (the deep-learning challenger): {why}")
    say(f"  champion            {trained['model_name']}@champion")
    say(f"  holdout RMSE        {trained['holdout_rmse']:.1f} EUR")
    say(f"  baseline RMSE       {trained['baseline_rmse']:.1f} EUR (median price per district)")
    floor = trained.get("noise_floor")
    if floor:
        say(f"  noise floor         {floor:.1f} EUR (the demo site's price noise)")
        say(
            f"  RMSE / floor        model {trained['holdout_rmse'] / floor:.2f}, baseline {trained['baseline_rmse'] / floor:.2f}"
        )
    say(
        f"  holdout             {trained['split']['split_holdout_dates']}, {trained['split']['split_holdout_rows']} rows"
    )
    scored = results.get("score")
    if scored:
        say(
            f"  scored              {scored['rows']} rows of {scored['logical_date']} into {scored['table']}"
        )
    store = os.environ.get("HARVEST_MLFLOW_TRACKING_URI") or "sqlite:///" + str(
        Path(env["HARVEST_HOME"]) / "mlflow.db"
    )
    say(f"  MLflow              {store}")
    say(f"  MLflow UI           mlflow ui --backend-store-uri {store} --workers 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
