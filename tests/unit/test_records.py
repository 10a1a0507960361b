"""Extracting records from raw pages and parsing them into typed columns, with issues kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.records import extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.storage.staging import StagedDataset, read_frame, stage_uri, write_frame

SPEC = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")


def _doc(
    url: str, page_type: str = "detail", error: str | None = None, **fields: str | None
) -> RawDocument:
    return RawDocument(
        source="demo",
        logical_date="2026-11-26",
        url=url,
        status=200,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type=page_type,
        fields=fields,
        error=error,
    )


GOOD = {
    "listing_id": "L-20261126-0001",
    "title": " Sunny  flat ",
    "price": "€1.250 / month",
    "area": "581 sq ft",
    "rooms": "2",
    "city": "Berlin",
    "balcony": "yes",
    "available_from": "12.03.2026",
}


def test_extract_keeps_detail_pages_only() -> None:
    docs = [
        _doc("u/index", page_type="index"),
        _doc("u/1", **GOOD),
        _doc("u/failed", error="HTTP 503 after 3 retries"),
    ]
    frame = extract_records(docs, SPEC)
    assert list(frame["url"]) == ["u/1"]
    assert frame.loc[0, "price"] == "€1.250 / month"
    assert frame.loc[0, "floor"] is pd.NA


def test_parse_types_and_issues() -> None:
    bad = {**GOOD, "listing_id": "L-20261126-0002", "price": "Price on request", "rooms": "two"}
    missing = {k: v for k, v in GOOD.items() if k != "city"}
    frame = extract_records([_doc("u/1", **GOOD), _doc("u/2", **bad), _doc("u/3", **missing)], SPEC)
    parsed = parse_records(frame, SPEC)
    typed = parsed.frame.set_index("url")
    assert typed.loc["u/1", "price"] == 1250.0
    assert typed.loc["u/1", "price_currency"] == "EUR"
    assert typed.loc["u/1", "area"] == pytest.approx(53.98, abs=0.01)
    assert typed.loc["u/1", "rooms"] == 2
    assert typed.loc["u/1", "title"] == "Sunny flat"
    assert typed.loc["u/1", "balcony"]
    assert typed.loc["u/1", "available_from"] == dt.date(2026, 3, 12)
    assert pd.isna(typed.loc["u/2", "price"])
    issues = {(r.url, r.field, r.check) for r in parsed.issues.itertuples()}
    assert issues == {("u/2", "price", "parse:price"), ("u/3", "city", "required")}
    assert pd.isna(typed.loc["u/2", "rooms"])  # optional: on_error null, counted per field
    assert parsed.nulled["rooms"].count == 1 and parsed.nulled["rooms"].example == "two"
    reason = parsed.issues.set_index("field").loc["price", "reason"]
    assert "Price on request" in reason
    assert parsed.bad_urls == {"u/2", "u/3"}


def test_staging_round_trip(tmp_path: Path) -> None:
    uri = stage_uri(f"file://{tmp_path}", StagedDataset.VALIDATED, "demo", dt.date(2026, 11, 26))
    frame = pd.DataFrame({"a": [1, 2]})
    assert write_frame(frame, uri) == uri
    write_frame(frame, uri)
    pd.testing.assert_frame_equal(read_frame(uri), frame)
    assert len(list((tmp_path / StagedDataset.VALIDATED / "demo").iterdir())) == 1
    with pytest.raises(FileNotFoundError, match="does not exist: run the task"):
        read_frame(uri.replace("2026-11-26", "2026-11-25"))
