"""Normalisation and imputation: small pure functions on tiny frames; arbitrary input never crashes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvest.canonical import canonical_value
from harvest.cleaning.impute import impute_frame, mode_value
from harvest.cleaning.normalise import normalise_frame, to_bool, to_date
from harvest.config.spec import SourceSpec
from harvest.text import collapse_whitespace, fold

CITIES = ["Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig"]


def make_spec(**dedup: Any) -> SourceSpec:
    """A small listings spec: cities with an allowed list, three imputable fields, two not."""
    return SourceSpec.model_validate(
        {
            "name": "flats",
            "base_url": "http://example.test",
            "start_urls": ["{base_url}/{date}"],
            "index": {"detail_links": "a"},
            "detail": {
                "key": "listing_id",
                "fields": {
                    "listing_id": {"css": "#id", "required": True},
                    "title": {"css": "#t"},
                    "price": {"css": "#p", "kind": "price"},
                    "area": {"css": "#a", "kind": "area", "impute": "median"},
                    "rooms": {"css": "#r", "kind": "int", "impute": "mode"},
                    "floor": {"css": "#f", "kind": "int"},
                    "city": {"css": "#c", "checks": {"values": CITIES}},
                    "district": {"css": "#d"},
                    "balcony": {
                        "css": "#b",
                        "kind": "bool",
                        "impute": "constant",
                        "impute_value": False,
                    },
                    "built_year": {"css": "#y", "kind": "int"},
                    "available_from": {"css": "#v", "kind": "date"},
                },
            },
            "dedup": {
                "match_fields": ["city", "district", "rooms", "area", "floor", "built_year"],
                "title_field": "title",
                **dedup,
            },
        }
    )


anything = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.just(pd.NA),
    st.just(pd.NaT),
)


# --- value normalisers ------------------------------------------------------------------------


@settings(deadline=None)  # the first date string loads dateparser's languages
@given(value=anything)
def test_value_normalisers_never_raise(value: Any) -> None:
    text = collapse_whitespace(value)
    assert text is None or (text == text.strip() and "  " not in text and text)
    folded = fold(value)
    assert folded is None or folded == fold(folded)  # folding is idempotent
    assert to_date(value) is None or isinstance(to_date(value), dt.date)
    assert to_bool(value) in (None, True, False)


@given(value=st.one_of(st.none(), st.text(max_size=40)))
def test_canonical_value_is_allowed_or_the_cleaned_input_and_idempotent(value: str | None) -> None:
    result = canonical_value(value, CITIES)
    assert result.value in CITIES or result.value == collapse_whitespace(value)
    assert not result.corrected or result.value in CITIES
    again = canonical_value(result.value, CITIES)
    assert again.value == result.value
    assert not again.corrected


@pytest.mark.parametrize(
    ("raw", "expected", "corrected"),
    [
        (" berlin ", "Berlin", False),  # case and spacing: not a typo
        ("KÖLN", "Köln", False),
        ("Koln", "Köln", False),  # accents are folded, not corrected
        ("Munchen", "München", False),
        ("Berln", "Berlin", True),
        ("Hambrug", "Hamburg", True),
        ("Frankfurtt", "Frankfurt", True),
        ("Kön", "Köln", True),
        ("Bonn", "Bonn", False),  # close to nothing: kept as written
        ("Munich", "Munich", False),  # an exonym is not a typo
        ("", None, False),
    ],
)
def test_canonical_cities(raw: str, expected: str | None, corrected: bool) -> None:
    result = canonical_value(raw, CITIES)
    assert (result.value, result.corrected) == (expected, corrected)


def test_dates_and_booleans_from_the_usual_forms() -> None:
    assert to_date("2026-03-12") == dt.date(2026, 3, 12)
    assert to_date("12.03.2026") == dt.date(2026, 3, 12)
    assert to_date(pd.Timestamp("2026-03-12 10:00")) == dt.date(2026, 3, 12)
    assert to_date("soon") is None
    assert to_bool("yes") is True
    assert to_bool("nein") is False
    assert to_bool(0) is False
    assert to_bool("maybe") is None


# --- the frame ---------------------------------------------------------------------------------


def typed_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame as parse_records types it (strings for text, nullable numbers, object dates)."""
    base = {
        "source": "flats",
        "logical_date": "2026-03-01",
        "url": None,
        "listing_id": None,
        "title": "Bright 2-room flat in Mitte",
        "price": 1000.0,
        "price_currency": "EUR",
        "area": 50.0,
        "rooms": 2,
        "floor": 1,
        "city": "Berlin",
        "district": "Mitte",
        "balcony": True,
        "built_year": 1990,
        "available_from": dt.date(2026, 4, 1),
    }
    records = []
    for i, row in enumerate(rows):
        record = {**base, "url": f"http://example.test/{i}", "listing_id": f"L-{i:04d}", **row}
        records.append(record)
    frame = pd.DataFrame(records)
    return frame.astype(
        {
            "source": "string",
            "logical_date": "string",
            "url": "string",
            "listing_id": "string",
            "title": "string",
            "price": "Float64",
            "price_currency": "string",
            "area": "Float64",
            "rooms": "Int64",
            "floor": "Int64",
            "city": "string",
            "district": "string",
            "balcony": "boolean",
            "built_year": "Int64",
        }
    )


def test_normalise_frame_canonicalises_keeps_stated_prices_and_records() -> None:
    frame = typed_frame(
        [
            {"city": " Berln ", "district": "  Prenzlauer   Berg "},
            {"city": "KÖLN", "price": 1000.0, "price_currency": " usd"},
            {"city": "Bonn", "title": "  Quiet  flat "},
        ]
    )
    result = normalise_frame(frame, make_spec())
    out = result.frame
    assert out["city"].tolist() == ["Berlin", "Köln", "Bonn"]
    assert out["district"].tolist()[0] == "Prenzlauer Berg"
    assert out["title"].tolist()[2] == "Quiet flat"
    assert out["price"].tolist() == [1000.0, 1000.0, 1000.0]  # the stated amount is kept
    assert out["price_currency"].tolist() == ["EUR", "USD", "EUR"]  # and its currency
    assert result.corrected == {"city": 1}
    assert result.corrections == {"city": {"Berln": "Berlin"}}
    assert frame["city"].tolist()[0] == " Berln "  # the input is not changed


def test_normalise_frame_restores_dtypes_after_a_round_trip() -> None:
    frame = typed_frame([{}, {}]).astype(
        {"rooms": "float64", "balcony": "object", "available_from": "str"}
    )
    frame["balcony"] = ["yes", "no"]
    frame["available_from"] = ["2026-04-01", "01.05.2026"]
    out = normalise_frame(frame, make_spec()).frame
    assert str(out["rooms"].dtype) == "Int64"
    assert out["balcony"].tolist() == [True, False]
    assert out["available_from"].tolist() == [dt.date(2026, 4, 1), dt.date(2026, 5, 1)]


def test_normalising_twice_changes_nothing() -> None:
    frame = typed_frame([{"city": "Berln"}, {"price_currency": "GBP"}, {"area": None}])
    spec = make_spec()
    once = normalise_frame(frame, spec).frame
    twice = normalise_frame(once, spec).frame
    pd.testing.assert_frame_equal(once, twice)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=8))
def test_normalise_frame_takes_arbitrary_strings(values: list[str | None]) -> None:
    frame = typed_frame([{} for _ in values])
    for column in ("title", "city", "district", "price_currency"):
        frame[column] = pd.Series(values, dtype="string")
    for column in ("balcony", "available_from"):
        frame[column] = pd.Series(values, dtype="object")
    out = normalise_frame(frame, make_spec()).frame
    assert len(out) == len(values)
    assert set(out["balcony"].dropna()) <= {True, False}


# --- imputation ---------------------------------------------------------------------------------


def test_impute_only_the_fields_the_spec_allows_with_its_method() -> None:
    rows = [{"area": float(40 + i), "rooms": 2 if i % 3 else 3} for i in range(30)]
    rows += [{"area": None, "rooms": None, "balcony": None, "floor": None, "built_year": None}]
    result = impute_frame(typed_frame(rows), make_spec())
    out = result.frame
    last = out.iloc[-1]
    assert last["area"] == pytest.approx(54.5)  # median of 40..69
    assert last["rooms"] == 2  # mode
    assert last["balcony"] is False or last["balcony"] == False  # noqa: E712 - constant
    assert pd.isna(last["floor"]) and pd.isna(last["built_year"])  # impute: none
    assert list(last["imputed"]) == ["area", "rooms", "balcony"]
    assert all(list(flags) == [] for flags in out["imputed"].iloc[:-1])
    assert result.counts == {"area": 1, "rooms": 1, "balcony": 1}
    assert result.statistic_from == {"area": "batch", "rooms": "batch", "balcony": "spec"}
    assert str(out["rooms"].dtype) == "Int64" and str(out["area"].dtype) == "Float64"


def test_a_small_batch_borrows_the_statistic_from_history() -> None:
    batch = typed_frame([{"area": 200.0}, {"area": None}])
    history = typed_frame([{"area": 50.0} for _ in range(40)])
    result = impute_frame(batch, make_spec(), history)
    assert result.frame["area"].tolist() == [200.0, 50.0]
    assert result.statistic_from["area"] == "batch+history"


def test_nothing_to_compute_a_statistic_from_leaves_values_missing() -> None:
    result = impute_frame(typed_frame([{"area": None}, {"area": None}]), make_spec())
    assert result.frame["area"].isna().all()
    assert result.left_missing == {"area": 2}
    assert "area" not in result.counts


def test_mode_ties_go_to_the_smallest_value() -> None:
    assert mode_value(pd.Series([3, 2, 3, 2, 1], dtype="Int64")) == 2
    assert mode_value(pd.Series([None], dtype="Int64")) is None
