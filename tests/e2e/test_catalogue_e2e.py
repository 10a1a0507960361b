"""The catalogue source (stable URLs, versions) on a real Airflow: its scheduled run, and two
dates processed out of order giving the same warehouse as in order.

The demo site serves the catalogue of a pinned day (``DemoSite.set_day``): each run's day is set
before the run is created, so the site shows the catalogue of the run's logical date. The
out-of-order and in-order runs load into two fresh PostgreSQL warehouses, one after the other,
through the ``harvest_warehouse`` Airflow Connection (created, changed and deleted over the REST
API); the raw store, staging and HTTP cache are the stack's own.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from harvest.config import load_spec
from harvest_airflow.hooks import WAREHOUSE_CONN_ID
from harvest_demo import catalogue_truth
from harvest_demo.catalogue_truth import catalogue_changes
from tests.integration.test_catalogue_source import TIME_COLUMNS, _comparable

if TYPE_CHECKING:
    from conftest import Airflow  # tests/e2e/conftest.py

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include/harvest/sources/catalogue.yaml")
DAG_ID = SPEC.dag_id
# Between these two days of the e2e catalogue products appear, disappear and change price.
D1, D2 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
# Not compared: which checks of validation_results and crawl_monitors pass depends on the dates
# processed before (row_count_min_ratio, item_count_vs_median of the recent partitions), by
# design; the rest must be identical.
NOT_COMPARED = {"validation_results", "crawl_monitors"}
FIGURES = ("loaded", "versions_opened", "versions_closed", "versions_unchanged")


def catalogue_config(airflow: Airflow) -> Any:
    return airflow.site.app.catalogue


def latest_interval_start(now: dt.datetime) -> dt.date:
    """The data interval a just-unpaused DAG without catchup schedules: the last complete one
    of the spec's ``0 3 * * *`` (its start's day is the partition)."""
    assert SPEC.schedule == "0 3 * * *", "update this helper with the catalogue's schedule"
    end = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if end > now:
        end -= dt.timedelta(days=1)
    return (end - dt.timedelta(days=1)).date()


@pytest.fixture(scope="module")
def scheduled_run(airflow_stack: Airflow) -> Iterator[dict[str, Any]]:
    """Unpause harvest_catalogue: the scheduler creates the run of its latest data interval.
    Waited for here (it loads into the stack's default SQLite warehouse), so the tests after
    it have the DAG to themselves; paused again at the end."""
    airflow = airflow_stack
    airflow.site.set_day(latest_interval_start(dt.datetime.now(dt.UTC)))
    airflow.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    try:
        deadline = time.monotonic() + 120
        scheduled: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not scheduled:
            scheduled = [r for r in airflow.dag_runs(DAG_ID) if r["run_type"] == "scheduled"]
            time.sleep(2)
        assert len(scheduled) == 1, f"expected one scheduled run of {DAG_ID}, got {scheduled}"
        runs = airflow.wait_for_runs({scheduled[0]["dag_run_id"]}, dag_id=DAG_ID)
        yield runs[scheduled[0]["dag_run_id"]]
    finally:
        airflow.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": True})
        airflow.site.set_day(None)


def test_a_scheduled_run_processes_the_start_of_its_data_interval(
    airflow_stack: Airflow, scheduled_run: dict[str, Any]
) -> None:
    run = scheduled_run
    start = dt.datetime.fromisoformat(run["data_interval_start"])
    end = dt.datetime.fromisoformat(run["data_interval_end"])
    assert run["logical_date"] == run["data_interval_start"]
    assert end - start == dt.timedelta(days=1)
    assert start.astimezone(dt.UTC).time() == dt.time(3, 0)
    day = start.astimezone(dt.UTC).date()
    load = airflow_stack.task_result(DAG_ID, run["dag_run_id"], "load")
    assert load["logical_date"] == day.isoformat()
    assert load["loaded"] == len(catalogue_truth(catalogue_config(airflow_stack), day)) > 0
    engine = sa.create_engine(f"sqlite:///{airflow_stack.harvest_home / 'warehouse.db'}")
    try:
        with engine.connect() as conn:
            loaded = conn.execute(
                sa.text(
                    "SELECT loaded FROM partition_loads WHERE source = :s AND logical_date = :d"
                ),
                {"s": SPEC.name, "d": day.isoformat()},
            ).scalar_one()
    finally:
        engine.dispose()
    assert loaded == load["loaded"]


def set_warehouse(airflow: Airflow, url: str | None) -> None:
    """Point the ``harvest_warehouse`` Connection at the PostgreSQL database ``url``
    (``None``: delete it, back to the stack's default warehouse)."""
    path = f"/api/v2/connections/{WAREHOUSE_CONN_ID}"
    existing = {c["connection_id"] for c in airflow.request("GET", "/api/v2/connections")[
        "connections"
    ]}  # fmt: skip
    if WAREHOUSE_CONN_ID in existing:
        airflow.request("DELETE", path)
    if url is None:
        return
    parts = urlparse(url)
    airflow.request("POST", "/api/v2/connections", {
        "connection_id": WAREHOUSE_CONN_ID, "conn_type": "postgres",
        "host": parts.hostname, "port": parts.port or 5432, "login": parts.username,
        "password": parts.password, "schema": parts.path.lstrip("/"),
    })  # fmt: skip


def process(airflow: Airflow, days: list[dt.date], label: str) -> dict[dt.date, dict[str, Any]]:
    """Trigger one run per day (REST, explicit logical date, forced to crawl: ``recrawl``),
    each after the previous one finished, the site showing that day; per day its scrape and
    load results. A run of the
    same logical date from before is deleted first (a DAG has one run per logical date)."""
    out: dict[dt.date, dict[str, Any]] = {}
    for day in days:
        for old in airflow.dag_runs(DAG_ID):
            if (old["logical_date"] or "")[:10] == day.isoformat():
                airflow.request("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{old['dag_run_id']}")
        airflow.site.set_day(day)
        run = airflow.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {
            "dag_run_id": f"e2e_catalogue_{label}_{day}",
            "logical_date": f"{day.isoformat()}T00:00:00Z",
            # past dates of an undated source: forced (the site is set to show that day)
            "conf": {"recrawl": True},
        })  # fmt: skip
        airflow.wait_for_runs({run["dag_run_id"]}, dag_id=DAG_ID)
        out[day] = {
            stage: airflow.task_result(DAG_ID, run["dag_run_id"], stage)
            for stage in ("scrape", "load")
        }
    return out


def catalogue_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """The warehouse rows of the catalogue source, sorted, values made comparable: every table
    named after it, and its rows of the shared tables (those with a ``source`` column; a run of
    another DAG meanwhile may load its own rows there); load times left out."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        out: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if name in NOT_COMPARED or (SPEC.name not in name and "source" not in table.c):
                    continue
                columns = [c for c in table.c if c.name not in TIME_COLUMNS]
                query = sa.select(*columns)
                if "source" in table.c:
                    query = query.where(table.c.source == SPEC.name)
                rows = [
                    {k: _comparable(v) for k, v in row.items()}
                    for row in conn.execute(query).mappings()
                ]
                if rows or SPEC.name in name:  # (another source's table: no rows here)
                    out[name] = sorted(rows, key=lambda r: repr(sorted(r.items())))
        return out
    finally:
        engine.dispose()


def test_two_dates_out_of_order_give_the_warehouse_of_in_order(
    airflow_stack: Airflow, scheduled_run: dict[str, Any], new_database: Callable[[str], str]
) -> None:
    """D2 then D1 (each triggered once the previous run finished) into one warehouse, D1 then D2
    into another: the same catalogue tables, rows and versions (load times aside)."""
    airflow = airflow_stack  # harvest_catalogue is unpaused by ``scheduled_run``
    unordered = new_database("harvest_e2e_wh_unordered")
    ordered = new_database("harvest_e2e_wh_ordered")
    try:
        set_warehouse(airflow, unordered)
        late_first = process(airflow, [D2, D1], "unordered")
        set_warehouse(airflow, ordered)
        in_order = process(airflow, [D1, D2], "ordered")
    finally:
        set_warehouse(airflow, None)
    got, expected = catalogue_tables(unordered), catalogue_tables(ordered)

    config = catalogue_config(airflow)
    kinds = [c.kind for c in catalogue_changes(config, D1, D2)]
    assert {"appeared", "disappeared", "changed"} <= set(kinds), kinds
    for table in (f"processed_{SPEC.name}", f"versions_{SPEC.name}", "partition_loads"):
        assert expected.get(table), f"{table} is empty after the in-order runs"
    assert sorted(got) == sorted(expected)
    for table in expected:
        assert got[table] == expected[table], f"{table} differs between the two orders"

    # the in-order versions are the truth's: D1 opens every product, D2 each change
    loads = {r["logical_date"]: r for r in expected["partition_loads"]}
    first, second = loads[D1.isoformat()], loads[D2.isoformat()]
    visible = len(catalogue_truth(config, D2))
    changed = kinds.count("changed")
    assert (first["versions_opened"], first["versions_closed"], first["versions_unchanged"]) == (
        len(catalogue_truth(config, D1)), 0, 0,
    )  # fmt: skip
    assert second["versions_opened"] == kinds.count("appeared") + changed
    assert second["versions_closed"] == kinds.count("disappeared") + changed
    assert second["versions_unchanged"] == visible - second["versions_opened"]
    for day, runs in (("out of order", late_first), ("in order", in_order)):
        for date, result in runs.items():
            assert result["scrape"]["cached_responses"] == 0, (day, date, result["scrape"])
    # the figures of the closing note
    for date in (D1, D2):
        row = {k: int(v) for k, v in loads[date.isoformat()].items() if k in FIGURES}
        sys.stderr.write(
            f"\n[e2e] catalogue {date}: {late_first[date]['scrape']['pages']} pages "
            f"(out of order) / {in_order[date]['scrape']['pages']} (in order), "
            f"{row['loaded']} rows, versions {row['versions_opened']} opened, "
            f"{row['versions_closed']} closed, {row['versions_unchanged']} unchanged; "
            f"out-of-order load of {date} reported {late_first[date]['load']['versions_opened']}"
            f"/{late_first[date]['load']['versions_closed']}"
            f"/{late_first[date]['load']['versions_unchanged']}\n"
        )
