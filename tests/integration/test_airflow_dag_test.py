"""harvest_demo through Airflow's ``dag.test()``: a real metadata DB (SQLite in a temporary
AIRFLOW_HOME), the demo site on a random port, the crawl in its child process, the file raw store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from harvest.config import load_spec
from harvest.demo_site.generator import SiteConfig, day_listings
from harvest.demo_site.server import DemoSite
from harvest.storage.raw import FileRawStore

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
SPEC_BASE = load_spec(REPO / "include" / "harvest" / "sources" / "demo.yaml").base_url
DAY = dt.date(2026, 3, 14)
SITE = SiteConfig(seed=7, listings_per_day=40, page_size=20)


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
def harvest_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_site: DemoSite) -> Path:
    home = tmp_path / "harvest"
    monkeypatch.setenv("HARVEST_HOME", str(home))
    monkeypatch.setenv("HARVEST_SOURCE_DEMO_BASE_URL", demo_site.base_url)
    for name in ("HARVEST_RAW_STORE_URL", "HARVEST_CACHE_URL", "HARVEST_SOURCES_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


def _run(day: dt.date) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """dag.test() of harvest_demo: (dag run, scrape's XCom result, its asset events' extras)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(str(REPO / "dags" / "harvest_sources.py"))
    assert bag.import_errors == {}
    dag = bag.dags["harvest_demo"]
    run = dag.test(logical_date=dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, dag_ids="harvest_demo", task_ids="scrape", key="return_value"
            )
        ).first()
        result = XComModel.deserialize_value(row) if row is not None else {}
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)
        ).all()
        extras = [dict(event.extra) for event in events]
    return run, result, extras


def test_dag_test_crawls_every_page_of_the_day_once(
    airflow_db: str, demo_site: DemoSite, harvest_home: Path
) -> None:
    run, result, events = _run(DAY)

    assert str(run.state) == "success", f"run ended {run.state}"
    assert demo_site.stats()["total"] >= len(expected_urls(SPEC_BASE, SITE, DAY)), "site not hit"
    store = FileRawStore(harvest_home / "raw")
    docs = store.read_partition("demo", DAY)
    expected = expected_urls(SPEC_BASE, SITE, DAY)
    assert {doc.url for doc in docs} == expected
    assert all(doc.status == 200 and doc.error is None for doc in docs)
    assert all(doc.logical_date == DAY.isoformat() for doc in docs)

    assert result["source"] == "demo"
    assert result["logical_date"] == DAY.isoformat()
    assert result["documents"] == len(docs) == len(expected)
    assert result["pages"] == len(expected)
    assert result["failed_pages"] == 0
    assert result["raw_uri"] == store.uri("demo", DAY)
    assert events == [
        {
            "source": "demo",
            "logical_date": DAY.isoformat(),
            "documents": len(expected),
            "raw_uri": store.uri("demo", DAY),
        }
    ]

    # Same date again: upserts by URL, so the partition keeps the same documents.
    rerun, again, _ = _run(DAY)
    assert str(rerun.state) == "success"
    assert store.count("demo", DAY) == len(expected)
    assert again["documents"] == len(expected)
