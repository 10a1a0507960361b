"""validate_partition end to end: a real file raw store, a real warehouse (SQLite, PostgreSQL),
staging Parquet and Data Docs on disk."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.storage.raw import FileRawStore, RawDocument, content_hash
from harvest.storage.staging import StagedDataset, read_frame
from harvest.storage.warehouse import (
    QUARANTINE,
    VALIDATION_RESULTS,
    Warehouse,
    open_warehouse,
    processed_table_name,
)
from harvest.validation import ValidationFailed
from harvest.validation.run import validate_partition

DAY = dt.date(2026, 11, 26)
GOOD = {
    "title": "Bright 2-room flat in Mitte",
    "price": "€1.250 / month",
    "area": "54 m²",
    "rooms": "2",
    "floor": "3",
    "city": "Berlin",
    "district": "Mitte",
    "balcony": "yes",
    "built_year": "1990",
    "available_from": "2026-12-01",
}
# one bad record per kind of malformed value: (field values, field, check)
MALFORMED: list[tuple[dict[str, str | None], str, str]] = [
    ({"price": "Price on request"}, "price", "parse:price"),
    ({"price": "€250.000 / month"}, "price", "range"),
    ({"area": "1 m²"}, "area", "range"),
    ({"area": "54 acres"}, "area", "parse:area"),
    ({"rooms": "many"}, "rooms", "parse:int"),
    ({"built_year": "1066"}, "built_year", "range"),
    ({"city": "Atlantis"}, "city", "values"),
    ({"listing_id": "L-2026-1"}, "listing_id", "regex"),
    ({"title": None}, "title", "required"),
    ({"available_from": "someday"}, "available_from", "parse:date"),
]
# Optional fields that do not parse are set to null and counted as a warning (on_error: null,
# the default for an optional field); only these checks quarantine nothing.
NULLED = {("area", "parse:area"), ("rooms", "parse:int"), ("available_from", "parse:date")}
QUARANTINED = [m for m in MALFORMED if (m[1], m[2]) not in NULLED]


def detail(source: str, i: int, **fields: str | None) -> RawDocument:
    values: dict[str, str | None] = {"listing_id": f"L-20261126-{i:04d}", **GOOD}
    values.update(fields)
    url = f"http://127.0.0.1:8000/listing/{i:04d}"
    return RawDocument(
        source=source,
        logical_date=DAY.isoformat(),
        url=url,
        status=200,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type="detail",
        content_hash=content_hash(url),
        fields=values,
    )


def index_page(source: str) -> RawDocument:
    return RawDocument(
        source=source,
        logical_date=DAY.isoformat(),
        url="http://127.0.0.1:8000/listings/2026-11-26",
        status=200,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type="index",
    )


def messy_partition(source: str, n_good: int = 40) -> list[RawDocument]:
    docs = [index_page(source)] + [detail(source, i) for i in range(n_good)]
    for j, (fields, _, _) in enumerate(MALFORMED):
        docs.append(detail(source, 100 + j, **fields))
    # the same listing id on two pages: both are quarantined
    docs.append(detail(source, 200, listing_id="L-20261126-0007"))
    return docs


@pytest.fixture
def spec() -> SourceSpec:
    demo = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    return demo.model_copy(update={"name": f"valtest_{uuid.uuid4().hex[:8]}"})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})


def _sqlite(settings: Settings, spec: SourceSpec) -> Iterator[Warehouse]:
    warehouse = open_warehouse(settings, spec)
    yield warehouse
    warehouse.close()


def _postgres(url: str, spec: SourceSpec) -> Iterator[Warehouse]:
    warehouse = open_warehouse(url)
    warehouse.migrate([spec])
    yield warehouse
    with warehouse.engine.begin() as conn:
        for table in (QUARANTINE, VALIDATION_RESULTS):
            conn.execute(sa.delete(table).where(table.c.source == spec.name))
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{processed_table_name(spec.name)}"'))
    warehouse.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(
    request: pytest.FixtureRequest, settings: Settings, spec: SourceSpec
) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        yield from _sqlite(settings, spec)
    else:
        yield from _postgres(request.getfixturevalue("postgres_url"), spec)


def stored(warehouse: Warehouse, table: sa.Table, source: str) -> pd.DataFrame:
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.source == source)).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows])
    keys = ["url", "field", "check"] if table is QUARANTINE else ["expectation", "column"]
    return frame.sort_values(keys).reset_index(drop=True) if len(frame) else frame


def run(spec: SourceSpec, settings: Settings, warehouse: Warehouse, **kwargs: Any) -> Any:
    return validate_partition(
        spec,
        DAY,
        settings,
        raw_store=FileRawStore(settings.home / "raw"),
        warehouse=warehouse,
        **kwargs,
    )


def test_malformed_values_of_every_kind_end_in_quarantine_with_a_reason(
    spec: SourceSpec, settings: Settings, warehouse: Warehouse
) -> None:
    FileRawStore(settings.home / "raw").upsert_many(messy_partition(spec.name))
    report = run(spec, settings, warehouse)

    quarantine = stored(warehouse, QUARANTINE, spec.name)
    assert (quarantine["stage"] == "validate").all()
    assert quarantine["reason"].notna().all() and (quarantine["reason"] != "").all()
    found = set(zip(quarantine["field"], quarantine["check"], strict=True))
    for _, field, check in QUARANTINED:
        assert (field, check) in found, f"{field}:{check} not quarantined"
    for field, check in NULLED:
        assert (field, check) not in found, f"{field}:{check} quarantined, not set to null"
        assert any(
            w.startswith(f"field '{field}': 1 values did not parse") for w in report.warnings
        )
    dup_urls = set(quarantine.loc[quarantine["check"] == "unique", "url"])
    assert dup_urls == {
        "http://127.0.0.1:8000/listing/0007",
        "http://127.0.0.1:8000/listing/0200",
    }
    assert quarantine["severity"].isin(["critical", "warning"]).all()

    scraped = 40 + len(MALFORMED) + 1
    assert report.scraped == scraped
    assert report.quarantined == len(QUARANTINED) + 2
    assert report.valid == scraped - report.quarantined
    valid = read_frame(report.validated_uri)
    assert len(valid) == report.valid
    assert not set(valid["url"]) & set(quarantine["url"])
    # nothing dropped silently: every scraped record is either valid or quarantined
    assert len(set(valid["url"]) | set(quarantine["url"])) == scraped

    results = stored(warehouse, VALIDATION_RESULTS, spec.name)
    price_range = results[
        (results["expectation"] == "expect_column_values_to_be_between")
        & (results["column"] == "price_eur")  # the demo's range check is on the converted price
    ].iloc[0]
    assert not price_range["success"]
    assert price_range["unexpected_count"] == 1
    assert 0 < price_range["pass_rate"] < 1
    assert report.data_docs_path and Path(report.data_docs_path).is_file()
    assert (settings.home / "data_docs" / "index.html").is_file()
    assert report.to_dict()["quarantined_by_reason"]["listing_id:unique"] == 2


def test_layout_drift_fails_clearly_and_keeps_the_raw_pages(
    spec: SourceSpec, settings: Settings, warehouse: Warehouse
) -> None:
    raw = FileRawStore(settings.home / "raw")
    empty = dict.fromkeys(spec.detail.fields)
    docs = [index_page(spec.name)] + [detail(spec.name, i, **empty) for i in range(30)]
    raw.upsert_many(docs)

    with pytest.raises(ValidationFailed) as caught:
        run(spec, settings, warehouse, data_docs=False)

    message = str(caught.value)
    assert f"source={spec.name} date=2026-11-26" in message
    assert "expect_column_values_to_not_be_null on column 'price'" in message
    assert "observed null rate 1.000 (30 of 30 records)" in message
    assert "threshold null rate at most 0.5" in message
    assert "layout probably changed" in message
    assert "expect_quarantine_rate_to_be_at_most" in message
    assert raw.uri(spec.name, DAY) in message
    # the evidence stays: raw pages untouched, quarantine and results stored
    assert raw.count(spec.name, DAY) == 31
    quarantine = stored(warehouse, QUARANTINE, spec.name)
    assert quarantine["url"].nunique() == 30
    assert set(quarantine["check"]) == {"required"}
    results = stored(warehouse, VALIDATION_RESULTS, spec.name)
    assert not results["success"].all()
    # no validated file for a failed partition
    assert not (settings.home / "staging" / StagedDataset.VALIDATED / spec.name).exists()


def test_a_rerun_of_the_same_date_stores_identical_quarantine_and_results(
    spec: SourceSpec, settings: Settings, warehouse: Warehouse
) -> None:
    FileRawStore(settings.home / "raw").upsert_many(messy_partition(spec.name))
    first = run(spec, settings, warehouse)
    q1 = stored(warehouse, QUARANTINE, spec.name)
    r1 = stored(warehouse, VALIDATION_RESULTS, spec.name)
    second = run(spec, settings, warehouse)
    q2 = stored(warehouse, QUARANTINE, spec.name)
    r2 = stored(warehouse, VALIDATION_RESULTS, spec.name)

    pd.testing.assert_frame_equal(q1, q2)
    pd.testing.assert_frame_equal(r1, r2)
    assert not q2.duplicated(["url", "field", "check", "stage"]).any()
    assert not r2.duplicated(["expectation", "column"]).any()
    assert first.to_dict() == second.to_dict()
    pages = list((settings.home / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1  # the partition's Data Docs page is replaced, not duplicated


def test_validate_partition_opens_the_stores_from_settings(
    spec: SourceSpec, settings: Settings
) -> None:
    FileRawStore(settings.home / "raw").upsert_many(messy_partition(spec.name))
    report = validate_partition(spec, DAY, settings, data_docs=False)
    assert report.success and report.quarantined == len(QUARANTINED) + 2
    warehouse = open_warehouse(settings, spec)
    try:
        assert len(stored(warehouse, QUARANTINE, spec.name)) >= report.quarantined
    finally:
        warehouse.close()
