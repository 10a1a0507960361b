"""Scale-out, shown working: Airflow with the CeleryExecutor (Redis broker, PostgreSQL result
backend and metadata) and two ``airflow celery worker`` processes with their own hostnames and
queues. A backfill spreads its tasks over both workers and loads exactly what the same dates give
without Airflow (``run_partition``, the LocalExecutor's code path in one process); a source with
its own ``queue`` runs its crawl only on the worker listening to it; a worker SIGKILLed in the
middle of a crawl has its task retried on the other worker, and the warehouse still matches.

Both workers share this machine's file system (``HARVEST_SHARED_FILESYSTEM=true``), as workers
sharing one volume would. Airflow notices the killed worker through the task's missing heartbeats
(``[scheduler] task_instance_heartbeat_timeout``), set short here so the test is quick.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

import pytest
import sqlalchemy as sa

import harvest_local as local
from harvest.config import Settings, load_spec
from harvest.pipeline import run_partition
from harvest.storage.raw import FileRawStore
from harvest_demo.faults import Faults
from harvest_demo.generator import day_listings

# By package path: at run time the module named ``conftest`` is whichever test folder's conftest
# pytest imported last.
from tests.e2e.conftest import SITE, metadata_database, running_airflow

if TYPE_CHECKING:
    from tests.e2e.conftest import Airflow

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

SOURCES = local.REPO / "include" / "harvest" / "sources"
CANONICAL = load_spec(SOURCES / "demo.yaml").base_url
WORKERS = {"worker-a": "default,chromium", "worker-b": "default"}  # hostname -> its queues
QUEUED_SOURCE = "demo_chromium"  # the demo source again, its crawl on the "chromium" queue
DAYS = [dt.date(2026, 4, 1) + dt.timedelta(days=n) for n in range(3)]
KILL_DAY = dt.date(2026, 4, 6)
CELERY_ENV = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CORE__PARALLELISM": "6",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    # One message at a time per process: a busy worker leaves the next task to the other one.
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    # A worker gone silent: its task instance fails after this many seconds without heartbeat
    # (Airflow's default is 300), checked every few seconds, and is retried soon after.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "3",
    "HARVEST_SHARED_FILESYSTEM": "true",
}
VOLATILE_COLUMNS = ("_at",)  # loaded_at...: when, not what
ROW_COUNT_EXPECTATION = "expect_table_row_count_to_be_between"


def broker_url(redis_url: str) -> str:
    """``HARVEST_TEST_CELERY_BROKER_URL``, else database 14 of the test Redis."""
    configured = os.environ.get("HARVEST_TEST_CELERY_BROKER_URL")
    return configured or urlunparse(urlparse(redis_url)._replace(path="/14"))


def write_sources(folder: Path) -> None:
    """The demo spec as is, and a copy named ``demo_chromium`` on the ``chromium`` queue (run
    only when triggered: no scheduled run of its own)."""
    folder.mkdir(parents=True)
    for name in ("demo.yaml", "currency_rates.csv", "demo.dedup.json"):  # and what it reads
        shutil.copy(SOURCES / name, folder / name)
    text = (SOURCES / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("name: demo\n", f"name: {QUEUED_SOURCE}\n", 1)
    text = re.sub(r"(?m)^schedule: .*$", "schedule: null", text)
    (folder / f"{QUEUED_SOURCE}.yaml").write_text(text + "queue: chromium\n", encoding="utf-8")
    shutil.copy(SOURCES / "demo.dedup.json", folder / f"{QUEUED_SOURCE}.dedup.json")


@pytest.fixture(scope="module")
def celery(
    request: pytest.FixtureRequest,
    postgres_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Airflow]:
    import redis

    root = tmp_path_factory.mktemp("celery")
    write_sources(root / "sources")
    broker = broker_url(redis_url)
    redis.Redis.from_url(broker).flushdb()
    workers = {
        name: (
            ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", queues],
            {
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
                "HARVEST_E2E_WORKER_HOSTNAME": name,
                # Each worker serves its task logs to the api-server on a port of its own.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(local.free_port()),
                "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ['PYTHONPATH']}"
                if os.environ.get("PYTHONPATH")
                else str(Path(__file__).parent),
            },
        )
        for name, queues in WORKERS.items()
    }
    with metadata_database(postgres_url) as database:
        backend = "db+" + database.replace("postgresql+psycopg2://", "postgresql://", 1)
        extra = {
            **CELERY_ENV,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": backend,
            "HARVEST_SOURCES_DIR": str(root / "sources"),
        }
        with running_airflow(
            root,
            database,
            extra_env=extra,
            workers=workers,
            site_sources=("demo", QUEUED_SOURCE),
            failed=lambda: bool(request.session.testsfailed),
        ) as stack:
            for dag_id in ("harvest_demo", f"harvest_{QUEUED_SOURCE}"):
                stack.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            yield stack
    redis.Redis.from_url(broker).flushdb()


@pytest.fixture(scope="module")
def reference(celery: Airflow, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A second, empty Harvest home reading the Celery run's raw store: validate, clean and
    load of the same partitions there, in this process, without Airflow, give the warehouse
    to compare with. (The raw partitions themselves are checked against the demo site's own
    listings by :func:`assert_raw_partition`.)"""
    home = tmp_path_factory.mktemp("reference")
    return Settings.from_env(
        {
            "HARVEST_HOME": str(home),
            "HARVEST_RAW_STORE_URL": f"file://{celery.harvest_home / 'raw'}",
        }
    )


def run_reference(settings: Settings, days: list[dt.date]) -> None:
    spec = load_spec(SOURCES / "demo.yaml")
    for day in days:
        run_partition(spec, day, settings, scrape=False)


def assert_raw_partition(airflow: Airflow, day: dt.date) -> None:
    """Every page of the day's listings once in the raw partition, fetched."""
    docs = FileRawStore(airflow.harvest_home / "raw").read_partition("demo", day)
    urls = [doc.url for doc in docs]
    details = {f"{CANONICAL}/listing/{item.listing_id}" for item in day_listings(SITE, day)}
    assert len(urls) == len(set(urls)), f"{day}: a page is in the raw partition twice"
    assert details <= set(urls), f"{day}: {len(details - set(urls))} listings missing"
    assert len(urls) == len(details) + SITE.pages_per_day
    assert all(doc.status == 200 for doc in docs)


def warehouse_rows(
    sqlite_url: str, days: list[dt.date], source: str = "demo"
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of ``source`` and ``days`` in every table, sorted, without the columns that say
    when (``loaded_at``...)."""
    engine = sa.create_engine(sqlite_url)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for name, table in sorted(metadata.tables.items()):
                if "source" not in table.c:
                    continue
                columns = [c for c in table.c if not c.name.endswith(VOLATILE_COLUMNS)]
                query = sa.select(*columns).where(table.c.source == source)
                if "logical_date" in table.c:
                    query = query.where(table.c.logical_date.in_(days))
                rows = (_without_history(name, dict(r._mapping)) for r in conn.execute(query))
                tables[name] = sorted((tuple(r.values()) for r in rows), key=repr)
    finally:
        engine.dispose()
    return tables


def _without_history(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row without what depends on which earlier partitions were loaded when it was made.

    The row-count expectation's threshold is a ratio of the median of the partitions loaded
    before (``validation.row_count_min_ratio``): in a backfill the dates run side by side (with
    any executor), in the reference one after the other, so its text differs; its outcome and
    counts are still compared.
    """
    if table == "validation_results" and row["expectation"] == ROW_COUNT_EXPECTATION:
        row["details"] = {**row["details"], "threshold": "(depends on the earlier partitions)"}
    return row


def assert_same_warehouse(celery: Airflow, reference: Settings, days: list[dt.date]) -> None:
    got = warehouse_rows(f"sqlite:///{celery.harvest_home / 'warehouse.db'}", days)
    want = warehouse_rows(reference.warehouse_url, days)
    assert want["processed_demo"], "the reference loaded nothing"
    assert set(want) <= set(got), f"tables missing with Celery: {sorted(set(want) - set(got))}"
    # the crawl writes crawl_monitors and crawl_stats, and the reference does not crawl (it re-runs the Celery
    # run's raw partitions): each date has its monitors, and on the healthy demo site none fails
    # (item_count_vs_median is skipped when no earlier partition had loaded: dates run side by side)
    monitors = got.pop("crawl_monitors", [])
    want.pop("crawl_monitors", None)
    assert {row[1] for row in monitors} == set(days), f"crawl_monitors: {monitors[:3]}"
    assert all(row[3] in ("passed", "skipped") for row in monitors), [
        row for row in monitors if row[3] not in ("passed", "skipped")
    ]
    # crawl_stats too: a row per crawl, each date crawled once and finished
    crawls = got.pop("crawl_stats", [])
    want.pop("crawl_stats", None)
    assert sorted(row[1] for row in crawls) == sorted(days), f"crawl_stats: {crawls[:3]}"
    assert all("finished" in row for row in crawls), crawls  # finish_reason
    for table, rows in want.items():
        assert got[table] == rows, (
            f"{table}: {len(got[table])} rows with Celery, {len(rows)} without Airflow; "
            f"only with Celery {[r for r in got[table] if r not in rows][:3]}, "
            f"only without {[r for r in rows if r not in got[table]][:3]}"
        )


def task_instances(airflow: Airflow, dag_id: str, run_ids: set[str]) -> list[dict[str, Any]]:
    found = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=500")
    return [ti for ti in found["task_instances"] if ti["dag_run_id"] in run_ids]


def tries(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
    found = airflow.request("GET", path)["task_instances"]
    return sorted(found, key=lambda ti: ti["try_number"])


def trigger(airflow: Airflow, dag_id: str, day: dt.date) -> str:
    run = airflow.request(
        "POST",
        f"/api/v2/dags/{dag_id}/dagRuns",
        {"dag_run_id": f"celery_{day}", "logical_date": f"{day.isoformat()}T00:00:00Z"},
    )
    return str(run["dag_run_id"])


def test_backfill_spreads_over_both_workers_and_loads_what_one_process_loads(
    celery: Airflow, reference: Settings
) -> None:
    started = time.monotonic()
    queued_run = trigger(celery, f"harvest_{QUEUED_SOURCE}", DAYS[0])
    runs = celery.backfill(DAYS)
    assert len(runs) == len(DAYS), f"backfill created {sorted(runs)}"
    celery.wait_for_runs(runs)
    celery.wait_for_runs({queued_run}, dag_id=f"harvest_{QUEUED_SOURCE}")
    took = time.monotonic() - started

    tis = task_instances(celery, "harvest_demo", runs)
    assert len(tis) == 4 * len(DAYS) and all(ti["state"] == "success" for ti in tis)
    per_worker = Counter(ti["hostname"] for ti in tis)
    per_task = {
        task: Counter(ti["hostname"] for ti in tis if ti["task_id"] == task)
        for task in ("scrape", "validate", "clean", "load")
    }
    by_task = {task: dict(counts) for task, counts in per_task.items()}
    sys.stderr.write(
        f"\n[celery] backfill of {len(DAYS)} days in {took:.0f} s; tasks per worker "
        f"{dict(per_worker)}; by task {by_task}\n"
    )
    assert set(per_worker) == set(WORKERS), f"tasks ran on {dict(per_worker)}"
    assert all(ti["queue"] == "default" for ti in tis)

    queued = {
        ti["task_id"]: ti for ti in task_instances(celery, f"harvest_{QUEUED_SOURCE}", {queued_run})
    }
    assert queued["scrape"]["queue"] == "chromium"
    assert queued["scrape"]["hostname"] == "worker-a", "only worker-a listens to 'chromium'"
    assert {queued[t]["queue"] for t in ("validate", "clean", "load")} == {"default"}

    for day in DAYS:
        assert_raw_partition(celery, day)
    run_reference(reference, DAYS)
    assert_same_warehouse(celery, reference, DAYS)


def listings_served(site: Any) -> set[str]:
    """The listing pages the demo site has answered since its stats were reset."""
    return {path for path in site.stats()["paths"] if path.startswith("/listing/")}


def kill_worker_tree(proc: Any) -> list[int]:
    """SIGKILL a worker and every process under it (crawlers run in their own sessions), as when
    its machine goes away; the pids killed."""
    import psutil

    parent = psutil.Process(proc.pid)
    family = [parent, *parent.children(recursive=True)]
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return [p.pid for p in family]


def test_a_worker_killed_mid_crawl_is_retried_on_the_other_and_nothing_is_lost(
    celery: Airflow, reference: Settings
) -> None:
    started = time.monotonic()
    site = celery.site
    # Every page answered after a second: the crawl (40 listings, 2 index pages) takes a while,
    # long enough to be caught in the middle.
    site.reset_stats()
    site.set_faults(Faults(slow_rate=1.0, slow_seconds=1.0))
    run_id = trigger(celery, "harvest_demo", KILL_DAY)
    store = FileRawStore(celery.harvest_home / "raw")
    journal = store.journal_path("demo", KILL_DAY)
    listings = len(day_listings(SITE, KILL_DAY))
    deadline = time.monotonic() + 240
    scrape: dict[str, Any] = {}
    # In the middle of the crawl: the task runs and the site has answered some of its pages.
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, IndexError):  # no task instance yet
            scrape = tries(celery, "harvest_demo", run_id, "scrape")[-1]
        if scrape.get("state") == "running" and len(listings_served(site)) >= 2:
            break
        assert scrape.get("state") in (None, "scheduled", "queued", "running"), scrape
        time.sleep(0.3)
    else:
        pytest.fail(f"the crawl never got going: {scrape}")
    victim = scrape["hostname"]
    killed = kill_worker_tree(celery.procs[victim])
    served = len(listings_served(site))
    site.set_faults(Faults())
    sys.stderr.write(
        f"\n[celery] killed {victim} (pids {killed}) during scrape try 1, "
        f"after {served} of {listings} listings\n"
    )
    assert served < listings, "the crawl had ended before the kill"

    celery.wait_for_runs({run_id})
    took = time.monotonic() - started
    history = tries(celery, "harvest_demo", run_id, "scrape")
    sys.stderr.write(
        f"[celery] run recovered in {took:.0f} s; scrape tries "
        f"{[(t['try_number'], t['state'], t['hostname']) for t in history]}\n"
    )
    assert len(history) == 2, history
    first, second = history
    assert first["hostname"] == victim and first["state"] != "success", first
    (survivor,) = set(WORKERS) - {victim}
    assert second["state"] == "success" and second["hostname"] == survivor, second

    assert_raw_partition(celery, KILL_DAY)
    assert not journal.exists(), "the retried crawl left its journal behind"
    run_reference(reference, [KILL_DAY])
    assert_same_warehouse(celery, reference, [*DAYS, KILL_DAY])
