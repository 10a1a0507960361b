"""The Dask path against the pandas path: the same partition through validate -> clean -> load on
PostgreSQL, once below the Dask threshold and once above it (validation on a LocalCluster, the
load streamed part by part through its COPY; parts of 250 records, a natural key repeated
across two parts), compared table by table."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.pipeline import run_partition
from harvest.storage.raw import FileRawStore, RawDocument
from tests.integration.test_validation_partition import DAY, detail, messy_partition

VOLATILE = ("_at", "seconds", "uri", "data_docs_path")  # when and where, not what


@pytest.fixture
def warehouse_url(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped at its end."""
    name = f"harvest_dask_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.make_url(postgres_url).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


WORDS = [
    "bright",
    "quiet",
    "sunny",
    "cosy",
    "modern",
    "spacious",
    "renovated",
    "charming",
    "airy",
    "classic",
]
PLACES = ["Mitte", "Pankow", "Neukoelln", "Wedding", "Moabit", "Treptow", "Lichtenberg", "Spandau"]


def partition(source: str) -> list[RawDocument]:
    """Malformed records of every kind, 600 good and different ones, and a listing id on a page
    near the end that an early page has too (the two land in different Dask parts)."""
    docs = messy_partition(source, n_good=0)
    pick = random.Random(23)
    for i in range(600):
        rooms = pick.randint(1, 6)
        place = pick.choice(PLACES)
        words = " ".join(pick.sample(WORDS, 3))
        fields = {
            "title": f"{words.capitalize()} {rooms}-room flat in {place}, no. {i}",
            "price": f"€{pick.randint(400, 4000)} / month",
            "area": f"{pick.randint(18, 180)} m²",
            "rooms": str(rooms),
            "floor": str(pick.randint(0, 12)),
            "district": place,
            "built_year": str(pick.randint(1890, 2025)),
        }
        docs.append(detail(source, 1000 + i, **fields))
    docs.append(detail(source, 1900, listing_id="L-20261126-1003"))
    return docs


def tables(url: str, source: str, other: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows of ``source`` (not the tables of source ``other``), without the source,
    the columns that say when or where and the table name's source suffix; sorted."""
    engine = sa.create_engine(url)
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for name, table in sorted(metadata.tables.items()):
                if "source" not in table.c or ("_" in name and name.endswith(other)):
                    continue
                columns = [
                    c for c in table.c if c.name != "source" and not c.name.endswith(VOLATILE)
                ]
                rows = conn.execute(sa.select(*columns).where(table.c.source == source))
                found[name.replace(source, "<source>")] = sorted(map(tuple, rows), key=repr)
    finally:
        engine.dispose()
    return found


def run(spec: SourceSpec, home: Path, url: str, threshold: int) -> dict[str, Any]:
    settings = Settings.from_env(
        {
            "HARVEST_HOME": str(home),
            "HARVEST_WAREHOUSE_URL": url,
            "HARVEST_DASK_THRESHOLD_ROWS": str(threshold),
            "HARVEST_DASK_PART_ROWS": "250",
            "HARVEST_STATSD_ON": "false",
        }
    )
    FileRawStore(settings.home / "raw").upsert_many(partition(spec.name))
    return run_partition(spec, DAY, settings, scrape=False)


@pytest.mark.postgres
def test_a_partition_above_the_threshold_gives_the_same_tables_on_dask(
    tmp_path: Path, warehouse_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    demo = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    suffix = uuid.uuid4().hex[:6]
    on_pandas = demo.model_copy(update={"name": f"pandas_{suffix}"})
    on_dask = demo.model_copy(update={"name": f"dasked_{suffix}"})

    want = run(on_pandas, tmp_path / "pandas", warehouse_url, threshold=0)
    with caplog.at_level(logging.INFO, logger="harvest.storage.staging"):
        got = run(on_dask, tmp_path / "dask", warehouse_url, threshold=100)
    streamed = [r.message for r in caplog.records if "read in parts of 250" in r.message]
    assert any("/cleaned/" in message for message in streamed), "the load did not stream"

    assert want["validate"]["engine"] == "pandas" and got["validate"]["engine"] == "dask"
    for stage in ("validate", "clean", "load"):
        same = {k: v for k, v in got[stage].items() if not k.endswith((*VOLATILE, "engine"))}
        expected = {k: v for k, v in want[stage].items() if k in same}
        assert same == {**expected, "source": on_dask.name}, stage
    assert got["validate"]["quarantined_by_reason"]["listing_id:unique"] == 2
    want_tables = tables(warehouse_url, on_pandas.name, on_dask.name)
    got_tables = tables(warehouse_url, on_dask.name, on_pandas.name)
    assert len(want_tables["processed_<source>"]) > 500, "the pandas path loaded too little"
    assert want_tables["quarantine"] and want_tables["validation_results"]
    assert set(got_tables) == set(want_tables)
    for name, rows in want_tables.items():
        assert got_tables[name] == rows, name
    # nothing of the Dask run's work folders is left behind
    assert not any((tmp_path / "dask").rglob("_dask/*/*"))


def test_the_threshold_and_the_cluster_come_from_the_settings() -> None:
    from harvest.storage.dask_frames import engages

    settings = Settings.from_env({"HARVEST_DASK_THRESHOLD_ROWS": "1000"})
    assert settings.dask_scheduler is None
    assert not engages(1000, settings) and engages(1001, settings)
    assert not engages(10**9, Settings.from_env({"HARVEST_DASK_THRESHOLD_ROWS": "0"}))
    with pytest.raises(ValueError, match="HARVEST_DASK_THRESHOLD_ROWS"):
        Settings.from_env({"HARVEST_DASK_THRESHOLD_ROWS": "many"})
    remote = Settings.from_env({"HARVEST_DASK_SCHEDULER": "tcp://dask-scheduler:8786"})
    assert remote.dask_scheduler == "tcp://dask-scheduler:8786"
