"""The Dask path against the pandas path: the same partition through validate -> clean -> load on
PostgreSQL, once below the Dask threshold and once above it (validation on a LocalCluster, the
load streamed part by part through its COPY; parts of 250 records, a natural key repeated
across two parts), compared table by table."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.pipeline import run_partition
from harvest.storage.raw import FileRawStore, RawDocument, content_hash
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


def good(source: str, i: int, pick: random.Random, **changed: str | None) -> RawDocument:
    """One good, distinct listing (page ``i``) with ``changed`` fields."""
    rooms = pick.randint(1, 6)
    place = pick.choice(PLACES)
    words = " ".join(pick.sample(WORDS, 3))
    fields: dict[str, str | None] = {
        "title": f"{words.capitalize()} {rooms}-room flat in {place}, no. {i}",
        "price": f"€{pick.randint(400, 4000)} / month",
        "area": f"{pick.randint(18, 180)} m²",
        "rooms": str(rooms),
        "floor": str(pick.randint(0, 12)),
        "district": place,
        "built_year": str(pick.randint(1890, 2025)),
    }
    return detail(source, i, **{**fields, **changed})


def relisted(doc: RawDocument, i: int) -> RawDocument:
    """``doc`` re-listed on page ``i`` under a new id, its title reworded."""
    fields = dict(doc.fields)
    title = str(fields["title"]).split(", no.")[0]
    fields.update(listing_id=f"L-20261126-{i:04d}", title=f"{title} - available now")
    url = f"http://127.0.0.1:8000/listing/{i:04d}"
    return replace(doc, url=url, content_hash=content_hash(url), fields=fields)


def partitions(source: str) -> tuple[list[RawDocument], list[RawDocument]]:
    """The day before (90 listings, loaded on pandas: the history) and the day: malformed
    records of every kind, 600 good and different ones, a listing id on a page near the end
    that an early page has too (the two land in different Dask parts), listings of the day
    before again (60 the same, 10 with a new price), 25 of them and 25 of the day re-listed
    under new ids, 8 content-identical copies under new ids, and 4 listings without a floor (a
    block field rarely missing: compared with every bucket)."""
    pick = random.Random(23)
    before = [good(source, 3000 + i, pick) for i in range(90)]
    goods = [good(source, 1000 + i, pick) for i in range(600)]
    today = DAY.isoformat()
    day = [*messy_partition(source, n_good=0), *goods]
    day.append(detail(source, 1900, listing_id="L-20261126-1003"))
    day += [replace(doc, logical_date=today) for doc in before[:60]]
    day += [
        replace(doc, logical_date=today, fields={**doc.fields, "price": "€9999"})
        for doc in before[60:70]
    ]
    day += [
        replace(relisted(doc, 4000 + n), logical_date=today)
        for n, doc in enumerate(before[70:90] + before[:5])
    ]
    day += [relisted(doc, 5000 + n) for n, doc in enumerate(goods[:25])]
    day += [
        replace(
            relisted(doc, 6000 + n),
            fields={**doc.fields, "listing_id": f"L-20261126-{6000 + n:04d}"},
        )
        for n, doc in enumerate(goods[100:108])
    ]
    day += [
        good(source, 7000 + n, pick, floor=None, area=None, rooms=None, balcony=None)
        for n in range(4)
    ]
    yesterday = (DAY - dt.timedelta(days=1)).isoformat()
    return [replace(doc, logical_date=yesterday) for doc in before], day


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


def samples(home: Path) -> dict[str, list[Any]]:
    """The failing values (``partial_unexpected_list``) per check of the day's GX validation
    result that Data Docs were rendered from (the one stored file of ``DAY``)."""
    stored = [p for p in home.rglob("gx_validation_results/**/*.json") if DAY.isoformat() in str(p)]
    assert len(stored) == 1, stored
    found = {}
    for result in json.loads(stored[0].read_text())["results"]:
        meta = result["expectation_config"]["meta"]
        found[f"{meta.get('field')}:{meta['check']}"] = result["result"].get(
            "partial_unexpected_list", []
        )
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
    before, day = partitions(spec.name)
    FileRawStore(settings.home / "raw").upsert_many(before + day)
    run_partition(spec, DAY - dt.timedelta(days=1), settings, scrape=False)
    return run_partition(spec, DAY, settings, scrape=False)


def whole_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Spies: the partitions read whole from the raw store (``raw``: (source, date)) and the
    warehouse (``history``: (source, the day it is history for)), and the rows of each part of
    records extracted part by part (``parts``)."""
    from harvest.records import RecordExtraction
    from harvest.storage.warehouse.core import Warehouse

    held: dict[str, list[Any]] = {"raw": [], "history": [], "parts": []}
    read_partition, read_history = FileRawStore.read_partition, Warehouse.read_history
    take = RecordExtraction.take

    def whole_raw(self: FileRawStore, source: str, day: dt.date) -> Any:
        held["raw"].append((source, day))
        return read_partition(self, source, day)

    def whole_history(self: Warehouse, source: str, since: dt.date, until: dt.date, *a: Any) -> Any:
        held["history"].append((source, until + dt.timedelta(days=1)))
        return read_history(self, source, since, until, *a)

    def part(self: RecordExtraction, rows: int | None = None) -> Any:
        frame = take(self, rows)
        if self.shared is not None:  # extracting part by part (not extract_records)
            held["parts"].append(len(frame))
        return frame

    monkeypatch.setattr(FileRawStore, "read_partition", whole_raw)
    monkeypatch.setattr(Warehouse, "read_history", whole_history)
    monkeypatch.setattr(RecordExtraction, "take", part)
    return held


@pytest.mark.postgres
def test_a_partition_above_the_threshold_gives_the_same_tables_on_dask(
    tmp_path: Path,
    warehouse_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    suffix = uuid.uuid4().hex[:6]
    on_pandas = demo.model_copy(update={"name": f"pandas_{suffix}"})
    on_dask = demo.model_copy(update={"name": f"dasked_{suffix}"})

    want = run(on_pandas, tmp_path / "pandas", warehouse_url, threshold=0)
    held = whole_reads(monkeypatch)
    with caplog.at_level(logging.INFO):
        got = run(on_dask, tmp_path / "dask", warehouse_url, threshold=100)
    # never the whole partition in one process: the raw records and the history in parts
    assert (on_dask.name, DAY) not in held["raw"], "the raw partition was read whole"
    assert (on_dask.name, DAY) not in held["history"], "the history was read whole"
    assert len(held["parts"]) >= 3 and max(held["parts"]) <= 250, held["parts"]
    assert sum(held["parts"]) == got["validate"]["scraped"]
    streamed = [r.message for r in caplog.records if "read in parts of 250" in r.message]
    assert any("/cleaned/" in message for message in streamed), "the load did not stream"
    assert any(f"clean source={on_dask.name} on Dask" in r.message for r in caplog.records)

    assert want["validate"]["engine"] == "pandas" and got["validate"]["engine"] == "dask"
    assert want["clean"]["engine"] == "pandas" and got["clean"]["engine"] == "dask"
    for stage in ("validate", "clean", "load"):
        same = {k: v for k, v in got[stage].items() if not k.endswith((*VOLATILE, "engine"))}
        expected = {k: v for k, v in want[stage].items() if k in same}
        assert same == {**expected, "source": on_dask.name}, stage
    assert got["validate"]["quarantined_by_reason"]["listing_id:unique"] == 2
    cleaned = want["clean"]  # every rule of de-duplication and imputation had work to do
    assert cleaned["exact_duplicates_history"] == 60 and cleaned["updated"] == 10
    assert cleaned["near_duplicates_history"] > 0 and cleaned["near_duplicates_batch"] > 0
    assert cleaned["reported"] > 0 and cleaned["imputed"]
    want_tables = tables(warehouse_url, on_pandas.name, on_dask.name)
    got_tables = tables(warehouse_url, on_dask.name, on_pandas.name)
    assert len(want_tables["processed_<source>"]) > 500, "the pandas path loaded too little"
    assert want_tables["quarantine"] and want_tables["validation_results"]
    assert set(got_tables) == set(want_tables)
    for name, rows in want_tables.items():
        assert got_tables[name] == rows, name
    # Data Docs: each expectation's failing values, the partition's first ones on both paths
    want_samples, got_samples = samples(tmp_path / "pandas"), samples(tmp_path / "dask")
    assert got_samples == want_samples
    assert len(want_samples["listing_id:unique"]) == 2, want_samples
    assert any(len(values) > 1 for values in want_samples.values())
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
