"""Text is stored in one form: NFC, no NUL, no lone surrogates (issue 7, items 6 and 7).

Extraction is where text enters; these tests feed raw pages through the real extraction,
parsing and de-duplication, so the same title typed two ways is one record.
"""

from __future__ import annotations

import logging
import unicodedata

import pandas as pd
import pytest

from harvest.cleaning.stage import clean_frame
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.records import extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.text import TextRepairs, normalise_text

SPEC = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
TITLE = "Schöne Wohnung in Köln-Südstadt"
NFD = unicodedata.normalize("NFD", TITLE)


def _doc(day: str, listing_id: str, **fields: str) -> RawDocument:
    values = {
        "listing_id": listing_id,
        "title": TITLE,
        "price": "850 €",
        "area": "54 m²",
        "rooms": "2",
        "floor": "3",
        "city": "Köln",
        "district": "Südstadt",
        "built_year": "1961",
        **fields,
    }
    return RawDocument(
        source="demo",
        logical_date=day,
        url=f"http://example.test/{listing_id}",
        status=200,
        fetched_at=f"{day}T02:00:00+00:00",
        page_type="detail",
        fields=values,
    )


def _cleaned(*docs: RawDocument, history: list[RawDocument] | None = None) -> pd.DataFrame:
    parsed = parse_records(extract_records(docs, SPEC), SPEC)
    assert parsed.issues.empty
    old = None
    if history:
        old = parse_records(extract_records(history, SPEC), SPEC).frame
        old["record_key"] = old["listing_id"]
    cleaned, _, _, _ = clean_frame(parsed.frame, SPEC, old)
    return cleaned


def test_nfd_assumption() -> None:
    assert NFD != TITLE and len(NFD) > len(TITLE)  # the test below means something


def test_the_same_title_in_nfd_and_nfc_is_one_record() -> None:
    nfc = _doc("2026-03-02", "L-20260302-0001")
    nfd = _doc(
        "2026-03-02",
        "L-20260302-0002",
        title=NFD,
        city=unicodedata.normalize("NFD", "Köln"),
        district=unicodedata.normalize("NFD", "Südstadt"),
    )
    cleaned = _cleaned(nfc, nfd)
    assert cleaned["listing_id"].tolist() == ["L-20260302-0001"]
    assert cleaned["title"].tolist() == [TITLE]


def test_a_relisting_typed_in_nfd_is_a_near_duplicate() -> None:
    first = _doc("2026-03-02", "L-20260302-0001")
    again = _doc("2026-03-02", "L-20260302-0009", title=f"{NFD} (neu eingestellt)", area="54.3 m²")
    assert _cleaned(first, again)["listing_id"].tolist() == ["L-20260302-0001"]


def test_history_stored_decomposed_still_matches_folded() -> None:
    """Rows loaded before normalisation existed may be NFD; matching folds case and accents."""
    old = _doc("2026-03-01", "L-20260301-0004")
    old.fields["title"] = NFD.upper()
    history = parse_records(extract_records([old], SPEC), SPEC).frame
    history["title"] = NFD.upper()  # as it was stored, not as extraction would store it now
    history["record_key"] = history["listing_id"]
    batch = parse_records(extract_records([_doc("2026-03-02", "L-20260302-0001")], SPEC), SPEC)
    cleaned, duplicates, counts, _ = clean_frame(batch.frame, SPEC, history)
    assert cleaned.empty
    assert counts["near_history"] == 1
    assert duplicates["is_duplicate_of"].tolist() == ["L-20260301-0004"]


@pytest.mark.parametrize(
    ("raw", "stored", "repairs"),
    [
        ("plain ascii", "plain ascii", {}),
        (NFD, TITLE, {"recomposed": 1}),
        ("a\x00b\x00", "ab", {"nul_removed": 1}),
        (
            "lone \ud800 high, \udfff low",
            "lone \ufffd high, \ufffd low",
            {"surrogates_repaired": 1},
        ),
        ("pair \ud83d\ude00", "pair \U0001f600", {"surrogates_repaired": 1}),
        (
            "\x00Ko\u0308ln\ud800",
            "Köln\ufffd",
            {"nul_removed": 1, "surrogates_repaired": 1, "recomposed": 1},
        ),
        ("o\x00\u0308", "ö", {"nul_removed": 1, "recomposed": 1}),
        ('tab\tnew\nline\r\n\\ "q" ,', 'tab\tnew\nline\r\n\\ "q" ,', {}),
    ],
)
def test_normalise_text(raw: str, stored: str, repairs: dict[str, int]) -> None:
    counted = TextRepairs()
    assert normalise_text(raw, counted) == stored
    assert counted.to_dict() == repairs
    assert normalise_text(stored) == stored  # idempotent


def test_extraction_normalises_every_string_and_reports_what_it_repaired(
    caplog: pytest.LogCaptureFixture,
) -> None:
    doc = _doc("2026-03-02", "L-20260302-0001", title="Sch\x00o\u0308ne", district="S\ud800")
    doc.url = "http://example.test/a\x00"
    repairs = TextRepairs()
    with caplog.at_level(logging.WARNING, logger="harvest.records"):
        frame = extract_records([doc], SPEC, repairs=repairs)
    assert frame.loc[0, "title"] == "Schöne"
    assert frame.loc[0, "district"] == "S\ufffd"
    assert frame.loc[0, "url"] == "http://example.test/a"
    assert repairs.to_dict() == {"nul_removed": 2, "surrogates_repaired": 1, "recomposed": 1}
    assert "2 value(s) held NUL" in caplog.text and "source demo" in caplog.text
