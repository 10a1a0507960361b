"""Source modes in the spec, and listings updates: a known key with changed fields is kept."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pydantic import ValidationError

from harvest.cleaning.dedup import deduplicate
from harvest.cleaning.stage import clean_frame
from harvest.config.spec import SourceSpec, WarningsSpec
from tests.unit.test_dedup_demo import demo_spec

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def spec_with(**changes: object) -> SourceSpec:
    data = demo_spec().model_dump()
    data.update(changes)
    return SourceSpec.model_validate(data)


def test_mode_defaults_to_listings_and_catalogue_tracks_every_field_by_default() -> None:
    assert demo_spec().mode == "listings"
    catalogue = spec_with(mode="catalogue")
    assert "price" in catalogue.versioned_fields
    assert demo_spec().detail.key not in catalogue.versioned_fields
    assert spec_with(mode="catalogue", tracked_fields=["price"]).versioned_fields == ["price"]
    assert demo_spec().warnings == WarningsSpec()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "shop"}, "listings"),
        ({"mode": "catalogue", "tracked_fields": ["colour"]}, "tracked_fields"),
        ({"tracked_fields": ["price"]}, "mode: catalogue"),
        ({"warnings": {"zero_rows": "fatal"}}, "critical"),
        ({"warnings": {"no_such_warning": "critical"}}, "no_such_warning"),
    ],
)
def test_bad_mode_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec_with(**changes)


def _record(key: str, price: float, day: dt.date, city: str = "Berlin") -> dict[str, object]:
    return {
        "source": "demo",
        "logical_date": day,
        "url": f"http://demo.test/listing/{key}",
        "listing_id": key,
        "record_key": key,
        "title": f"Bright flat {key}",
        "price": price,
        "price_currency": "EUR",
        "area": 50.0,
        "rooms": 2,
        "floor": 1,
        "city": city,
        "district": "Mitte",
        "balcony": True,
        "built_year": 1990,
        "available_from": None,
    }


def _frame(*records: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    for column in ("price", "area"):
        frame[column] = frame[column].astype("Float64")
    for column in ("rooms", "floor", "built_year"):
        frame[column] = frame[column].astype("Int64")
    frame["balcony"] = frame["balcony"].astype("boolean")
    return frame


def test_a_known_key_with_a_changed_price_is_an_update_not_a_duplicate() -> None:
    spec = demo_spec()
    history = _frame(_record("A", 900.0, D1), _record("B", 700.0, D1, "Hamburg"))
    history["is_duplicate_of"] = pd.Series([None, None], dtype="string")
    batch = _frame(_record("A", 950.0, D2), _record("B", 700.0, D2, "Hamburg"))
    result = deduplicate(batch, spec, history)
    assert result.frame["record_key"].tolist() == ["A"]  # the changed one is kept
    assert result.duplicates["record_key"].tolist() == ["B"]  # the re-listed one is not
    assert result.counts["updated"] == 1
    assert result.counts["exact_history"] == 1


def test_clean_counts_updates() -> None:
    spec = demo_spec()
    history = _frame(_record("A", 900.0, D1))
    history["is_duplicate_of"] = pd.Series([None], dtype="string")
    cleaned, duplicates, counts, _ = clean_frame(
        _frame(_record("A", 950.0, D2)).drop(columns="record_key"), spec, history
    )
    assert cleaned["price"].tolist() == [950.0]
    assert duplicates.empty
    assert counts["updated"] == 1
