"""Raw store: upserts by (source, logical date, URL) never duplicate, in both backends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harvest.storage.raw import FileRawStore, RawDocument, content_hash, open_raw_store
from harvest.storage.raw_mongo import MongoRawStore


def _doc(
    url: str, *, day: str = "2026-11-26", price: str = "1250 EUR", status: int = 200
) -> RawDocument:
    body = f"<html>{url} {price}</html>"
    return RawDocument(
        source="demo",
        logical_date=day,
        url=url,
        status=status,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type="detail",
        content_hash=content_hash(body),
        fields={"price": price},
        body=body,
    )


@pytest.fixture(params=["file", "mongo"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "file":
        yield FileRawStore(tmp_path / "raw")
    else:
        client, name = request.getfixturevalue("mongo_client")
        yield MongoRawStore(client, database=name)


def test_upsert_is_idempotent_and_replaces(store) -> None:
    docs = [_doc(f"http://s/listing/{i}") for i in range(5)]
    assert store.upsert_many(docs) == 5
    assert store.upsert_many(docs) == 5
    assert store.count("demo", dt.date(2026, 11, 26)) == 5
    store.upsert_many([_doc("http://s/listing/2", price="1300 EUR")])
    rows = store.read_partition("demo", dt.date(2026, 11, 26))
    assert [r.url for r in rows] == sorted(d.url for d in docs)
    assert len(rows) == 5
    assert next(r for r in rows if r.url.endswith("/2")).fields == {"price": "1300 EUR"}
    assert rows[0] == docs[0]


def test_partitions_are_separate(store) -> None:
    store.upsert_many([_doc("http://s/a"), _doc("http://s/a", day="2026-11-25")])
    assert store.count("demo", dt.date(2026, 11, 26)) == 1
    assert store.count("demo", dt.date(2026, 11, 25)) == 1
    assert store.delete_partition("demo", dt.date(2026, 11, 25)) == 1
    assert store.count("demo", dt.date(2026, 11, 25)) == 0
    assert store.count("demo", dt.date(2026, 11, 26)) == 1
    assert store.upsert_many([]) == 0


def test_failed_pages_are_kept(store) -> None:
    failed = _doc("http://s/listing/9", status=503)
    failed.error = "HTTP 503 after 3 retries"
    failed.body = None
    store.upsert_many([failed])
    (row,) = store.read_partition("demo", dt.date(2026, 11, 26))
    assert row.status == 503
    assert row.error == "HTTP 503 after 3 retries"


def test_mongo_unique_index(mongo_client) -> None:
    client, name = mongo_client
    store = MongoRawStore(client, database=name)
    info = store.collection.index_information()
    assert info["partition_url"]["unique"] is True


def test_file_store_writes_atomically(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path)
    store.upsert_many([_doc("http://s/b"), _doc("http://s/a")])
    path = store.path("demo", dt.date(2026, 11, 26))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == ["http://s/a", "http://s/b"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    assert store.uri("demo", dt.date(2026, 11, 26)).startswith("file://")


def test_open_raw_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_raw_store(f"file://{tmp_path}"), FileRawStore)
    with pytest.raises(ValueError, match="unsupported scheme 'ftp'"):
        open_raw_store("ftp://example/raw")


def test_deferred_file_store_writes_each_partition_once_at_commit(tmp_path: Path) -> None:
    store = open_raw_store(f"file://{tmp_path}", deferred=True)
    assert isinstance(store, FileRawStore)
    store.upsert_many([_doc("http://s/a")])
    store.upsert_many([_doc("http://s/b"), _doc("http://s/a", price="900 EUR")])
    path = store.path("demo", dt.date(2026, 11, 26))
    assert not path.exists()  # nothing on disk until the crawl ends
    assert store.count("demo", dt.date(2026, 11, 26)) == 2  # but the store sees its own writes
    assert store.commit("demo", dt.date(2026, 11, 26)) == 2
    store.close()
    rows = FileRawStore(tmp_path).read_partition("demo", dt.date(2026, 11, 26))
    assert [(r.url, r.fields["price"]) for r in rows] == [
        ("http://s/a", "900 EUR"),
        ("http://s/b", "1250 EUR"),
    ]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no journal, no temp file


def test_a_committed_crawl_replaces_the_partition_on_disk(tmp_path: Path) -> None:
    FileRawStore(tmp_path).upsert_many([_doc("http://s/old"), _doc("http://s/a")])
    store = FileRawStore(tmp_path, deferred=True)
    store.upsert_many([_doc("http://s/a", price="1 EUR"), _doc("http://s/new")])
    assert (
        store.count("demo", dt.date(2026, 11, 26)) == 2
    )  # what the commit will make the partition
    assert (
        FileRawStore(tmp_path).count("demo", dt.date(2026, 11, 26)) == 2
    )  # readers: still the old one
    store.commit("demo", dt.date(2026, 11, 26))
    store.close()
    rows = {
        r.url: r.fields["price"]
        for r in FileRawStore(tmp_path).read_partition("demo", dt.date(2026, 11, 26))
    }
    assert rows == {"http://s/a": "1 EUR", "http://s/new": "1250 EUR"}


def test_a_completed_crawl_that_wrote_nothing_leaves_an_empty_partition(tmp_path: Path) -> None:
    FileRawStore(tmp_path).upsert_many([_doc("http://s/old")])
    store = FileRawStore(tmp_path, deferred=True)
    assert store.commit("demo", dt.date(2026, 11, 26)) == 0
    assert FileRawStore(tmp_path).count("demo", dt.date(2026, 11, 26)) == 0
    with pytest.raises(RuntimeError, match=r"2026-11-26\.jsonl: commit\(\) needs a crawl's store"):
        FileRawStore(tmp_path).commit("demo", dt.date(2026, 11, 26))


def test_an_unsupported_url_is_named_without_its_password() -> None:
    with pytest.raises(
        ValueError, match=r"'ftp://harvest:\*\*\*@host/raw': unsupported scheme"
    ) as raised:
        open_raw_store("ftp://harvest:s3cret@host/raw")
    assert "s3cret" not in str(raised.value)


def test_deferred_file_store_journals_every_batch_so_a_killed_crawl_keeps_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    FileRawStore(tmp_path).upsert_many([_doc("http://s/previous")])
    store = FileRawStore(tmp_path, deferred=True)
    store.upsert_many([_doc("http://s/a"), _doc("http://s/b")])
    store.upsert_many([_doc("http://s/c")])
    store.close()  # closed without a commit, as a killed or interrupted crawl is
    journal = store.journal_path("demo", dt.date(2026, 11, 26))
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 3  # its batches are on disk
    partition = FileRawStore(tmp_path).read_partition("demo", dt.date(2026, 11, 26))
    assert [r.url for r in partition] == ["http://s/previous"]  # readers see the previous one

    rerun = FileRawStore(tmp_path, deferred=True)  # the next crawl starts afresh
    rerun.upsert_many([_doc("http://s/b", price="1 EUR")])
    assert "left 3 documents in its journal; this crawl starts afresh" in caplog.text
    rerun.commit("demo", dt.date(2026, 11, 26))
    rerun.close()
    rows = {
        r.url: r.fields["price"]
        for r in FileRawStore(tmp_path).read_partition("demo", dt.date(2026, 11, 26))
    }
    assert rows == {"http://s/b": "1 EUR"}
    assert not journal.exists()


def test_mongo_commit_removes_what_an_earlier_crawl_wrote_and_this_one_did_not(
    mongo_client,
) -> None:
    client, name = mongo_client
    first = MongoRawStore(client, database=name)
    first.upsert_many(
        [_doc("http://s/a"), _doc("http://s/b"), _doc("http://s/a", day="2026-11-25")]
    )
    first.commit("demo", dt.date(2026, 11, 26))
    rerun = MongoRawStore(client, database=name)
    rerun.upsert_many([_doc("http://s/b", price="1 EUR"), _doc("http://s/c")])
    # interrupted here (no commit): the earlier crawl's pages stay beside the re-run's
    assert [r.url for r in rerun.read_partition("demo", dt.date(2026, 11, 26))] == [
        "http://s/a",
        "http://s/b",
        "http://s/c",
    ]
    assert rerun.commit("demo", dt.date(2026, 11, 26)) == 2
    rows = {r.url: r.fields["price"] for r in rerun.read_partition("demo", dt.date(2026, 11, 26))}
    assert rows == {"http://s/b": "1 EUR", "http://s/c": "1250 EUR"}
    assert rerun.count("demo", dt.date(2026, 11, 25)) == 1  # another partition is not touched


def test_deleting_a_deferred_partition_removes_its_journal(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path, deferred=True)
    store.upsert_many([_doc("http://s/a")])
    assert store.delete_partition("demo", dt.date(2026, 11, 26)) == 1
    assert not store.journal_path("demo", dt.date(2026, 11, 26)).exists()
    store.close()
    assert not store.path("demo", dt.date(2026, 11, 26)).exists()


def test_a_commit_finds_each_pages_newest_line_by_bytes_whatever_its_characters(
    tmp_path: Path,
) -> None:
    """The journal's index holds byte offsets: multi-byte characters and a surrogate (written
    with ASCII escapes) before a page's newest line must not shift it."""
    store = FileRawStore(tmp_path, deferred=True)
    wide = _doc("http://s/a", price="München € 1 250")
    odd = _doc("http://s/b")
    odd.fields["price"] = "broken \ud800 text"  # a surrogate: this line is ASCII-escaped
    store.upsert_many([wide, odd, _doc("http://s/c")])
    store.upsert_many([_doc("http://s/b", price="ünïcödé"), _doc("http://s/d", price="日本")])
    assert store.commit("demo", dt.date(2026, 11, 26)) == 4
    rows = FileRawStore(tmp_path).read_partition("demo", dt.date(2026, 11, 26))
    assert [(r.url, r.fields["price"]) for r in rows] == [
        ("http://s/a", "München € 1 250"),
        ("http://s/b", "ünïcödé"),
        ("http://s/c", "1250 EUR"),
        ("http://s/d", "日本"),
    ]
