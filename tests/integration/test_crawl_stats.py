"""``crawl_stats`` keeps the crawl's records and repeated cards beside its cards seen, on
PostgreSQL and SQLite: a warehouse whose table predates the two columns is read by the app as it
is (read-only: a gap in the figure, no error), gets them from the migration every stage runs, and
stores them from the next crawl's report."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from harvest.app.views import completeness_figure
from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import load_spec
from harvest.storage.warehouse import Warehouse
from harvest.storage.warehouse.schema import CRAWL_STATS
from tests.unit.test_app_completeness import LIST_ONLY

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
OLD, NEW = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
ADDED = ("records", "cards_duplicate")


def test_crawl_stats_gain_records_and_repeated_cards(warehouse: Warehouse) -> None:
    metadata = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in CRAWL_STATS.c
        if c.name not in ADDED
    ]
    before = sa.Table(CRAWL_STATS.name, metadata, *columns)  # as created before the two
    old_row = {
        "source": "demo", "logical_date": OLD, "pages": 9, "failed_pages": 0,
        "ignored_pages": 0, "items": 9, "cards_seen": 8, "js_pages": 0, "cached_responses": 0,
        "requests_to_site": 9, "bytes": 900, "duration_seconds": 1.0,
        "finish_reason": "finished", "links_skipped": {}, "completeness_warnings": 0,
        "fields_regex_unmatched": {}, "crawled_at": dt.datetime(2026, 3, 2, 3, tzinfo=dt.UTC),
    }  # fmt: skip
    with warehouse.engine.begin() as conn:
        before.create(conn)
        conn.execute(sa.insert(before), [old_row])

    read = warehouse.crawl_stats("demo")  # the app's read, before any migration
    assert read["cards_seen"].tolist() == [8] and not set(ADDED) & set(read.columns)
    shown = {t.name: list(t.y) for t in completeness_figure(read).data}
    assert shown["records"] == [None] and shown["cards seen"] == [8]

    report = warehouse.migrate([SPEC])
    assert {f"crawl_stats.{c}" for c in ADDED} <= set(report.added_columns)
    warehouse.replace_crawl_stats("demo", NEW, LIST_ONLY.to_dict())

    read = warehouse.crawl_stats("demo")
    assert [d.isoformat() for d in read["logical_date"]] == ["2026-03-01", "2026-03-02"]
    shown = {t.name: list(t.y) for t in completeness_figure(read).data}
    assert shown["records"] == [None, LIST_ONLY.item_pages] == [None, 22]
    assert shown["cards seen"] == [8, 24] and shown["cards repeating an item"] == [None, 2]
    assert shown["failed pages"] == [0, 0]
    stored = warehouse.crawl_stats_row("demo", NEW)
    assert stored is not None
    assert (stored["items"], stored["records"], stored["cards_duplicate"]) == (3, 22, 2)
    assert warehouse.migrate([SPEC]).added_columns == []  # twice: nothing more to add
