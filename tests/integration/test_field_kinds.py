"""A field kind added with one ``register`` call becomes a warehouse column on PostgreSQL and
SQLite, of the SQL type it declares, cleaned and loaded like any other (the unit tests in
``tests/unit/test_fields.py`` follow it through parsing, normalisation, dedup and features)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from harvest.cleaning.clean import clean_frame
from harvest.config.spec import load_spec
from harvest.fields import FieldKind
from harvest.storage.warehouse import Warehouse
from tests.unit.test_fields import DAY, parsed_parcels, weight, write_spec

__all__ = ["weight"]  # the fixture, registering the kind for each test


def test_a_new_kind_is_a_column_on_both_warehouses(
    weight: FieldKind, warehouse: Warehouse, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(tmp_path))
    parsed = parsed_parcels(spec)
    cleaned, duplicates, _ = clean_frame(
        parsed.frame[~parsed.frame["url"].isin(parsed.bad_urls)], spec
    )
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
