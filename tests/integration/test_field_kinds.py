"""A field kind added with one ``register`` call becomes a warehouse column on PostgreSQL and
SQLite, of the SQL type it declares, cleaned and loaded like any other (the unit tests in
``tests/unit/test_fields.py`` follow it through parsing, normalisation, dedup and features)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from harvest.cleaning.stage import clean_frame, history_columns
from harvest.config.spec import load_spec
from harvest.fields import FieldKind
from harvest.records import extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.storage.warehouse import Warehouse
from tests.unit.test_fields import DAY, parsed_parcels, weight, write_spec

__all__ = ["weight"]  # the fixture, registering the kind for each test


def test_a_new_kind_is_a_column_on_both_warehouses(
    weight: FieldKind, warehouse: Warehouse, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(tmp_path))
    parsed = parsed_parcels(spec)
    result = clean_frame(parsed.frame[~parsed.frame["url"].isin(parsed.bad_urls)], spec)
    cleaned, duplicates = result.cleaned, result.duplicates
    assert duplicates["record_key"].tolist() == ["P1"]

    assert "processed_parcels" in warehouse.migrate([spec]).created_tables
    in_db = {
        c["name"]: c["type"] for c in sa.inspect(warehouse.engine).get_columns("processed_parcels")
    }
    assert isinstance(in_db["weight"], sa.Float)  # FLOAT on SQLite, double precision on PG
    assert isinstance(in_db["weight_unit"], sa.Text | sa.String)
    assert warehouse.load_partition(spec, DAY, cleaned).rows == len(cleaned)
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT record_key, weight, weight_unit FROM processed_parcels "
                "WHERE record_key IN ('P0', 'P1', 'P2') ORDER BY record_key"
            )
        )
        assert [tuple(r) for r in rows] == [("P0", 2.5, "KG"), ("P2", 3.5, "KG")]
    assert warehouse.migrate([spec]).changed is False  # the declared type reads back the same


def test_a_many_field_reads_back_as_parsed_and_history_dedup_sees_it(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A ``many: true`` field (the ``json`` kind, JSONB on PostgreSQL) comes back from history as
    the JSON text parsing gives, so the same record re-listed the next day under another key is
    matched to history as content-identical (it came back as a Python repr, ``"['a']"``, and was missed)."""
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "base_url: http://example.test\nstart_urls: ['{base_url}/{date}']\n"
        "index: {detail_links: a}\ndetail:\n  key: id\n  fields:\n"
        "    id: {css: '#id', required: true}\n    title: {css: h1}\n"
        "    tags: {css: .tag, many: true}\n",
        encoding="utf-8",
    )
    spec = load_spec(path)

    def parsed(day: dt.date, key: str) -> pd.DataFrame:
        doc = RawDocument(
            source="jobs",
            logical_date=day.isoformat(),
            url=f"http://example.test/{key}",
            status=200,
            fetched_at="2026-03-15T02:00:00+00:00",
            page_type="detail",
            fields={"id": key, "title": "Welder", "tags": '["Zürich", "night"]'},
        )
        return parse_records(extract_records([doc], spec), spec).frame

    first, second = DAY, DAY + dt.timedelta(days=1)
    warehouse.migrate([spec])
    cleaned = clean_frame(parsed(first, "A"), spec).cleaned
    warehouse.load_partition(spec, first, cleaned)
    history = warehouse.read_history("jobs", first, first, history_columns(spec))
    assert (
        history["tags"].tolist() == ['["Zürich", "night"]'] == parsed(second, "B")["tags"].tolist()
    )
    again = clean_frame(parsed(second, "B"), spec, history)
    # keys decide (issue 19): another key with identical content is kept and reported as
    # matching history, not dropped, unless the spec says dedup.content_duplicates: drop
    assert again.counts["reported"] == 1 and again.duplicates.empty
    matched = again.kept_matches[["record_key", "is_duplicate_of", "scope", "rule"]]
    assert matched.values.tolist() == [["B", "A", "history", "content"]]
