"""Field kinds: every built-in kind resolves its types, and a new kind is one registry entry that
flows from the spec through record parsing to the warehouse column with no other edit."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from harvest.config.spec import FieldSpec, SpecError, load_spec
from harvest.fields import (
    ExtraColumn,
    FieldKind,
    UnknownFieldKind,
    field_kind,
    kind_names,
    register,
    unregister,
)
from harvest.parsers import Unparseable
from harvest.records import extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.storage.warehouse import open_warehouse, processed_columns, processed_table
from harvest.storage.warehouse.schema import sql_type

DAY = dt.date(2026, 3, 14)
BUILT_IN = {"text", "number", "int", "float", "price", "area", "bool", "date"}


def test_every_built_in_kind_has_its_types() -> None:
    assert kind_names() >= BUILT_IN
    for name in BUILT_IN:
        kind = field_kind(name)
        assert isinstance(kind.arrow_type(), pa.DataType)
        assert isinstance(sql_type(name), sa.types.TypeEngine)
        assert pd.api.types.pandas_dtype(kind.pandas_dtype) is not None
        assert kind.gx_types
    assert field_kind("price").columns("rent") == {"rent": "price", "rent_currency": "text"}
    assert field_kind("area").columns("area") == {"area": "area"}
    assert field_kind("int").numeric and not field_kind("int").decimal
    assert field_kind("area").decimal and not field_kind("text").numeric


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownFieldKind, match=r"unknown parser 'weight'; known parsers: area, bool"
    ):
        field_kind("weight")
    with pytest.raises(ValueError, match="'text' is already registered"):
        register(field_kind("text"))
    with pytest.raises(UnknownFieldKind, match="'nothing'"):
        register(
            FieldKind(
                "odd",
                str,
                "string",
                "string",
                "Text",
                ("str",),
                extra_columns=(ExtraColumn("x", "nothing", str),),
            )
        )
    assert "odd" not in kind_names()


# --- a throwaway kind, registered here only -------------------------------------------------

_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kg|g)\s*$", re.IGNORECASE)


def parse_weight(text: str | None) -> tuple[float, str] | Unparseable:
    """``2.5 kg`` or ``500 g`` -> (kilograms, the unit written)."""
    match = _WEIGHT.match(text or "")
    if not match:
        return Unparseable(f"not a weight: {text!r}")
    amount, unit = float(match.group(1)), match.group(2).lower()
    return (amount / 1000 if unit == "g" else amount), unit


@pytest.fixture
def weight() -> Iterator[FieldKind]:
    kind = register(
        FieldKind(
            "weight",
            parse_weight,
            pandas_dtype="Float64",
            arrow_type_name="double",
            sql_type_name="Float",  # not what any built-in kind uses, so the test can tell
            gx_types=("float64", "Float64", "Float64Dtype"),
            value=lambda parsed: parsed[0],
            extra_columns=(ExtraColumn("unit", "text", lambda parsed: parsed[1]),),
        )
    )
    try:
        yield kind
    finally:
        unregister("weight")


def write_spec(tmp_path: Path) -> Path:
    path = tmp_path / "parcels.yaml"
    path.write_text(
        "base_url: http://example.test\n"
        "start_urls: ['{base_url}/{date}']\n"
        "index: {detail_links: a}\n"
        "detail:\n"
        "  key: parcel_id\n"
        "  fields:\n"
        "    parcel_id: {css: '#id', required: true}\n"
        "    weight: {css: '.weight', parser: weight, on_error: quarantine}\n",
        encoding="utf-8",
    )
    return path


def test_a_new_kind_flows_from_spec_to_warehouse_column(weight: FieldKind, tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))  # the spec accepts the registered parser name
    assert spec.detail.fields["weight"].parser == "weight"

    docs = [
        RawDocument(
            source="parcels",
            logical_date=DAY.isoformat(),
            url=f"http://example.test/p/{i}",
            status=200,
            fetched_at="2026-03-15T02:00:00+00:00",
            page_type="detail",
            fields={"parcel_id": f"P{i}", "weight": text},
        )
        for i, text in enumerate(["2.5 kg", "500 g", "heavy"])
    ]
    parsed = parse_records(extract_records(docs, spec), spec)
    frame = parsed.frame
    assert str(frame["weight"].dtype) == "Float64"
    assert frame["weight"].tolist()[:2] == [2.5, 0.5] and frame["weight"].isna().iloc[2]
    assert frame["weight_unit"].tolist()[:2] == ["kg", "g"]
    assert parsed.issues[["url", "field", "check"]].values.tolist() == [
        ["http://example.test/p/2", "weight", "parse:weight"]
    ]

    assert processed_columns(spec)["weight"] == "weight"
    assert processed_columns(spec)["weight_unit"] == "text"
    assert isinstance(processed_table(spec).c.weight.type, sa.Float)

    good = frame[~frame["url"].isin(parsed.bad_urls)]
    with open_warehouse(f"sqlite:///{tmp_path / 'w.db'}") as warehouse:
        assert warehouse.migrate([spec]).created_tables[-1] == "processed_parcels"
        columns = {
            c["name"]: c["type"]
            for c in sa.inspect(warehouse.engine).get_columns("processed_parcels")
        }
        assert str(columns["weight"]) == "FLOAT" and str(columns["weight_unit"]) == "TEXT"
        assert warehouse.load_partition(spec, DAY, good).rows == 2
        with warehouse.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT record_key, weight, weight_unit FROM processed_parcels ORDER BY record_key"
                )
            )
            assert [tuple(r) for r in rows] == [("P0", 2.5, "kg"), ("P1", 0.5, "g")]


def test_without_the_kind_the_spec_is_refused(tmp_path: Path) -> None:
    assert "weight" not in kind_names()  # the fixture cleaned up after itself
    with pytest.raises(SpecError, match=r"detail\.fields\.weight\.parser: unknown parser 'weight'"):
        load_spec(write_spec(tmp_path))
    with pytest.raises(ValueError, match="unknown parser 'weight'"):
        FieldSpec(css=".w", parser="weight")
