"""`make demo`: run the demo source for one date through Airflow, on embedded defaults.

Starts the bundled demo site on a free port, prepares Airflow's metadata DB (SQLite under
``.harvest/airflow``) and the ``scraping`` pool, runs the ``harvest_demo`` DAG (scrape ->
validate -> clean -> load) for one logical date with ``dag.test()`` and prints what each stage
did and where the data is: the raw partition, the warehouse (a SQLite file) and the Data Docs.
Airflow's own (long) output goes to a log file whose path is printed. Needs only Python (3.11 to
3.13) and the venv: no database server, no Redis.

    python scripts/demo.py [--date YYYY-MM-DD] [--source demo|catalogue|...]
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from demo_runs import TASKS, run_dag, say, start_demo_site

import harvest_local as local
from harvest.console import summary_lines, warning_lines


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (expected YYYY-MM-DD): {text!r}") from exc


def report(results: dict[str, Any], log_path: Path) -> None:
    """What each stage did, from the tasks' XComs, then the warnings that matter."""
    for line in summary_lines(results):
        say(line)
    docs_index = Path(os.environ["HARVEST_HOME"]) / "data_docs" / "index.html"
    if results["validate"].get("data_docs_path") and docs_index.is_file():
        say(f"  Data Docs index     {docs_index}")
    say(f"  Airflow log         {log_path}")
    warnings = warning_lines(results)
    if warnings:
        say(f"warnings ({len(warnings)}):")
        for line in warnings:
            say(f"  ! {line}")


# The base URL of the bundled sources' specs (the demo site of `make up`); `make demo` crawls a
# demo site of its own on a free port for them, and any other source at its own base URL.
DEMO_SITE_URLS = ("http://127.0.0.1:8000", "http://localhost:8000")


def _spec_or_none(source: str) -> Any:
    """The spec of ``source`` from the sources folder, or ``None`` after saying why not (before
    Airflow is started: a misspelt source is refused at once)."""
    from harvest.config.settings import Settings
    from harvest.config.spec import load_specs

    folder = Settings.from_env().sources_dir
    result = load_specs(folder)
    if source in result.errors:
        say(f"error: {result.errors[source]}")
        return None
    if source not in result.specs:
        known = ", ".join(sorted(result.specs)) or "none"
        say(f"error: no source {source!r} in {folder} (known: {known})")
        return None
    return result.specs[source]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    parser.add_argument(
        "--date", type=_date, default=yesterday, help="logical date (default yesterday)"
    )
    parser.add_argument(
        "--source",
        default="demo",
        help="a source of the sources folder (default demo); the bundled demo and catalogue "
        "sources crawl a demo site started here, any other its spec's base_url",
    )
    parser.add_argument(
        "--base-url",
        help="crawl a demo site already serving there (e.g. `python -m harvest_demo serve`) "
        "instead of starting one in this process",
    )
    parser.add_argument(
        "--train",
        action="store_true",
        help="then train (scripts/demo_training.py, in this process: Airflow and the DAGs are "
        "loaded once); other options go to it, e.g. --days 8 --trials 20",
    )
    args, training_args = parser.parse_known_args(argv)
    if training_args and not args.train:
        parser.error(f"unrecognized arguments: {' '.join(training_args)}")

    env = local.local_env()
    os.environ.update(env)  # before Airflow is imported: it reads its config once
    spec = _spec_or_none(args.source)
    if spec is None:
        return 2
    if args.date < spec.start_date:  # Airflow would run no task of it, and say nothing why
        say(
            f"error: source {spec.name}: logical date {args.date} is before its spec's "
            f"start_date {spec.start_date}, so Airflow runs none of its tasks. Run a later date "
            f'(make demo SOURCE={spec.name} DEMO_ARGS="--date {spec.start_date}", or '
            f"--date {spec.start_date} here), or set an earlier start_date in the spec"
        )
        return 2
    if args.train:  # the training's days too, before this date runs
        import demo_training

        days = demo_training.training_days(demo_training.parse_args(training_args).days)
        refused = demo_training.before_start(days)
        if refused:
            say(refused)
            return 2
    dag_id = spec.dag_id
    logs = Path(env["HARVEST_HOME"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"demo-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    say(f"Harvest demo: source {args.source}, logical date {args.date}")
    say(f"  Airflow output goes to {log_path}")

    override = f"HARVEST_SOURCE_{spec.name.upper()}_BASE_URL"
    own_site = not args.base_url and not os.environ.get(override)
    if not (own_site and spec.base_url.rstrip("/") in DEMO_SITE_URLS):
        url = args.base_url or spec.resolved_base_url()
        why = local.unreachable(url)
        if why:  # refused at once, not after the scrape task's retries
            say(
                f"error: source {spec.name} is crawled at {url}, which does not answer ({why}). "
                f"Start the site, or crawl another address: make demo SOURCE={spec.name} "
                'DEMO_ARGS="--base-url URL" (or set the spec\'s base_url, or ' + override + ")"
            )
            return 2

    started = time.monotonic()
    say("  preparing Airflow's metadata DB (SQLite) and its scraping pool ...")
    migrated = local.migrate_db_if_needed(env, log_path)
    local.ensure_pool(env, log_path)  # an `airflow pools set` the first time: 10-20 s more
    if migrated:
        say("  metadata DB created/upgraded")

    site = None
    if args.base_url:
        os.environ[override] = args.base_url
    elif os.environ.get(override):
        say(f"  crawling {os.environ[override]} ({override})")
    elif spec.base_url.rstrip("/") in DEMO_SITE_URLS:  # the bundled sources: a site of its own
        site, os.environ[override] = start_demo_site(args.date)
    else:
        say(
            f"  crawling {spec.resolved_base_url()} (the spec's base_url; the bundled demo site "
            "serves only the demo and catalogue sources)"
        )
    try:
        say(f"  running DAG {dag_id} (dag.test) ...")
        state, results, states, run_id = run_dag(args.date, log_path, dag_id, spec)
    finally:
        if site is not None:
            site.stop()
            say("  demo site stopped")

    say()
    if state != "success" or set(results) != set(TASKS):
        failed = ", ".join(f"{t}={states.get(t, 'not run')}" for t in TASKS)
        say(f"FAILED: run {run_id} ended {state} ({failed}). The task log is in {log_path}:")
        say(local.tail(log_path, 25))
        return 1
    say(f"Done in {time.monotonic() - started:.0f} s (run {run_id})")
    report(results, log_path)
    if args.train:
        import demo_training

        say()
        return demo_training.main(training_args)
    return 0


def exit_now(code: int) -> None:
    """Exit with ``code`` without tearing the interpreter down: the exit handlers run (logging,
    Airflow's and MLflow's clean-ups), every result is committed, and freeing Airflow, Great
    Expectations and pandas object by object took 1.5 to 5 seconds after the demo was done."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(argv: list[str] | None = None) -> int:
    """:func:`main`, with Ctrl-C an exit status (130) and a line, not a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        say("\ninterrupted (Airflow's output so far is in the log file named above)")
        return 130


if __name__ == "__main__":
    exit_now(run())
