"""De-duplication rules on tiny frames, and the precision/recall measure."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harvest.cleaning.dedup import DUPLICATE_COLUMNS, deduplicate
from harvest.cleaning.dedup_eval import evaluate_dedup
from harvest.cleaning.normalise import normalise_frame
from tests.unit.test_cleaning import make_spec, typed_frame

SPEC = make_spec()
ORIGINAL = {"title": "Bright 2-room flat in Mitte", "area": 50.0}
RELISTED = {"title": "Cosy 2-room flat in Mitte (reposted)", "area": 50.4}  # 0.8% larger


def batch(rows: list[dict[str, Any]], day: str = "2026-03-02") -> pd.DataFrame:
    frame = normalise_frame(typed_frame(rows), SPEC).frame
    frame["logical_date"] = day
    frame["record_key"] = frame["listing_id"]
    return frame


def keys(frame: pd.DataFrame) -> list[str]:
    return frame["record_key"].tolist()


def dups(result: Any) -> list[tuple[str, str, str, str, str]]:
    d = result.duplicates
    return list(zip(d.record_key, d.is_duplicate_of, d.kind, d.scope, d.rule, strict=True))


def test_exact_same_key_within_the_batch_keeps_the_first() -> None:
    frame = batch([{"listing_id": "L-1"}, {"listing_id": "L-1", "price": 999.0}])
    result = deduplicate(frame, SPEC)
    assert keys(result.frame) == ["L-1"]
    assert result.frame["url"].tolist() == ["http://example.test/0"]
    assert dups(result) == [("L-1", "L-1", "exact", "batch", "key")]
    assert result.counts["exact_batch"] == 1
    assert result.pairs == []  # same key: not a pair of two listings


def test_exact_same_content_under_another_key() -> None:
    frame = batch([{}, {}])  # listing ids L-0000 and L-0001, every other field equal
    result = deduplicate(frame, SPEC)
    assert keys(result.frame) == ["L-0000"]
    assert dups(result) == [("L-0001", "L-0000", "exact", "batch", "content")]


def test_exact_same_key_against_history() -> None:
    history = batch([{"listing_id": "L-7"}], day="2026-03-01")
    result = deduplicate(batch([{"listing_id": "L-7"}]), SPEC, history)
    assert result.frame.empty
    assert dups(result) == [("L-7", "L-7", "exact", "history", "key")]
    assert result.counts == {
        "exact_batch": 0,
        "exact_history": 1,
        "near_batch": 0,
        "near_history": 0,
        "updated": 0,
    }


def test_near_duplicate_within_the_batch_points_to_the_earliest() -> None:
    frame = batch([{**RELISTED, "listing_id": "L-2"}, {**ORIGINAL, "listing_id": "L-1"}])
    result = deduplicate(frame, SPEC)
    assert keys(result.frame) == ["L-1"]
    assert dups(result) == [("L-2", "L-1", "near", "batch", "near")]
    assert result.duplicates["title_similarity"].iloc[0] >= SPEC.dedup.title_similarity
    assert result.pairs == [("L-2", "L-1")]


def test_near_duplicate_against_history() -> None:
    history = batch([{**ORIGINAL, "listing_id": "L-9"}], day="2026-02-20")
    result = deduplicate(batch([{**RELISTED, "listing_id": "L-1"}]), SPEC, history)
    assert result.frame.empty
    assert dups(result) == [("L-1", "L-9", "near", "history", "near")]
    assert result.counts["near_history"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"city": "Hamburg"},
        {"district": "Kreuzberg"},
        {"rooms": 3},
        {"floor": 2},
        {"built_year": 1991},
        {"area": 52.0},  # 4% larger: beyond numeric_tolerance
        {"title": "Large family home with garden"},  # title too different
    ],
)
def test_listings_that_differ_in_one_match_field_are_not_duplicates(change: dict[str, Any]) -> None:
    frame = batch([ORIGINAL, {**RELISTED, **change}])
    result = deduplicate(frame, SPEC)
    assert len(result.frame) == 2
    assert result.duplicates.empty


def test_text_match_fields_compare_folded() -> None:
    frame = batch([ORIGINAL, {**RELISTED, "district": " MITTE "}])
    assert len(deduplicate(frame, SPEC).frame) == 1


def test_one_missing_match_field_matches_anything_two_do_not() -> None:
    one = batch([ORIGINAL, {**RELISTED, "floor": None}])
    assert len(deduplicate(one, SPEC).frame) == 1
    # each side lacks a different field: compared in the pass for both fields, which is two
    two = batch([{**ORIGINAL, "built_year": None}, {**RELISTED, "floor": None}])
    assert len(deduplicate(two, SPEC).frame) == 2
    missing_area = batch([ORIGINAL, {**RELISTED, "area": None}])
    assert len(deduplicate(missing_area, SPEC).frame) == 1
    area_and_floor = batch([ORIGINAL, {**RELISTED, "area": None, "floor": None}])
    assert len(deduplicate(area_and_floor, SPEC).frame) == 2


def test_a_record_missing_a_field_does_not_glue_two_different_flats() -> None:
    frame = batch(
        [
            {**ORIGINAL, "listing_id": "L-1", "floor": 1},
            {**RELISTED, "listing_id": "L-2", "floor": None},
            {"title": "Quiet 2-room flat in Mitte - must see", "listing_id": "L-3", "floor": 2},
        ]
    )
    result = deduplicate(frame, SPEC)
    assert dups(result) == [("L-2", "L-1", "near", "batch", "near")]
    assert keys(result.frame) == ["L-1", "L-3"]  # L-3 matches only L-2, a duplicate


def test_history_on_or_after_the_batch_date_is_ignored() -> None:
    frame = batch([{**RELISTED, "listing_id": "L-1"}])
    same_day = batch([{**ORIGINAL, "listing_id": "L-0"}, {**RELISTED, "listing_id": "L-1"}])
    result = deduplicate(frame, SPEC, same_day)  # e.g. the partition itself, already loaded
    assert keys(result.frame) == ["L-1"]
    assert result.duplicates.empty


def test_output_is_the_same_whatever_the_input_order() -> None:
    rows = [
        {**ORIGINAL, "listing_id": "L-1"},
        {**RELISTED, "listing_id": "L-3"},
        {"listing_id": "L-2", "city": "Leipzig", "district": "Zentrum"},
        {"listing_id": "L-2", "city": "Leipzig", "district": "Zentrum"},
    ]
    first = deduplicate(batch(rows), SPEC)
    shuffled = batch(rows).iloc[[3, 1, 2, 0]]
    second = deduplicate(shuffled.reset_index(drop=True), SPEC)
    assert keys(first.frame) == keys(second.frame) == ["L-1", "L-2"]
    pd.testing.assert_frame_equal(first.duplicates, second.duplicates)
    assert list(first.duplicates.columns) == DUPLICATE_COLUMNS
    assert first.frame["is_duplicate_of"].isna().all()


def test_no_match_fields_means_exact_duplicates_only() -> None:
    spec = make_spec(match_fields=[], title_field=None)
    assert len(deduplicate(batch([ORIGINAL, RELISTED]), spec).frame) == 2


def test_a_batch_without_record_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="record_key"):
        deduplicate(typed_frame([{}]), SPEC)


# --- evaluation ---------------------------------------------------------------------------------


def test_evaluate_dedup_counts_groups_not_exact_pairs() -> None:
    truth = {"A": None, "A1": "A", "A2": "A", "B": None, "C1": "C", "C2": "C"}
    # A1 -> A right; A2 -> A1 right (same flat); B -> A wrong; C2 -> C1 right (C not seen)
    score = evaluate_dedup([("A1", "A"), ("A2", "A1"), ("B", "A"), ("C2", "C1")], truth)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (3, 1, 0)
    assert score.precision == 0.75
    assert score.recall == 1.0
    missed = evaluate_dedup([("A1", "A")], truth)
    assert missed.recall == pytest.approx(1 / 3)
    assert missed.to_dict()["false_negatives"] == 2
    assert evaluate_dedup([], {"X": None}).precision == 1.0
