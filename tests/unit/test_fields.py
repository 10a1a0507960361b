"""Field kinds: every built-in kind resolves its types and behaviour, and a new kind is one
``register`` call that flows from the spec through parsing, normalisation, de-duplication and
the model's features to the warehouse column, with no other edit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sklearn.dummy import DummyRegressor
from sqlalchemy.dialects import postgresql, sqlite

from harvest.cleaning.near import write_pairs
from harvest.cleaning.normalise import normalise_frame
from harvest.cleaning.stage import clean_frame
from harvest.config.spec import FieldSpec, SourceSpec, SpecError, load_spec
from harvest.features import build_pipeline, feature_columns, transform_features
from harvest.fields import (
    Comparison,
    ExtraColumn,
    FeatureRole,
    FieldKind,
    Normalisation,
    UnknownFieldKind,
    field_kind,
    kind_names,
    register,
    unregister,
)
from harvest.parsers import Unparseable
from harvest.records import ParsedRecords, extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.storage.warehouse import open_warehouse, processed_columns, processed_table
from harvest.storage.warehouse.schema import sql_type

DAY = dt.date(2026, 3, 14)
BUILT_IN = {"text", "number", "int", "float", "price", "range", "area", "bool", "date", "json"}


def test_every_built_in_kind_has_its_types_and_behaviour() -> None:
    assert kind_names() >= BUILT_IN
    for name in BUILT_IN:
        kind = field_kind(name)
        assert isinstance(kind.arrow_type(), pa.DataType)
        assert isinstance(sql_type(name), sa.types.TypeEngine)
        assert pd.api.types.pandas_dtype(kind.pandas_dtype) is not None
        assert kind.gx_types
    assert field_kind("price").columns("rent") == {"rent": "price", "rent_currency": "text"}
    assert field_kind("area").columns("area") == {"area": "area"}
    behaviour = {
        name: (k.feature_role, k.normalisation, k.comparison)
        for name in ("text", "area", "int", "bool", "date", "json")
        for k in [field_kind(name)]
    }
    assert behaviour == {
        "text": (FeatureRole.CATEGORICAL, Normalisation.TEXT, Comparison.FOLDED),
        "area": (FeatureRole.NUMERIC, Normalisation.NUMBER, Comparison.TOLERANCE),
        "int": (FeatureRole.NUMERIC, Normalisation.NUMBER, Comparison.EXACT),
        "bool": (FeatureRole.FLAG, Normalisation.BOOL, Comparison.EXACT),
        "date": (FeatureRole.DATE, Normalisation.DATE, Comparison.SAME_DAY),
        "json": (FeatureRole.NONE, Normalisation.DTYPE, Comparison.EXACT),
    }
    json_type = sql_type("json")  # JSONB on PostgreSQL, JSON elsewhere
    assert json_type.compile(dialect=postgresql.dialect()) == "JSONB"
    assert json_type.compile(dialect=sqlite.dialect()) == "JSON"


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownFieldKind, match=r"unknown field kind 'weight'; known kinds: area, bool"
    ):
        field_kind("weight")
    with pytest.raises(ValueError, match="'text' is already registered"):
        register(field_kind("text"))
    with pytest.raises(UnknownFieldKind, match="'nothing'"):
        register(
            dataclasses.replace(
                field_kind("text"),
                name="odd",
                extra_columns=(ExtraColumn(suffix="x", kind="nothing", value=str),),
            )
        )
    assert "odd" not in kind_names()


def test_a_kind_is_built_with_keywords_and_its_behaviour_must_fit_its_dtype() -> None:
    text = field_kind("text")
    with pytest.raises(TypeError):
        FieldKind("odd", str, "string", "string", "Text", ("str",))  # type: ignore[misc]
    with pytest.raises(
        ValueError,
        match=r"field kind 'odd' \(pandas dtype string\): comparison tolerance needs a number "
        r"dtype; feature role numeric needs a number dtype",
    ):
        dataclasses.replace(
            text,
            name="odd",
            comparison=Comparison.TOLERANCE,
            feature_role=FeatureRole.NUMERIC,
        )
    with pytest.raises(ValueError, match="normalisation bool needs the boolean dtype"):
        dataclasses.replace(text, name="odd", normalisation=Normalisation.BOOL)


def test_options_are_checked_against_the_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"kind 'text' takes no formats option \(it takes none\)"):
        field_kind("text").check_options({"formats": ["%Y"]})
    field_kind("date").check_options({"formats": ["%Y"], "convert_to": None})  # None: not given
    path = tmp_path / "shop.yaml"
    path.write_text(
        "base_url: http://example.test\nstart_urls: ['{base_url}/']\nindex: {detail_links: a}\n"
        "detail:\n  key: id\n  fields:\n    id: {css: '#id'}\n"
        "    added: {css: '.a', kind: int, languages: [de]}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        SpecError,
        match=r"shop\.yaml: detail\.fields\.added: kind 'int' takes no languages option",
    ):
        load_spec(path)


def test_parser_is_the_old_name_of_kind() -> None:
    assert FieldSpec(css=".p", parser="price").kind == "price"
    assert FieldSpec(css=".p", kind="price", parser="price").kind == "price"
    assert "parser" not in FieldSpec(css=".p", parser="price").model_dump()
    with pytest.raises(ValueError, match="'kind: price' and 'parser: int' disagree"):
        FieldSpec(css=".p", kind="price", parser="int")
    many = FieldSpec(css=".p", kind="int", many=True)
    assert (many.kind, many.stored_kind) == ("int", "json")


# --- a throwaway kind, registered here only -------------------------------------------------

_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kg|g)\s*$", re.IGNORECASE)


def parse_weight(text: str | None) -> tuple[float, str] | Unparseable:
    """``2.5 kg`` or ``500 g`` -> (kilograms, the unit written)."""
    match = _WEIGHT.match(text or "")
    if not match:
        return Unparseable(f"not a weight: {text!r}")
    amount, unit = float(match.group(1)), match.group(2)
    return (amount / 1000 if unit.lower() == "g" else amount), unit


def weight_kind(comparison: Comparison = Comparison.TOLERANCE) -> FieldKind:
    """A weight in kilograms, with the unit the page wrote (``weight_unit``)."""
    return FieldKind(
        name="weight",
        parse=parse_weight,
        pandas_dtype="Float64",
        arrow_type_name="double",
        sql_type_name="Float",  # not what any built-in kind uses, so the test can tell
        gx_types=("float64", "Float64", "Float64Dtype"),
        feature_role=FeatureRole.NUMERIC,
        normalisation=Normalisation.NUMBER,
        comparison=comparison,
        value=lambda parsed: parsed[0],
        extra_columns=(
            ExtraColumn(
                suffix="unit",
                kind="text",
                value=lambda parsed: parsed[1],
                normalisation=Normalisation.CODE,
            ),
        ),
    )


@pytest.fixture
def weight() -> Iterator[FieldKind]:
    kind = register(weight_kind())
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
        "target: price\n"
        "detail:\n"
        "  key: parcel_id\n"
        "  fields:\n"
        "    parcel_id: {css: '#id', required: true}\n"
        "    city: {css: '.city'}\n"
        "    title: {css: 'h1'}\n"
        "    weight: {css: '.weight', kind: weight, on_error: quarantine}\n"
        "    price: {css: '.price', kind: number}\n"
        "dedup: {relistings: true, match_fields: [city, weight], title_field: title}\n",
        encoding="utf-8",
    )
    # labelled pairs beside the spec (what `harvest dedup label` writes): the same parcel
    # weighs the same within half a percent; other parcels weigh a fifth more or less
    weights = [1.0, 2.5, 4.0, 7.5, 12.0, 20.0]
    same = [
        ({"city": "berlin", "weight": w, "title": "blue parcel"},
         {"city": "berlin", "weight": w * 1.005, "title": "blue parcel"})
        for w in weights
    ]  # fmt: skip
    other = [
        ({"city": "berlin", "weight": w, "title": "blue parcel"},
         {"city": "berlin", "weight": w * 1.2, "title": "parcel number 7"})
        for w in weights
    ]  # fmt: skip
    write_pairs(tmp_path / "parcels.dedup.json", {"match": same, "distinct": other})
    return path


# (key, weight as the page writes it); P1 is P0 re-listed (2.52 kg is within 2% of 2.5 kg),
# P2 a different parcel (3.5 kg), P3 does not parse; then 30 parcels of distinct weights.
PAGES = [("P0", "2.5 kg"), ("P1", "2520 g"), ("P2", "3.5 KG"), ("P3", "heavy")] + [
    (f"Q{i:02}", f"{1 + 0.3 * i:.1f} kg") for i in range(30)
]


def parsed_parcels(spec: SourceSpec) -> ParsedRecords:
    docs = [
        RawDocument(
            source="parcels",
            logical_date=DAY.isoformat(),
            url=f"http://example.test/p/{key}",
            status=200,
            fetched_at="2026-03-15T02:00:00+00:00",
            page_type="detail",
            fields={
                "parcel_id": key,
                "city": "Berlin" if i % 2 == 0 or key.startswith("P") else "Hamburg",
                "title": "Blue parcel" if key.startswith("P") else f"Parcel number {key}",
                "weight": text,
                "price": str(10 + 3 * i),
            },
        )
        for i, (key, text) in enumerate(PAGES)
    ]
    return parse_records(extract_records(docs, spec), spec)


def test_a_new_kind_is_a_feature_is_normalised_is_deduplicated_and_is_a_column(
    weight: FieldKind, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(tmp_path))  # the spec accepts the registered kind
    assert spec.detail.fields["weight"].kind == "weight"

    # parsed: the kind's dtype, its extra column, and a value that does not parse quarantined
    parsed = parsed_parcels(spec)
    frame = parsed.frame
    assert str(frame["weight"].dtype) == "Float64"
    assert frame["weight"].tolist()[:3] == [2.5, 2.52, 3.5] and frame["weight"].isna().iloc[3]
    assert frame["weight_unit"].tolist()[:3] == ["kg", "g", "KG"]
    assert parsed.issues[["url", "field", "check"]].values.tolist() == [
        ["http://example.test/p/P3", "weight", "parse:weight"]
    ]
    good = frame[~frame["url"].isin(parsed.bad_urls)].reset_index(drop=True)

    # normalised as the kind says: a number of its dtype (as text after a round trip), and
    # its unit column as a code
    staged = good.astype({"weight": "object", "weight_unit": "object"})
    staged.loc[0, ["weight", "weight_unit"]] = ["2.5", " kg "]
    normalised = normalise_frame(staged, spec).frame
    assert str(normalised["weight"].dtype) == "Float64" and normalised.loc[0, "weight"] == 2.5
    assert normalised["weight_unit"].tolist()[:3] == ["KG", "G", "KG"]

    # compared by its comparison: close in weight, P1 is P0 re-listed; P2 is not
    cleaned, duplicates, counts, _ = clean_frame(good, spec)
    assert list(zip(duplicates["record_key"], duplicates["is_duplicate_of"], strict=True)) == [
        ("P1", "P0")
    ]
    assert counts["near_batch"] == 1 and len(cleaned) == len(good) - 1

    # a feature of the model: a numeric input and a column of the pipeline's output
    columns = feature_columns(spec)
    assert (columns.numeric, columns.categorical) == (("weight",), ("city",))
    pipeline = build_pipeline(columns, spec.features, DummyRegressor(), seed=0)
    pipeline.fit(cleaned, cleaned["price"])
    matrix = transform_features(pipeline, cleaned)
    assert "weight" in matrix.columns
    assert matrix["weight"].tolist() == pytest.approx(cleaned["weight"].astype(float).tolist())

    # a warehouse column of the kind's SQL type, loaded and read back
    assert processed_columns(spec)["weight"] == "weight"
    assert processed_columns(spec)["weight_unit"] == "text"
    assert isinstance(processed_table(spec).c.weight.type, sa.Float)
    with open_warehouse(f"sqlite:///{tmp_path / 'w.db'}") as warehouse:
        assert warehouse.migrate([spec]).created_tables[-1] == "processed_parcels"
        columns_in_db = {
            c["name"]: c["type"]
            for c in sa.inspect(warehouse.engine).get_columns("processed_parcels")
        }
        assert str(columns_in_db["weight"]) == "FLOAT"
        assert str(columns_in_db["weight_unit"]) == "TEXT"
        assert warehouse.load_partition(spec, DAY, cleaned).rows == len(cleaned)
        history = warehouse.read_history("parcels", DAY, DAY, ["record_key", "weight"])
        loaded = history.set_index("record_key")["weight"]
        assert (loaded["P0"], loaded["P2"]) == (2.5, 3.5) and "P1" not in loaded


def test_dedup_compares_a_kind_as_it_declares(tmp_path: Path) -> None:
    """The same records, with ``weight`` declared exact: 2.52 kg is no longer 2.5 kg."""
    register(weight_kind(Comparison.EXACT))
    try:
        spec = load_spec(write_spec(tmp_path))
        parsed = parsed_parcels(spec)
        good = parsed.frame[~parsed.frame["url"].isin(parsed.bad_urls)]
        _, duplicates, counts, _ = clean_frame(good, spec)
    finally:
        unregister("weight")
    assert duplicates.empty and counts["near_batch"] == 0


def test_without_the_kind_the_spec_is_refused(tmp_path: Path) -> None:
    assert "weight" not in kind_names()  # the fixture cleaned up after itself
    with pytest.raises(
        SpecError, match=r"detail\.fields\.weight\.kind: unknown field kind 'weight'"
    ):
        load_spec(write_spec(tmp_path))
    with pytest.raises(ValueError, match="unknown field kind 'weight'"):
        FieldSpec(css=".w", kind="weight")
