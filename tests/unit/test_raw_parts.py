"""A raw partition extracted part by part (the Dask path's input): the raw store streams it, no
part holds more than its rows, and the parts are exactly ``extract_records`` of the whole,
items reached under several URLs (redirects) resolved across parts as on the whole."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import load_spec
from harvest.records import RecordExtraction, extract_records, item_identity_urls
from harvest.storage.raw import FileRawStore, RawDocument
from harvest.text import TextRepairs
from harvest.validation.raw_parts import stage_raw_parts

DAY = dt.date(2026, 11, 26)
SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")


def page(
    i: int, *, final: int | None = None, key: int | None = None, **kind: object
) -> RawDocument:
    url = f"http://s/listing/{i:04d}"
    return RawDocument(
        source=SPEC.name,
        logical_date=DAY.isoformat(),
        url=url,
        status=200,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type=str(kind.get("page_type", "detail")),
        fields={"listing_id": f"L-{key if key is not None else i:04d}", "title": f"flat {i}"},
        final_url=None if final is None else f"http://s/listing/{final:04d}",
        records=list(kind.get("records", [])),  # type: ignore[call-overload]
    )


def partition() -> list[RawDocument]:
    """60 item pages and a list page of 7 cards: page 2 is reached again from 41, 57 and 90
    (redirects, the same key: one record, page 2's), page 50 redirects to 5, page 30 to 59
    with another key (two records), page 1 to 58 (one record, page 58's, at page 1's place:
    a part written before page 58 is read gets it), a failed page with no fields (no record),
    a later list page naming an earlier card of the first one (its values win)."""
    docs = [page(i) for i in range(60) if i not in (1, 30, 41, 50, 57)]
    docs += [page(41, final=2, key=2), page(57, final=2, key=2), page(90, final=2, key=2)]
    docs += [page(50, final=5, key=5), page(30, final=59, key=999), page(1, final=58, key=58)]
    cards = [{"listing_id": f"C-{n}", "title": f"card {n}"} for n in range(7)]
    docs.append(page(70, page_type="index", records=cards))
    docs.append(replace(page(80), error="HTTP 500", fields={}))
    earlier = {"of": "http://s/listing/0070", "card": 2, "at": [0, "http://s/a", 1]}
    earlier["fields"] = {"listing_id": "C-1", "title": "the card met first"}
    docs.append(replace(page(71, page_type="index"), earlier_cards=[earlier]))
    return sorted(docs, key=lambda d: d.url)


@pytest.mark.parametrize("part_rows", [1, 7, 10, 1000])
def test_the_parts_are_extract_records_of_the_whole_cut_in_parts(
    tmp_path: Path, part_rows: int
) -> None:
    docs = partition()
    store = FileRawStore(tmp_path / "raw")
    store.upsert_many(docs)
    want_same: list[str] = []
    want = extract_records(docs, SPEC, TextRepairs(), want_same)

    got_same: list[str] = []
    parts = stage_raw_parts(store, SPEC, DAY, tmp_path / "work", part_rows, TextRepairs(), got_same)
    frames = [pd.read_parquet(p) for p in parts.paths]
    assert parts.rows == len(want) == sum(map(len, frames))
    assert max(map(len, frames)) <= part_rows, "a part holds more than its rows"
    assert len(frames) == -(-len(want) // part_rows)
    got = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    assert "the card met first" in set(got["title"])
    assert got_same == want_same and len(want_same) == 5, want_same
    assert "listing/0001 (ended at http://s/listing/0058, as http://s/listing/0058 did)" in "".join(
        got_same
    )
    assert list(parts.meta.columns) == list(want.columns) and parts.meta.empty


def test_the_extraction_remembers_only_the_shared_urls(tmp_path: Path) -> None:
    """What one process holds: a part's rows and the few record URLs two pages may share."""
    docs = partition()
    shared = item_identity_urls(docs)
    assert len(shared) == 4
    extraction = RecordExtraction(SPEC, shared=shared)
    taken = []
    for doc in docs:
        extraction.add(doc)
        if len(extraction.rows) >= 5:
            taken.append(extraction.take(5))
    assert len(extraction._items) == 5  # the shared URLs' items, not all 60
    assert max(map(len, taken)) == 5
    assert list(extraction.replaced) == [1]  # page 58's row, to page 1's place (taken)


def test_the_file_store_streams_a_partition_in_url_order(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path / "raw")
    docs = partition()
    store.upsert_many(list(reversed(docs)))
    assert list(store.iter_partition(SPEC.name, DAY)) == store.read_partition(SPEC.name, DAY)
    assert store.count(SPEC.name, DAY) == len(docs)
    assert list(store.iter_partition(SPEC.name, DAY + dt.timedelta(days=1))) == []
    path = store.path(SPEC.name, DAY)  # a file edited out of order is named, not misread
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([lines[1], lines[0], *lines[2:]]), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"line 2: .* after .*URL order"):
        list(store.iter_partition(SPEC.name, DAY))


def test_lines_decode_as_json_reads_them_and_light_ones_keep_what_a_pass_needs(
    tmp_path: Path,
) -> None:
    """msgspec (fast) gives the documents json gives, a lone surrogate's escape included (msgspec
    refuses it: json reads it); a light document keeps URLs, status, listing, earlier cards, the
    number of cards, the renderer and a failed page's fields, and drops the rest."""
    store = FileRawStore(tmp_path / "raw")
    odd = replace(page(3), fields={"listing_id": "L-0003", "title": "flat \ud800 3"})
    failed = replace(page(80), error="HTTP 500", fields={"title": None}, body="<html>")
    rendered = replace(page(4), rendered_with="chromium")
    docs = [*partition(), odd, failed, rendered]
    store.upsert_many(docs)
    whole = store.read_partition(SPEC.name, DAY)
    assert list(store.iter_partition(SPEC.name, DAY)) == whole
    light = list(store.iter_partition(SPEC.name, DAY, light=True))
    assert [d.url for d in light] == [d.url for d in whole]
    for full, thin in zip(whole, light, strict=True):
        assert (thin.final_url, thin.status, thin.page_type) == (
            full.final_url,
            full.status,
            full.page_type,
        )
        assert (thin.listing, thin.earlier_cards) == (full.listing, full.earlier_cards)
        assert thin.rendered_with == full.rendered_with  # a re-run's report counts JS pages
        assert len(thin.records) == len(full.records) and thin.body is None
        assert thin.fields == (full.fields if full.error else {})
    assert any(d.error for d in light) and any(d.records for d in light)
    assert any(d.rendered_with == "chromium" for d in light)


def test_odd_text_decodes_by_msgspec_to_the_records_of_the_json_path(tmp_path: Path) -> None:
    """Decomposed (NFD) and composed (NFC) accents, NUL characters and a 5 MB value, in item
    pages and in cards: the parts (the file store's lines decoded by msgspec, streamed) are the
    records of the documents themselves and of the store's whole read (json), value for value
    (the text repairs too): nothing normalised on one path only, nothing cut, nothing lost."""
    nfc, nfd = "Caf\u00e9 Cr\u00e8me", "Cafe\u0301 Cre\u0300me"
    huge = "m\u00b2 " * (5 * 1024 * 1024 // 4)  # 5 MB of UTF-8
    odd = {
        3: {"listing_id": "L-0003", "title": nfc},
        4: {"listing_id": "L-0004", "title": nfd},
        5: {"listing_id": "L-0005", "title": "flat\x00 5\x00"},
        6: {"listing_id": "L-0006", "title": huge},
    }
    cards = [{"listing_id": "C-nfd", "title": nfd}, {"listing_id": "C-nul", "title": "a\x00b"}]
    docs = [replace(page(i), fields=odd[i]) if i in odd else page(i) for i in range(8)]
    docs.append(page(70, page_type="index", records=cards))
    store = FileRawStore(tmp_path / "raw")
    store.upsert_many(docs)
    assert store.path(SPEC.name, DAY).stat().st_size > 5 * 1024 * 1024
    want_repairs, stored_repairs, got_repairs = TextRepairs(), TextRepairs(), TextRepairs()
    want = extract_records(docs, SPEC, want_repairs, [])
    stored = extract_records(store.read_partition(SPEC.name, DAY), SPEC, stored_repairs, [])
    parts = stage_raw_parts(store, SPEC, DAY, tmp_path / "work", 3, got_repairs, [])
    got = pd.concat([pd.read_parquet(p) for p in parts.paths], ignore_index=True)
    pd.testing.assert_frame_equal(stored, want)
    pd.testing.assert_frame_equal(got, want)
    assert got_repairs.counts == want_repairs.counts == stored_repairs.counts
    # one stored form: NFC, NUL removed, each repair counted; the huge value whole
    assert got_repairs.to_dict() == {"nul_removed": 2, "recomposed": 2}
    titles = dict(zip(got["listing_id"], got["title"], strict=True))
    assert titles["L-0003"] == titles["L-0004"] == titles["C-nfd"] == nfc
    assert (titles["L-0005"], titles["C-nul"]) == ("flat 5", "ab")
    assert titles["L-0006"].strip() == huge.strip() and len(got) == 8 + len(cards)
