"""The validation suite and run on tiny frames: each check fires on bad input and names itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest.validation import ValidationFailed, ValidationReport
from harvest.validation.judge import RESULT_COLUMNS
from harvest.validation.quarantine import QUARANTINE_COLUMNS
from harvest.validation.run import validate_records
from harvest.validation.suite import build_suite, row_count_floor

DAY = dt.date(2026, 11, 26)


def make_spec(rooms: dict[str, Any] | None = None, **validation: Any) -> SourceSpec:
    """The tiny spec; ``rooms`` adds keys to the rooms field (``on_error``, checks)."""
    return SourceSpec.model_validate(
        {
            "name": "tiny",
            "base_url": "http://127.0.0.1:8000",
            "start_urls": ["{base_url}/listings/{date}"],
            "index": {"detail_links": "a"},
            "detail": {
                "key": "listing_id",
                "fields": {
                    "listing_id": {
                        "css": "#id",
                        "required": True,
                        "checks": {"regex": r"^L-\d{4}$", "severity": "critical"},
                    },
                    "price": {
                        "css": "#price",
                        "kind": "price",
                        "required": True,
                        "checks": {"min": 100, "max": 20000, "severity": "critical"},
                    },
                    "city": {
                        "css": "#city",
                        "checks": {"values": ["Berlin", "Hamburg"], "severity": "critical"},
                    },
                    "rooms": {
                        "css": "#rooms",
                        "kind": "int",
                        "checks": {"min": 1, "max": 12, "max_null_rate": 0.5},
                        **(rooms or {}),
                    },
                    "area": {
                        "css": "#area",
                        "kind": "area",
                        "checks": {"max_null_rate": 0.5, "severity": "critical"},
                    },
                },
            },
            "validation": {"max_quarantine_rate": 0.5, **validation},
        }
    )


def record(i: int, **fields: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "tiny",
        "logical_date": DAY.isoformat(),
        "url": f"http://127.0.0.1:8000/listing/{i}",
        "listing_id": f"L-{i:04d}",
        "price": "€1.250 / month",
        "city": "Berlin",
        "rooms": "3",
        "area": "54 m²",
    }
    row.update(fields)
    return row


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["source", "logical_date", "url", "listing_id", "price", "city", "rooms", "area"]
    return pd.DataFrame(rows, columns=columns, dtype="object").astype("string")


def good(n: int) -> list[dict[str, Any]]:
    return [record(i) for i in range(n)]


def quarantined(outcome: Any, field: str, check: str) -> pd.DataFrame:
    q = outcome.quarantine
    return q[(q["field"] == field) & (q["check"] == check)]


# --- the suite -----------------------------------------------------------------------------------


def test_demo_suite_has_every_kind_of_check_with_severity_in_meta() -> None:
    spec = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    suite = build_suite(spec, recent_row_counts=[300, 320, 280])
    by = {(e.meta["check"], e.meta["field"]): e for e in suite.expectations}
    assert by[("range", "price")].expectation_type == "expect_column_values_to_be_between"
    assert by[("values", "city")].expectation_type == "expect_column_values_to_be_in_set"
    assert by[("regex", "listing_id")].expectation_type == "expect_column_values_to_match_regex"
    assert by[("unique", "listing_id")].expectation_type == "expect_column_values_to_be_unique"
    assert by[("exists", "price")].meta["severity"] == "critical"
    assert by[("exists", "area")].meta["severity"] == "warning"
    assert by[("type", "rooms")].expectation_type == "expect_column_values_to_be_in_type_list"
    assert by[("max_null_rate", "area")].meta["severity"] == "warning"
    assert by[("max_null_rate", "area")].mostly == pytest.approx(0.7)
    row_count = by[("row_count", None)]
    assert row_count.min_value == 90  # 0.3 x median 300
    for expectation in suite.expectations:
        assert expectation.meta["severity"] in ("critical", "warning")
        assert expectation.meta["level"] in ("record", "batch")


def test_required_field_gets_required_null_rate_as_critical() -> None:
    spec = make_spec(required_null_rate=0.2)
    by = {(e.meta["check"], e.meta["field"]): e for e in build_suite(spec).expectations}
    price = by[("required_null_rate", "price")]
    assert price.meta["severity"] == "critical"
    assert price.mostly == pytest.approx(0.8)


def test_row_count_floor_uses_min_rows_without_history_and_the_median_with_it() -> None:
    spec = make_spec(min_rows=5, row_count_min_ratio=0.5)
    assert row_count_floor(spec, [])[0] == 5
    floor, why = row_count_floor(spec, [100, 40, 60])
    assert floor == 30
    assert "median 60" in why


# --- record-level checks quarantine ---------------------------------------------------------------


def test_clean_records_pass_and_all_are_valid() -> None:
    outcome = validate_records(frame(good(6)), make_spec(), DAY)
    assert outcome.success
    assert outcome.quarantine.empty
    assert len(outcome.valid) == 6
    assert list(outcome.quarantine.columns) == QUARANTINE_COLUMNS
    assert list(outcome.results.columns) == RESULT_COLUMNS
    assert outcome.results["success"].all()


@pytest.mark.parametrize(
    ("bad", "field", "check", "value", "reason"),
    [
        ({"price": "€250.000 / month"}, "price", "range", "€250.000 / month", "above the maximum"),
        ({"price": "EUR 50"}, "price", "range", "EUR 50", "below the minimum"),
        ({"rooms": "40"}, "rooms", "range", "40", "rooms 40 is above the maximum 12"),
        ({"city": "Gotham"}, "city", "values", "Gotham", "'Gotham' is not one of the allowed"),
        ({"listing_id": "X-1"}, "listing_id", "regex", "X-1", "does not match"),
        ({"price": "Price on request"}, "price", "parse:price", "Price on request", "no amount"),
        ({"price": None}, "price", "required", None, "missing required field"),
    ],
)
def test_each_record_check_quarantines_the_record_with_a_reason(
    bad: dict[str, str | None], field: str, check: str, value: str | None, reason: str
) -> None:
    rows = good(6)
    rows[2] = record(2, **bad)
    outcome = validate_records(frame(rows), make_spec(), DAY)
    hits = quarantined(outcome, field, check)
    assert list(hits["url"]) == [rows[2]["url"]]
    assert reason in hits["reason"].iloc[0]
    assert (pd.isna(hits["value"].iloc[0]) and value is None) or hits["value"].iloc[0] == value
    assert rows[2]["url"] not in set(outcome.valid["url"])
    assert len(outcome.valid) == 5
    assert outcome.quarantined_by_reason == {f"{field}:{check}": 1}


def test_an_optional_field_that_does_not_parse_becomes_null_with_a_warning() -> None:
    rows = good(6)
    rows[2] = record(2, rooms="many")
    rows[4] = record(4, rooms="lots")
    outcome = validate_records(frame(rows), make_spec(), DAY, chunk_size=3)
    assert outcome.quarantine.empty and len(outcome.valid) == 6  # no record is lost
    assert outcome.valid["rooms"].isna().sum() == 2
    (warning,) = [w for w in outcome.warnings if w.startswith("field 'rooms'")]
    assert "2 values did not parse and were set to null (on_error: null)" in warning
    assert "'many'" in warning and "no number" in warning
    coverage = outcome.results[
        (outcome.results["expectation"] == "expect_column_coverage_to_be_at_least")
        & (outcome.results["column"] == "rooms")
    ].iloc[0]
    assert coverage["pass_rate"] == pytest.approx(4 / 6)
    assert coverage["details"]["nulled"] == 2


def test_on_error_quarantine_quarantines_an_optional_field() -> None:
    rows = good(6)
    rows[2] = record(2, rooms="many")
    outcome = validate_records(frame(rows), make_spec({"on_error": "quarantine"}), DAY)
    hits = quarantined(outcome, "rooms", "parse:int")
    assert list(hits["url"]) == [rows[2]["url"]]
    assert "no number" in hits["reason"].iloc[0]
    assert len(outcome.valid) == 5


def test_coverage_is_stored_per_field_and_judged_against_min_coverage() -> None:
    rows = [record(i, rooms=None) for i in range(6)]
    outcome = validate_records(frame(rows), make_spec(), DAY)
    coverage = outcome.results[
        outcome.results["expectation"] == "expect_column_coverage_to_be_at_least"
    ].set_index("column")
    assert set(coverage.index) == {"listing_id", "price", "city", "rooms", "area"}
    assert coverage.loc["price", "pass_rate"] == 1.0 and coverage.loc["price", "success"]
    assert not coverage.loc["rooms", "success"]  # 0%: always at least a warning
    assert coverage.loc["rooms", "severity"] == "warning"
    assert any(
        "expect_column_coverage_to_be_at_least on 'rooms': coverage 0.000 (0 of 6" in w
        for w in outcome.warnings
    )

    rows = [record(i, rooms=None) if i < 2 else record(i) for i in range(6)]
    spec = make_spec({"checks": {"min_coverage": 0.9, "severity": "critical"}})
    outcome = validate_records(frame(rows), spec, DAY)
    (breach,) = outcome.breaches
    assert (breach.expectation, breach.column) == ("expect_column_coverage_to_be_at_least", "rooms")
    assert breach.observed.startswith("coverage 0.667 (4 of 6 records)")
    assert "at least 0.9 (checks.min_coverage)" in breach.threshold


def test_duplicate_keys_are_quarantined_even_across_chunks() -> None:
    rows = good(9)
    rows[8] = record(8, listing_id="L-0001")
    outcome = validate_records(frame(rows), make_spec(), DAY, chunk_size=4)
    hits = quarantined(outcome, "listing_id", "unique")
    assert set(hits["url"]) == {rows[1]["url"], rows[8]["url"]}
    assert "'L-0001' appears 2 times" in hits["reason"].iloc[0]
    unique = outcome.results[outcome.results["expectation"] == "expect_column_values_to_be_unique"]
    assert not unique["success"].iloc[0]
    assert unique["unexpected_count"].iloc[0] == 2


def test_record_failures_are_warnings_not_breaches_below_the_quarantine_rate() -> None:
    rows = good(10)
    rows[0] = record(0, city="Atlantis")
    outcome = validate_records(frame(rows), make_spec(), DAY)
    assert outcome.success
    assert any("expect_column_values_to_be_in_set on 'city'" in w for w in outcome.warnings)
    city = outcome.results[outcome.results["column"] == "city"]
    in_set = city[city["expectation"] == "expect_column_values_to_be_in_set"].iloc[0]
    assert in_set["pass_rate"] == pytest.approx(0.9)
    assert in_set["severity"] == "critical"


def test_chunked_and_whole_runs_give_identical_frames() -> None:
    rows = good(11)
    rows[1] = record(1, city="Gotham")
    rows[4] = record(4, price="Price on request", rooms=None)
    rows[7] = record(7, listing_id="L-0003")
    rows[9] = record(9, area=None, rooms="0")
    whole = validate_records(frame(rows), make_spec(), DAY, chunk_size=1000)
    chunked = validate_records(frame(rows), make_spec(), DAY, chunk_size=3)
    pd.testing.assert_frame_equal(whole.quarantine, chunked.quarantine)
    pd.testing.assert_frame_equal(whole.results, chunked.results)
    pd.testing.assert_frame_equal(whole.valid, chunked.valid)


# --- batch-level checks and severity --------------------------------------------------------------


def test_warning_null_rate_is_a_warning_and_critical_null_rate_a_breach() -> None:
    rows = [record(i, rooms=None) if i < 4 else record(i) for i in range(6)]
    outcome = validate_records(frame(rows), make_spec(), DAY)
    assert outcome.success  # rooms: max_null_rate 0.5, severity warning
    assert any("'rooms' (max_null_rate)" in w and "null rate 0.667" in w for w in outcome.warnings)

    rows = [record(i, area=None) if i < 4 else record(i) for i in range(6)]
    outcome = validate_records(frame(rows), make_spec(), DAY)
    assert not outcome.success  # area: max_null_rate 0.5, severity critical
    (breach,) = outcome.breaches
    assert breach.expectation == "expect_column_values_to_not_be_null"
    assert breach.column == "area"
    assert breach.observed.startswith("null rate 0.667 (4 of 6 records)")
    assert "0.5" in breach.threshold


def test_row_count_collapse_is_a_breach_naming_the_median() -> None:
    spec = make_spec(row_count_min_ratio=0.5)
    outcome = validate_records(frame(good(3)), spec, DAY, recent_row_counts=[10, 12, 11])
    (breach,) = outcome.breaches
    assert breach.expectation == "expect_table_row_count_to_be_between"
    assert breach.observed == "3 records"
    assert "at least 6" in breach.threshold and "median 11" in breach.threshold


def test_quarantine_rate_above_the_limit_is_a_breach() -> None:
    rows = [record(i, city="Nowhere") if i < 4 else record(i) for i in range(6)]
    outcome = validate_records(frame(rows), make_spec(max_quarantine_rate=0.25), DAY)
    (breach,) = outcome.breaches
    assert breach.expectation == "expect_quarantine_rate_to_be_at_most"
    assert "0.667 (4 of 6 records)" in breach.observed
    assert "city:values (4)" in breach.hint


def test_a_missing_column_is_schema_drift() -> None:
    spec = make_spec()
    wider = SourceSpec.model_validate(
        {
            **spec.model_dump(),
            "detail": {
                "key": "listing_id",
                "fields": {
                    **spec.model_dump()["detail"]["fields"],
                    "floor": {"css": "#floor", "kind": "int", "required": True},
                },
            },
        }
    )
    outcome = validate_records(frame(good(4)), spec, DAY, suite=build_suite(wider))
    exists = [b for b in outcome.breaches if b.check == "exists"]
    assert exists and exists[0].column == "floor"
    assert exists[0].expectation == "expect_column_to_exist"


def test_failure_message_names_expectation_observed_threshold_and_partition() -> None:
    rows = [record(i, price=None, area=None) for i in range(4)]
    outcome = validate_records(frame(rows), make_spec(), DAY)
    error = outcome.error(raw_uri="file:///raw/tiny/2026-11-26.jsonl")
    assert isinstance(error, ValidationFailed)
    message = str(error)
    assert "source=tiny date=2026-11-26" in message
    assert "expect_column_values_to_not_be_null on column 'price' (required_null_rate)" in message
    assert "observed null rate 1.000 (4 of 4 records)" in message
    assert "threshold null rate at most 0.5" in message
    assert "layout probably changed" in message
    assert "expect_quarantine_rate_to_be_at_most" in message
    assert "file:///raw/tiny/2026-11-26.jsonl" in message


def test_report_to_dict_has_counts_and_reasons() -> None:
    rows = good(5)
    rows[0] = record(0, city="Atlantis")
    report = validate_records(frame(rows), make_spec(), DAY).report(validated_uri="file:///v")
    assert isinstance(report, ValidationReport)
    data = report.to_dict()
    assert data["scraped"] == 5 and data["valid"] == 4 and data["quarantined"] == 1
    assert data["quarantined_by_reason"] == {"city:values": 1}
    assert data["quarantine_rate"] == pytest.approx(0.2)
    assert data["validated_uri"] == "file:///v"


def test_an_empty_partition_breaks_min_rows() -> None:
    outcome = validate_records(frame([]), make_spec(), DAY)
    assert {b.check for b in outcome.breaches} == {"row_count", "valid_rows"}
    assert outcome.scraped == 0 and outcome.valid.empty


def test_a_typo_of_an_allowed_value_is_left_for_cleaning_to_correct() -> None:
    rows = good(10)
    rows[0] = record(0, city="Berln")
    rows[1] = record(1, city="hamburg ")
    outcome = validate_records(frame(rows), make_spec(), DAY)
    assert outcome.quarantined == 0
    valid = outcome.valid.set_index("url")
    # validation does not rewrite values: cleaning corrects (and counts) the typo
    assert valid["city"].tolist()[:2] == ["Berln", "hamburg"]
