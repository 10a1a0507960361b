"""De-duplication on tiny frames: keys decide by default, re-listings only with a trained model.

The near-duplicate tests use the demo source's spec and its shipped labelled pairs
(``demo.dedup.json``): dedupe is trained on them once per test process.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harvest.cleaning import blocking, near
from harvest.cleaning.dedup import MATCH_COLUMNS, deduplicate
from harvest.cleaning.dedup_eval import evaluate_dedup
from harvest.cleaning.normalise import normalise_frame
from harvest.config.spec import SourceSpec, load_spec
from harvest.records import parse_records
from tests.unit.test_cleaning import make_spec, typed_frame

SPEC = make_spec()
DEMO = load_spec(Path(__file__).parents[2] / "include" / "harvest" / "sources" / "demo.yaml")
ORIGINAL = {"title": "Bright 2-room flat in Mitte", "area": 50.0}
RELISTED = {"title": "Cosy 2-room flat in Mitte (reposted)", "area": 50.4}


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
    assert result.dropped == {"duplicate_key": 1, "content_identical": 0, "near_duplicate": 0}
    assert result.pairs == []  # same key: not a pair of two listings


def test_exact_same_key_against_history() -> None:
    history = batch([{"listing_id": "L-7"}], day="2026-03-01")
    result = deduplicate(batch([{"listing_id": "L-7"}]), SPEC, history)
    assert result.frame.empty
    assert dups(result) == [("L-7", "L-7", "exact", "history", "key")]
    assert result.counts["exact_history"] == 1
    assert result.duplicates["matched_date"].tolist() == ["2026-03-01"]


def test_distinct_keys_are_never_merged_by_default() -> None:
    """Identical content, near-identical content: different keys are different records."""
    frame = batch([ORIGINAL, {}, RELISTED, {**RELISTED, "area": 50.0}])
    result = deduplicate(frame, SPEC)
    assert len(result.frame) == 4
    assert result.duplicates.empty
    assert result.near_status.startswith("exact-key only: the spec does not say re-listings")


def test_content_identical_records_with_other_keys_are_reported_not_dropped() -> None:
    frame = batch([{}, {}])  # listing ids L-0000 and L-0001, every other field equal
    result = deduplicate(frame, SPEC)
    assert keys(result.frame) == ["L-0000", "L-0001"]
    kept = result.kept_matches
    assert kept[["record_key", "is_duplicate_of", "rule", "action"]].values.tolist() == [
        ["L-0001", "L-0000", "content", "reported"]
    ]
    assert result.counts["reported"] == 1
    assert json.loads(kept["record"].iloc[0]) == json.loads(kept["matched_record"].iloc[0])


def test_content_identical_records_are_dropped_when_the_spec_asks() -> None:
    spec = make_spec(content_duplicates="drop")
    result = deduplicate(batch([{}, {}]), spec)
    assert keys(result.frame) == ["L-0000"]
    assert dups(result) == [("L-0001", "L-0000", "exact", "batch", "content")]
    assert result.dropped["content_identical"] == 1


def quotes_spec() -> SourceSpec:
    """A quotes site: a quote's page is its key; author and tags are all the spec extracts."""
    return SourceSpec.model_validate(
        {
            "name": "quotes",
            "base_url": "http://quotes.test",
            "start_urls": ["{base_url}/"],
            "index": {"detail_links": "a.quote"},
            "detail": {
                "key": "quote_id",
                "fields": {
                    "quote_id": {"from": "url", "regex": "/q/(\\d+)"},
                    "author": {"css": ".author::text"},
                    "tags": {"css": ".tag::text", "many": True},
                },
            },
        }
    )


def test_two_quotes_by_one_author_with_the_same_tags_are_both_kept() -> None:
    """The real-site case of issue 19: before, the content rule dropped one of them."""
    spec = quotes_spec()
    raw = pd.DataFrame(
        {
            "source": "quotes",
            "logical_date": "2026-03-01",
            "url": ["http://quotes.test/q/1", "http://quotes.test/q/2"],
            "quote_id": ["1", "2"],
            "author": ["Albert Einstein", "Albert Einstein"],
            "tags": ['["life", "simplicity"]', '["life", "simplicity"]'],
        }
    ).astype("string")
    frame = normalise_frame(parse_records(raw, spec).frame, spec).frame
    frame["record_key"] = frame["quote_id"]
    result = deduplicate(frame, spec)
    assert len(result.frame) == 2
    assert result.duplicates.empty
    assert result.counts["reported"] == 1  # said, not hidden


# --- near duplicates with the demo's trained model ---------------------------------------------

FLAT = {
    "title": "Bright 2-room flat in Mitte",
    "price": "€1.250 / month",
    "area": "54 m²",
    "rooms": "2",
    "floor": "3",
    "city": "Berlin",
    "district": "Mitte",
    "balcony": "yes",
    "built_year": "1998",
    "available_from": "2026-04-01",
}


def demo_frame(rows: list[dict[str, Any]], day: str = "2026-03-02") -> pd.DataFrame:
    data = [
        {"source": "demo", "logical_date": day, "url": f"http://demo.test/{r['listing_id']}", **r}
        for r in rows
    ]
    parsed = parse_records(pd.DataFrame(data).astype("string"), DEMO)
    frame = normalise_frame(parsed.frame, DEMO).frame
    frame["record_key"] = frame["listing_id"]
    return frame


def relisting(**change: str) -> dict[str, Any]:
    return {**FLAT, "title": "Cosy 2-room flat in Mitte (reposted)", **change}


def test_a_relisting_is_dropped_with_the_record_it_matched_and_the_score() -> None:
    frame = demo_frame(
        [
            {**FLAT, "listing_id": "L-20260302-0001"},
            {**relisting(area="581 sq ft"), "listing_id": "L-20260302-0002"},
        ]
    )
    result = deduplicate(frame, DEMO)
    assert keys(result.frame) == ["L-20260302-0001"]
    assert dups(result) == [("L-20260302-0002", "L-20260302-0001", "near", "batch", "near")]
    row = result.duplicates.iloc[0]
    assert row["score"] >= DEMO.dedup.threshold
    assert row["action"] == "dropped"
    assert json.loads(row["matched_record"])["title"] == "bright 2-room flat in mitte"
    assert list(result.duplicates.columns) == MATCH_COLUMNS
    assert "trained on" in result.near_status


def test_a_relisting_of_history_is_dropped() -> None:
    history = demo_frame([{**FLAT, "listing_id": "L-20260220-0009"}], day="2026-02-20")
    frame = demo_frame([{**relisting(), "listing_id": "L-20260302-0001"}])
    result = deduplicate(frame, DEMO, history)
    assert result.frame.empty
    assert dups(result) == [("L-20260302-0001", "L-20260220-0009", "near", "history", "near")]
    assert result.counts["near_history"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"price": "€1.320 / month"},  # another flat of the same size in the same block
        {"rooms": "3"},
        {"district": "Kreuzberg"},
        {"built_year": "1999"},
        {"available_from": "2026-04-02"},
    ],
)
def test_a_different_flat_is_kept(change: dict[str, str]) -> None:
    frame = demo_frame(
        [
            {**FLAT, "listing_id": "L-20260302-0001"},
            {**relisting(**change), "listing_id": "L-20260302-0002"},
        ]
    )
    result = deduplicate(frame, DEMO)
    assert len(result.frame) == 2, result.duplicates.to_dict("records")


def test_relistings_without_labelled_pairs_keep_exact_keys_only(tmp_path: Path) -> None:
    spec = DEMO.model_copy(
        update={"dedup": DEMO.dedup.model_copy(update={"training_file": str(tmp_path / "x.json")})}
    )
    frame = demo_frame([{**FLAT, "listing_id": "L-1"}, {**relisting(), "listing_id": "L-2"}])
    result = deduplicate(frame, spec)
    assert len(result.frame) == 2
    assert result.near_status.startswith("exact-key only: no labelled pairs")
    assert "harvest dedup label --source demo" in result.near_status


def test_too_few_labelled_pairs_say_how_many_are_needed(tmp_path: Path) -> None:
    path = tmp_path / "few.json"
    pairs = near.read_pairs(Path(DEMO.dedup.training_file or ""))
    near.write_pairs(path, {"match": pairs["match"][:3], "distinct": pairs["distinct"][:9]})
    spec = DEMO.model_copy(
        update={"dedup": DEMO.dedup.model_copy(update={"training_file": str(path)})}
    )
    status = near.load_matcher(spec)
    assert status.matcher is None
    assert "3 match and 9 distinct pairs" in status.status
    assert f"at least {near.MIN_PAIRS_PER_LABEL} of each" in status.status


def test_a_training_file_that_is_not_dedupes_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(near.TrainingPairsError, match=r"bad\.json"):
        near.read_pairs(path)


def test_rerunning_a_date_gives_the_same_drops() -> None:
    rows = [
        {**FLAT, "listing_id": "L-20260302-0001"},
        {**relisting(), "listing_id": "L-20260302-0003"},
        {**relisting(price="€1.320 / month"), "listing_id": "L-20260302-0002"},
        {**FLAT, "listing_id": "L-20260302-0001"},
    ]
    history = demo_frame([{**FLAT, "listing_id": "L-20260301-0005", "rooms": "4"}], "2026-03-01")
    first = deduplicate(demo_frame(rows), DEMO, history)
    again = deduplicate(demo_frame(rows[::-1]), DEMO, history)
    assert keys(first.frame) == keys(again.frame) == ["L-20260302-0001", "L-20260302-0002"]
    pd.testing.assert_frame_equal(first.duplicates, again.duplicates)
    pd.testing.assert_frame_equal(first.kept_matches, again.kept_matches)


def test_history_on_or_after_the_batch_date_is_ignored() -> None:
    frame = demo_frame([{**relisting(), "listing_id": "L-1"}])
    same_day = demo_frame([{**FLAT, "listing_id": "L-0"}, {**relisting(), "listing_id": "L-1"}])
    result = deduplicate(frame, DEMO, same_day)  # e.g. the partition itself, already loaded
    assert keys(result.frame) == ["L-1"]
    assert result.duplicates.empty


def test_a_batch_without_record_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="record_key"):
        deduplicate(typed_frame([{}]), SPEC)


# --- blocking ----------------------------------------------------------------------------------


def test_blocking_pairs_agree_on_every_field_both_have() -> None:
    codes = np.array(
        [
            [1, 1, 1],  # 0
            [1, 1, 1],  # 1: same as 0
            [1, -1, 1],  # 2: one missing, agrees with 0 and 1
            [1, -1, -1],  # 3: two missing
            [2, 1, 1],  # 4: another block
        ]
    )
    new = np.array([False, True, True, True, True])
    earlier, later = blocking.candidate_pairs(codes, new, max_missing=1)
    assert list(zip(earlier.tolist(), later.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]
    earlier, later = blocking.candidate_pairs(codes, new, max_missing=2)
    assert (0, 3) in zip(earlier.tolist(), later.tolist(), strict=True)
    assert 4 not in later.tolist()


def _pairs_by_definition(
    codes: np.ndarray,
    new: np.ndarray,
    max_missing: int,
    rank: np.ndarray | None = None,
    window: int | None = None,
) -> list[Any]:
    """Every pair checked one by one against blocking's definition (the reference): equal on
    every block field both have, at most ``max_missing`` missing between them, the later one
    new; with a ``window``, fewer than ``window`` records of their block strictly between the
    two in ``rank`` order (their block: the records lacking nothing but what the two lack
    between them, and equal to them on every other field)."""
    rank = np.arange(len(codes)) if rank is None else rank
    missing = codes < 0

    def near(x: int, y: int, lacking: np.ndarray) -> bool:
        if window is None:
            return True
        low, high = sorted((rank[x], rank[y]))
        block = [
            c
            for c in range(len(codes))
            if not (missing[c] & ~lacking).any()
            and (codes[c][~lacking] == codes[x][~lacking]).all()
        ]
        return sum(low < rank[c] < high for c in block) < window

    found = []
    for later in range(len(codes)):
        for earlier in range(later):
            a, b = codes[earlier], codes[later]
            lacking = (a < 0) | (b < 0)
            if not new[later] or lacking.sum() > max_missing or lacking.all():
                continue
            if (a[~lacking] == b[~lacking]).all() and near(earlier, later, lacking):
                found.append((earlier, later))
    return found


def test_blocking_pairs_are_exactly_the_pairs_of_the_definition() -> None:
    rng = np.random.default_rng(3)
    for _ in range(150):
        n, width = int(rng.integers(0, 40)), int(rng.integers(0, 5))
        codes = rng.integers(-1, 3, (n, width)).astype(np.int64)
        new = rng.random(n) < 0.6
        max_missing = int(rng.integers(0, 4))
        earlier, later = blocking.candidate_pairs(codes, new, max_missing)
        got = list(zip(earlier.tolist(), later.tolist(), strict=True))
        assert got == _pairs_by_definition(codes, new, max_missing), (codes, new, max_missing)


def earlier_all(codes: np.ndarray, new: np.ndarray, max_missing: int) -> np.ndarray:
    return blocking.candidate_pairs(codes, new, max_missing)[0]


def test_windowed_blocking_pairs_are_exactly_the_pairs_of_the_definition() -> None:
    """The sorted neighbourhood within blocks, on blocks larger than the window."""
    rng = np.random.default_rng(5)
    windowed, every = 0, 0
    for _ in range(150):
        n, width = int(rng.integers(0, 40)), int(rng.integers(1, 4))
        codes = rng.integers(-1, 2, (n, width)).astype(np.int64)
        new = rng.random(n) < 0.6
        max_missing = int(rng.integers(0, 3))
        rank, window = rng.permutation(n).astype(np.int64), int(rng.integers(1, 4))
        earlier, later = blocking.candidate_pairs(codes, new, max_missing, rank, window)
        got = list(zip(earlier.tolist(), later.tolist(), strict=True))
        want = _pairs_by_definition(codes, new, max_missing, rank, window)
        assert got == want, (codes, new, max_missing, rank, window)
        windowed, every = windowed + len(got), every + len(earlier_all(codes, new, max_missing))
    assert windowed < 0.8 * every  # the window binds: the test can tell the two apart


def test_digits_of_agreement_spreads_close_numbers() -> None:
    assert near.digits_of_agreement(1250.0, 1250.0) == pytest.approx(4.0)
    assert near.digits_of_agreement(1250.0, 1262.5) == pytest.approx(2.0, abs=0.01)
    assert near.digits_of_agreement(0.0, 0.0) == pytest.approx(4.0)


def test_record_values_are_in_their_compared_form() -> None:
    frame = demo_frame([{**FLAT, "listing_id": "L-1", "city": " BERLIN "}])
    record = near.records(frame, DEMO)[0]
    assert record["city"] == "berlin"
    assert record["available_from"] == "2026-04-01"
    assert record["rooms"] == "2"
    assert record["balcony"] == "true"
    assert record["price"] == pytest.approx(1250.0)  # the converted price_eur column
    assert dt.date.fromisoformat(record["available_from"])


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
