"""harvest_demo through Airflow's ``dag.test()``: scrape -> validate -> clean -> load with a real
metadata DB (SQLite in a temporary AIRFLOW_HOME), the demo site on a random port, the crawl in its
child process, the file raw store, and the warehouse on SQLite (in tmp) or on a fresh PostgreSQL
database. The helpers at the top are shared with ``test_pipeline_faults.py``."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
import sqlalchemy as sa

from harvest.config import load_spec
from harvest.storage.raw import FileRawStore
from harvest_demo.generator import SiteConfig, day_listings
from harvest_demo.server import DemoSite

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
TASKS = ("scrape", "validate", "clean", "load")
WAREHOUSE_TABLES = (
    "processed_demo",
    "quarantine",
    "validation_results",
    "partition_loads",
    "crawl_monitors",
)


@dataclass
class DagRunResult:
    """What one dag.test() run left: its state, each task's state, try number and XCom, and
    the extras of the asset events it emitted (by asset URI)."""

    run: Any
    states: dict[str, str] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    xcom: dict[str, Any] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.run.state)


def crawl_ahead(spec: Any, day: dt.date) -> Any:
    """``make demo``'s crawl child started ahead of the scrape task (``scripts/demo_runs.py``)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import demo_runs
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return demo_runs.crawl_ahead(spec, day)


def load_demo_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags" / "harvest_sources.py"))
    assert bag.import_errors == {}
    return bag.dags["harvest_demo"]


def run_dag(
    day: dt.date | None,
    prepare: Callable[[Any], None] | None = None,
    run_after: dt.datetime | None = None,
) -> DagRunResult:
    """dag.test() of harvest_demo for ``day``; ``prepare(dag)`` may adjust tasks first.

    ``day=None`` makes a run without a logical date (an Airflow 3 manual trigger without one),
    due at ``run_after``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from harvest_airflow.execution_api import serve_sdk_version_only

    dag = load_demo_dag()
    if prepare is not None:
        prepare(dag)
    serve_sdk_version_only()  # as make demo does (scripts/demo_runs.py)
    if day is None:
        run = dag.test(logical_date=None, run_after=run_after)
    else:
        run = dag.test(logical_date=dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    result = DagRunResult(run)
    with create_session() as session:
        for ti in session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == "harvest_demo", TaskInstance.run_id == run.run_id
            )
        ):
            result.states[ti.task_id] = str(ti.state)
            result.tries[ti.task_id] = ti.try_number
        for task_id in TASKS:
            row = session.scalars(
                XComModel.get_many(
                    run_id=run.run_id, dag_ids="harvest_demo", task_ids=task_id, key="return_value"
                )
            ).first()
            if row is not None:
                result.xcom[task_id] = XComModel.deserialize_value(row)
        rows = session.execute(
            sa.select(AssetModel.uri, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run.run_id)
        ).all()
        for uri, extra in rows:
            result.events.setdefault(uri, []).append(dict(extra))
    return result


def dump(url: str, exclude: dict[str, set[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the warehouse tables, sorted, values as text; ``exclude`` drops columns."""
    exclude = exclude or {}
    engine = sa.create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for name in WAREHOUSE_TABLES:
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                columns = [c for c in table.c if c.name not in exclude.get(name, set())]
                rows = conn.execute(sa.select(*columns)).all()
                out[name] = sorted(tuple(_text(v) for v in row) for row in rows)
    finally:
        engine.dispose()
    return out


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return repr(value)


def count_rows(url: str, table: str, day: dt.date) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return 0
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            query = sa.select(sa.func.count()).where(t.c.logical_date == day)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def fresh_postgres_database(postgres_url: str, prefix: str = "harvest_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(urlparse(postgres_url)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def assert_counts_consistent(xcom: dict[str, Any], warehouse_url: str, day: dt.date) -> None:
    """scraped = valid + quarantined, loaded = valid - duplicates, and the warehouse agrees."""
    validate, clean, load = xcom["validate"], xcom["clean"], xcom["load"]
    assert validate["scraped"] == validate["valid"] + validate["quarantined"]
    assert clean["input_rows"] == validate["valid"]
    assert load["loaded"] == validate["valid"] - clean["duplicates"] == clean["output_rows"]
    assert load["imputed"] == sum(clean["imputed"].values())
    assert count_rows(warehouse_url, "processed_demo", day) == load["loaded"]
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            loads = sa.Table("partition_loads", sa.MetaData(), autoload_with=conn)
            row = conn.execute(sa.select(loads).where(loads.c.logical_date == day)).mappings().one()
            quarantine = sa.Table("quarantine", sa.MetaData(), autoload_with=conn)
            quarantined = conn.execute(
                sa.select(sa.func.count(sa.distinct(quarantine.c.url))).where(
                    quarantine.c.logical_date == day
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert {k: row[k] for k in ("scraped", "valid", "quarantined", "duplicates", "loaded")} == {
        "scraped": validate["scraped"],
        "valid": validate["valid"],
        "quarantined": validate["quarantined"],
        "duplicates": clean["duplicates"],
        "loaded": load["loaded"],
    }
    assert row["imputed"] == load["imputed"]
    assert row["validation_passed"]
    assert quarantined == validate["quarantined"]


# --- the tests -----------------------------------------------------------------------------------

SPEC_BASE = load_spec(REPO / "include" / "harvest" / "sources" / "demo.yaml").base_url
DAY = dt.date(2026, 3, 14)
SITE = SiteConfig(seed=7, listings_per_day=40, page_size=20)
# Re-running a date keeps every row as it was, except this audit column (when the summary was
# recorded); the processed rows keep even their loaded_at (unchanged rows are not rewritten).
RERUN_EXCLUDE = {"partition_loads": {"loaded_at"}, "crawl_monitors": {"checked_at"}}


def expected_urls(base_url: str, config: SiteConfig, day: dt.date) -> set[str]:
    """Every page of one day: its index pages and the detail page of each of its listings.

    ``base_url`` is the spec's (canonical) one: pages are keyed by it whatever port served them.
    """
    index = [f"{base_url}/listings/{day}"] + [
        f"{base_url}/listings/{day}?page={n}" for n in range(2, config.pages_per_day + 1)
    ]
    details = [f"{base_url}/listing/{listing.listing_id}" for listing in day_listings(config, day)]
    return set(index) | set(details)


@pytest.fixture
def demo_site() -> Any:
    with DemoSite(SITE) as site:
        yield site


@pytest.fixture
def harvest_home(harvest_env: Path, monkeypatch: pytest.MonkeyPatch, demo_site: DemoSite) -> Path:
    monkeypatch.setenv("HARVEST_SOURCE_DEMO_BASE_URL", demo_site.base_url)
    return harvest_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(
    request: pytest.FixtureRequest, harvest_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The warehouse the DAG loads into: the embedded SQLite default under HARVEST_HOME, or a
    fresh PostgreSQL database given as the Airflow Connection ``harvest_warehouse``."""
    if request.param == "sqlite":
        yield f"sqlite:///{harvest_home / 'warehouse.db'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url"), "harvest_dagtest") as url:
        monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", url)
        yield url


def test_dag_runs_every_stage_and_a_rerun_changes_nothing(
    airflow_db: str, demo_site: DemoSite, harvest_home: Path, warehouse_url: str
) -> None:
    spec = load_spec(REPO / "include" / "harvest" / "sources" / "demo.yaml")
    with crawl_ahead(spec, DAY) as child:  # as make demo runs it
        result = run_dag(DAY)
    # the scrape task crawled with the child make demo started ahead of it
    assert child is not None and child.taken and child.proc.returncode == 0

    assert result.state == "success", f"run ended {result.state}: {result.states}"
    assert result.states == dict.fromkeys(TASKS, "success")
    assert demo_site.stats()["total"] >= len(expected_urls(SPEC_BASE, SITE, DAY)), "site not hit"

    # scrape: every page of the day, once
    store = FileRawStore(harvest_home / "raw")
    docs = store.read_partition("demo", DAY)
    expected = expected_urls(SPEC_BASE, SITE, DAY)
    assert {doc.url for doc in docs} == expected
    assert all(doc.status == 200 and doc.error is None for doc in docs)
    assert all(doc.logical_date == DAY.isoformat() for doc in docs)
    scrape = result.xcom["scrape"]
    assert scrape["source"] == "demo"
    assert scrape["logical_date"] == DAY.isoformat()
    assert scrape["documents"] == scrape["pages"] == len(docs) == len(expected)
    assert scrape["failed_pages"] == 0
    assert scrape["raw_uri"] == store.uri("demo", DAY)
    # the crawl's Spidermon monitors: in the XCom and in the warehouse, none failed
    monitors = {found["monitor"]: found["status"] for found in scrape["monitors"]}
    assert {"item_count", "field_coverage", "finish_reason"} <= set(monitors)
    assert "failed" not in monitors.values(), scrape["monitors"]
    assert count_rows(warehouse_url, "crawl_monitors", DAY) == len(monitors)

    # validate -> clean -> load: only URIs and counts between tasks, consistent with the warehouse
    validate, clean, load = (result.xcom[t] for t in ("validate", "clean", "load"))
    assert validate["scraped"] == len(day_listings(SITE, DAY))
    assert validate["quarantined"] > 0, "the demo day has malformed records"
    assert clean["validated_uri"] == validate["validated_uri"]
    assert load["cleaned_uri"] == clean["cleaned_uri"]
    assert all(len(json.dumps(v)) < 10_000 for v in result.xcom.values()), "XCom too large"
    assert_counts_consistent(result.xcom, warehouse_url, DAY)
    assert load["warehouse"].split("://")[0].split("+")[0] == warehouse_url.split("://")[0]
    assert load["loaded"] > 0

    assert result.events == {
        "x-harvest://raw/demo": [
            {
                "source": "demo",
                "logical_date": DAY.isoformat(),
                "documents": len(expected),
                "raw_uri": store.uri("demo", DAY),
            }
        ],
        "x-harvest://processed/demo": [
            {"source": "demo", "logical_date": DAY.isoformat(), "rows": load["loaded"]}
        ],
    }
    before = dump(warehouse_url, RERUN_EXCLUDE)
    assert len(before["processed_demo"]) == load["loaded"]

    # Same date again (loaded, its night long past): the scrape task re-processes the stored
    # pages (harvest.scraping.past), nothing is asked of the site, the warehouse ends up identical.
    demo_site.reset_stats()
    # make demo runs its dates in one process: the in-process execution API dag.test() starts
    # (3-5 s of CPU, most of Airflow's overhead) must be started once (Airflow caches it since
    # apache/airflow#65235; an internal, pinned here).
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    started = in_process_api_server.cache_info().misses
    with crawl_ahead(spec, DAY) as child:
        assert child is None, "a crawl child started for a re-run that crawls nothing"
        rerun = run_dag(DAY)
    assert in_process_api_server.cache_info().misses == started, (
        "Airflow started its in-process execution API again for a second dag.test(): each "
        "date of make demo pays its start again"
    )
    assert rerun.state == "success", rerun.states
    assert rerun.xcom["scrape"]["reused"] and rerun.xcom["scrape"]["requests_to_site"] == 0
    assert demo_site.stats()["total"] == 0
    assert store.count("demo", DAY) == len(expected)
    assert rerun.xcom["load"]["loaded"] == load["loaded"]
    assert rerun.xcom["load"]["written"] == 0, "a re-run rewrote unchanged rows"
    assert dump(warehouse_url, RERUN_EXCLUDE) == before


def test_run_without_a_logical_date_processes_the_day_it_runs_after(
    airflow_db: str, demo_site: DemoSite, harvest_home: Path
) -> None:
    """``airflow dags trigger harvest_demo`` in Airflow 3 makes a run with no logical date (no
    ``{{ ds }}``); it processes the partition of its ``run_after`` day (UTC)."""
    day = dt.date(2026, 3, 15)
    result = run_dag(None, run_after=dt.datetime(2026, 3, 15, 21, 45, tzinfo=dt.UTC))

    assert result.run.logical_date is None
    assert result.state == "success", f"run ended {result.state}: {result.states}"
    assert result.states == dict.fromkeys(TASKS, "success")
    assert result.xcom["scrape"]["logical_date"] == day.isoformat()
    store = FileRawStore(harvest_home / "raw")
    assert {doc.url for doc in store.read_partition("demo", day)} == expected_urls(
        SPEC_BASE, SITE, day
    )
    warehouse = f"sqlite:///{harvest_home / 'warehouse.db'}"
    assert_counts_consistent(result.xcom, warehouse, day)
    assert result.xcom["load"]["loaded"] > 0
    assert result.events["x-harvest://processed/demo"] == [
        {"source": "demo", "logical_date": day.isoformat(), "rows": result.xcom["load"]["loaded"]}
    ]


def test_a_partition_above_the_dask_threshold_runs_on_dask(
    airflow_db: str, demo_site: DemoSite, harvest_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same DAG with a threshold below the demo day's records: validation runs on a Dask
    LocalCluster started in the task, the load streams its parts (SQLite: the upsert path)."""
    monkeypatch.setenv("HARVEST_DASK_THRESHOLD_ROWS", "10")
    monkeypatch.setenv("HARVEST_DASK_PART_ROWS", "15")
    day = dt.date(2026, 3, 16)
    result = run_dag(day)

    assert result.state == "success", f"run ended {result.state}: {result.states}"
    validate, load = result.xcom["validate"], result.xcom["load"]
    assert validate["engine"] == "dask"
    assert validate["scraped"] == len(day_listings(SITE, day)) > 15, "a single Dask part"
    assert validate["quarantined"] > 0, "the demo day has malformed records"
    warehouse = f"sqlite:///{harvest_home / 'warehouse.db'}"
    assert_counts_consistent(result.xcom, warehouse, day)
    assert load["loaded"] > 15
    assert not list((harvest_home / "staging" / "_dask").rglob("*.parquet")), "parts left behind"
