"""What `make demo` and its training step share: the demo site, log redirection, a DAG run.

``scripts/demo.py`` (one date through the source DAG, then ``--train``) and
``scripts/demo_training.py`` (several dates, then the training DAG) both import it, so neither
imports the other for these.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harvest_local as local
from harvest.progress import echo, show_bars

DAG_ID = "harvest_demo"
TASKS = ("scrape", "validate", "clean", "load")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def task_progress(
    dag_id: str, task_ids: tuple[str, ...] | None = None, interval: float = 2.0
) -> Iterator[None]:
    """While a ``dag.test()`` of ``dag_id`` runs (its output sent to a log file), say at the
    console when each task (of ``task_ids``, default all) of its newest run finishes, with its state and duration:
    a thread reads the task instances of the run created after it started from the embedded
    metadata DB (SQLite, read-only) every ``interval`` seconds. Nothing is said for another metadata DB."""
    db = Path(os.environ.get("AIRFLOW_HOME", "")) / "airflow.db"
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in os.environ or not db.is_file():
        yield
        return
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM dag_run").fetchone()[0]
    console = os.fdopen(os.dup(1), "w")  # the terminal, before output_to() takes fd 1
    stop = threading.Event()
    said: set[str] = set()

    def poll() -> None:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            while True:
                last = stop.is_set()  # once more after the run ended: its last task
                try:
                    rows = conn.execute(
                        "SELECT task_id, state, start_date, end_date FROM task_instance "
                        "WHERE dag_id = ? AND run_id = (SELECT run_id FROM dag_run WHERE "
                        "dag_id = ? AND id > ? ORDER BY id DESC LIMIT 1)",
                        (dag_id, dag_id, before),
                    ).fetchall()
                except sqlite3.Error:
                    rows = []
                for task_id, state, start, end in rows:
                    # a try that failed and is retried is said once per try (its end differs)
                    key = f"{task_id} {end}" if state == "up_for_retry" else task_id
                    wanted = task_ids is None or task_id in task_ids
                    if wanted and key not in said and end and start:
                        said.add(key)
                        seconds = (
                            dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
                        ).total_seconds()
                        retry = ", Airflow tries it again after its retry delay" * (
                            state == "up_for_retry"
                        )
                        echo(f"    {task_id:<12}{state} ({seconds:.0f} s{retry})", console)
                if last:
                    return
                stop.wait(interval)

    thread = threading.Thread(target=poll, name="demo-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        console.close()


@contextlib.contextmanager
def progress_bars() -> Iterator[None]:
    """While the tasks' output goes to the log file, the progress bars of their long steps
    (crawl pages, validation batches, Optuna trials: :mod:`harvest.progress`) on the terminal
    this process's stderr was before, when it is one (the tasks run in this process)."""
    terminal = os.fdopen(os.dup(2), "w")
    try:
        show_bars(terminal)
        yield
    finally:
        show_bars(None)
        terminal.close()


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


def start_demo_site(day: dt.date, shows: str | None = None) -> tuple[Any, str]:
    """The bundled demo site on a free port, served from a thread of this process; it shows
    ``day`` (the run's logical date: crawling date D needs day D's pages). ``shows``: what the
    printed line says the site shows, when the caller moves it to other days later.

    Pages are stored under the spec's canonical base URL, so the port does not matter.
    """
    from harvest_demo.server import DemoSite

    site = DemoSite(day=day)
    base_url = site.start()
    say(f"  demo site serving {base_url}: {shows or f'the pages of {day}'}")
    return site, base_url


def run_dag_file(
    dag_file: str, dag_id: str, log_path: Path, task_ids: tuple[str, ...], day: dt.date | None
) -> tuple[str, dict[str, Any], dict[str, str], str]:
    """``dag.test()`` of ``dag_id`` from ``dags/<dag_file>`` (for ``day``, or a run without a
    logical date), Airflow's output to ``log_path``: (run state, XCom return value per task of
    ``task_ids``, every task's state, run id)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select, update

    from harvest_airflow.execution_api import serve_sdk_version_only

    with task_progress(dag_id), progress_bars(), output_to(log_path):
        bag = DagBag(str(local.REPO / "dags" / dag_file))
        dag = bag.dags.get(dag_id)
        if dag is None:
            raise SystemExit(f"error: DAG {dag_id} did not load: {bag.import_errors or 'no spec?'}")
        serve_sdk_version_only()  # the execution API dag.test() starts, for the SDK's version only
        started = dt.datetime.now(dt.UTC)
        if day is None:
            run = dag.test()
        else:
            run = dag.test(logical_date=dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    results: dict[str, Any] = {}
    with create_session() as session:
        # dag.test() records the logical date as the run's start, so the UI showed a run of
        # yesterday's date lasting a day or more; record when it really started.
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run.run_id)
            .values(start_date=started)
        )
        for task_id in task_ids:
            row = session.scalars(
                XComModel.get_many(
                    run_id=run.run_id, dag_ids=dag_id, task_ids=task_id, key="return_value"
                )
            ).first()
            if row is not None:
                results[task_id] = XComModel.deserialize_value(row)
        states = {
            ti.task_id: str(ti.state)
            for ti in session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id
                )
            )
        }
    return str(run.state), results, states, run.run_id


def run_dag(
    day: dt.date, log_path: Path, dag_id: str = DAG_ID, spec: Any = None
) -> tuple[str, dict[str, Any], dict[str, str], str]:
    """``dag.test()`` of a source's DAG ``dag_id`` for ``day``: (run state, XCom result per
    stage task, task states, run id). With the source's ``spec``, its crawl child is started
    ahead (:func:`crawl_ahead`), and so is the process the clean task's profile report is
    forked from (:func:`harvest.cleaning.profile.start_profile_server`; when reports are on,
    once per process): both start Python and import their libraries on the other core while
    ``dag.test()`` starts Airflow in this one."""
    if spec is not None:  # the clean task's profile reports are forked from it
        from harvest.cleaning.profile import start_profile_server
        from harvest.config.settings import Settings

        start_profile_server(Settings.from_env())
    with crawl_ahead(spec, day):
        return run_dag_file("harvest_sources.py", dag_id, log_path, TASKS, day)


@contextlib.contextmanager
def crawl_ahead(spec: Any, day: dt.date) -> Iterator[Any]:
    """While ``dag.test()`` starts Airflow in this process (5 to 7 s in a fresh one: importing
    it, parsing the DAG, building the in-process execution API), the scrape task's crawl child
    starts Python and imports Scrapy and the crawler on the other core, then waits for the task
    to hand it its crawl (:mod:`harvest.scraping.warm`). Only when the task will crawl: not for
    a date whose stored pages it re-processes (:func:`harvest.scraping.past.plan_partition`),
    nor when the plan cannot be made here (the task says why). Yields the
    :class:`~harvest.scraping.warm.WarmChild`, or None."""
    if spec is None:
        yield None
        return
    from harvest.config.settings import Settings
    from harvest.partitions import Partition
    from harvest.scraping.past import plan_partition
    from harvest.scraping.warm import warm_crawl_child

    settings = Settings.from_env()
    try:
        crawls = plan_partition(spec, Partition.of(spec.name, day), settings).action != "reuse"
    except Exception:  # the scrape task meets it again and says it
        crawls = False
    if not crawls:
        yield None
        return
    with warm_crawl_child(settings, spec.monitors.enabled) as child:
        yield child


def clear_asset_queue(dag_id: str) -> int:
    """Drop the asset events queued for ``dag_id`` (a training DAG the demo just ran on the same
    data), so that the scheduler of a later ``make up`` does not train on it again; returns how
    many were dropped."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        result = session.execute(
            delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)
