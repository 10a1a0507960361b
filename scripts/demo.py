"""`make demo`: crawl the demo source for one date through Airflow, on embedded defaults.

Starts the bundled demo site on a free port, prepares Airflow's metadata DB (SQLite under
``.harvest/airflow``) and the ``scraping`` pool, runs the ``harvest_demo`` DAG for one logical
date with ``dag.test()`` and prints what the crawl did and where the data is. Airflow's own
(long) output goes to a log file whose path is printed. Needs only Python 3.11 and the venv.

    python scripts/demo.py [--date YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "include"), str(REPO / "plugins")]

from harvest_airflow import local  # noqa: E402 - after the path set-up above

DAG_ID = "harvest_demo"


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (expected YYYY-MM-DD): {text!r}") from exc


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (and its children's) to ``log_path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def start_demo_site() -> tuple[Any, str]:
    """The bundled demo site on a free port, served from a thread of this process.

    Pages are stored under the spec's canonical base URL, so the port does not matter.
    """
    from harvest.demo_site.server import DemoSite

    site = DemoSite()
    base_url = site.start()
    say(f"  demo site serving {base_url}")
    return site, base_url


def run_dag(day: dt.date, log_path: Path) -> tuple[str, dict[str, Any] | None, str]:
    """``dag.test()`` of harvest_demo for ``day``: (run state, scrape result or None, run id)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    logical_date = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    with output_to(log_path):
        bag = DagBag(str(REPO / "dags" / "harvest_sources.py"))
        dag = bag.dags.get(DAG_ID)
        if dag is None:
            raise SystemExit(f"error: DAG {DAG_ID} did not load: {bag.import_errors or 'no spec?'}")
        run = dag.test(logical_date=logical_date)
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, dag_ids=DAG_ID, task_ids="scrape", key="return_value"
            )
        ).first()
        result = XComModel.deserialize_value(row) if row is not None else None
    return str(run.state), result, run.run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    parser.add_argument(
        "--date", type=_date, default=yesterday, help="logical date (default yesterday)"
    )
    args = parser.parse_args(argv)

    env = local.local_env()
    os.environ.update(env)  # before Airflow is imported: it reads its config once
    logs = Path(env["HARVEST_HOME"]) / "logs"
    log_path = logs / f"demo-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    say(f"Harvest demo: source demo, logical date {args.date}")
    say(f"  Airflow output goes to {log_path}")

    started = time.monotonic()
    say("  preparing Airflow's metadata DB (SQLite) ...")
    if local.migrate_db_if_needed(env, log_path):
        say("  metadata DB created/upgraded")
    local.ensure_pool(env, log_path)

    site, base_url = start_demo_site()
    os.environ["HARVEST_SOURCE_DEMO_BASE_URL"] = base_url
    try:
        say(f"  running DAG {DAG_ID} (dag.test) ...")
        state, result, run_id = run_dag(args.date, log_path)
    finally:
        site.stop()
        say("  demo site stopped")

    say()
    if state != "success" or result is None:
        say(f"FAILED: run {run_id} ended {state}. The task log is in {log_path}:")
        say(local.tail(log_path, 25))
        return 1
    say(f"Done in {time.monotonic() - started:.0f} s (run {run_id})")
    say(f"  pages visited       {result['pages']}")
    say(f"  documents stored    {result['documents']}")
    say(f"  failed pages        {result['failed_pages']}")
    say(f"  JS pages rendered   {result['js_pages'] - result['js_unavailable']}")
    if result["js_unavailable"]:
        say(
            f"  JS pages unrendered {result['js_unavailable']}: headless Chromium is not available "
            "(install chromium and chromium-driver); their JavaScript-only fields are missing"
        )
    say(f"  raw partition       {result['raw_uri']}")
    say(f"  Airflow log         {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
