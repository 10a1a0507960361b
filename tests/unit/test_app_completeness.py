"""The app's "Crawl completeness" figure sets the crawl's records against the cards it saw, one
unit whatever the source's shape: from the crawl's own stats (``CrawlResult.from_stats``) through
its ``crawl_stats`` row to the figure's plotted values; and the Partition funnel's records beside
its pages (a SQLite warehouse)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.app.views import completeness_figure, partition_detail
from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import load_spec
from harvest.crawler.completeness import stat_key
from harvest.scraping.runner import CrawlResult
from harvest.storage.warehouse import PartitionSummary, open_warehouse
from harvest.storage.warehouse.results import crawl_stats_row
from harvest.storage.warehouse.schema import CRAWL_STATS

DAY = dt.date(2026, 3, 1)


def crawl(level: str, *, pages: int, records: int, cards: int, repeats: int) -> CrawlResult:
    """A finished crawl's report from Scrapy stats as the spider keeps them: ``pages`` page
    items (each one raw document), ``records`` records (item pages + card items) and the
    completeness account of its one level."""
    stats: dict[str, Any] = {
        "finish_reason": "finished",
        "harvest/pages_ok": pages,
        "item_scraped_count": pages,
        "harvest/item_pages": records,
        stat_key(level, "pages"): pages,
        stat_key(level, "cards_seen"): cards,
        stat_key(level, "cards_duplicate"): repeats,
        stat_key(level, "records"): records,
    }
    return CrawlResult.from_stats(
        stats, source="demo", logical_date=DAY, documents=pages, raw_uri="file:///raw",
        duration_seconds=1.0, exit_code=0,
    )  # fmt: skip


# a list-only source: 3 list pages of cards, each card a record; page 3 repeats 2 cards of page 2
LIST_ONLY = crawl("rows", pages=3, records=22, cards=24, repeats=2)
# item pages: 1 list page of 8 cards, each linking its own item page (9 documents, 8 records)
DETAIL = crawl("list", pages=9, records=8, cards=8, repeats=0)
# quotes: 10 cards on 1 list page share 3 author pages, each card a record (4 documents)
SHARED = crawl("quotes", pages=4, records=10, cards=10, repeats=0)


def frame(*results: CrawlResult) -> pd.DataFrame:
    """The ``crawl_stats`` rows of consecutive nights, as the warehouse would return them."""
    rows = [
        crawl_stats_row("demo", DAY + dt.timedelta(days=i), r.to_dict())
        for i, r in enumerate(results)
    ]
    return pd.DataFrame(rows)


def plotted(crawls: pd.DataFrame) -> dict[str, list[Any]]:
    return {trace["name"]: list(trace["y"]) for trace in completeness_figure(crawls).data}


def test_the_report_carries_records_and_repeated_cards_into_crawl_stats() -> None:
    assert (LIST_ONLY.items, LIST_ONLY.item_pages, LIST_ONLY.cards_seen) == (3, 22, 24)
    assert LIST_ONLY.cards_duplicate == 2
    row = crawl_stats_row("demo", DAY, LIST_ONLY.to_dict())
    counts = [row[k] for k in ("items", "records", "cards_seen", "cards_duplicate")]
    assert counts == [3, 22, 24, 2]  # 3 documents, 22 records from 24 cards, 2 repeats


def test_a_list_only_crawl_plots_its_records_not_its_pages() -> None:
    shown = plotted(frame(LIST_ONLY))
    # 22 records from 24 cards of which 2 repeat an item: nothing lost, more records than pages
    assert shown["records"] == [22] and shown["cards seen"] == [24]
    assert shown["cards repeating an item"] == [2] and shown["failed pages"] == [0]
    assert shown["records"][0] == shown["cards seen"][0] - shown["cards repeating an item"][0]
    assert "items" not in shown and 3 not in shown["records"]


def test_crawls_with_item_pages_plot_a_record_per_card() -> None:
    shown = plotted(frame(DETAIL, SHARED))
    # 9 and 4 documents stored (the list page with its item pages): records match the cards
    assert shown["records"] == [8, 10] and shown["cards seen"] == [8, 10]
    assert shown["cards repeating an item"] == [0, 0]
    assert list(completeness_figure(frame(DETAIL, SHARED)).data[0].x) == [
        "2026-03-01",
        "2026-03-02",
    ]


def test_a_crawl_stored_before_the_records_were_kept_is_a_gap() -> None:
    old = {k: v for k, v in DETAIL.to_dict().items() if k not in ("item_pages", "cards_duplicate")}
    old = crawl_stats_row("demo", DAY, old)  # a report from before the two figures
    new = crawl_stats_row("demo", DAY + dt.timedelta(days=1), LIST_ONLY.to_dict())
    shown = plotted(pd.DataFrame([old, new]))
    assert shown["records"] == [None, 22] and shown["cards repeating an item"] == [None, 2]
    assert shown["cards seen"] == [8, 24]
    without = pd.DataFrame([old]).drop(columns=["records", "cards_duplicate"])  # not migrated
    assert plotted(without)["records"] == [None]


def test_the_partition_funnel_shows_the_crawls_records(tmp_path: Path) -> None:
    with open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}") as warehouse:
        warehouse.migrate([load_spec(PACKAGE_DIR / "sources" / "demo.yaml")])
        warehouse.record_partition(PartitionSummary("demo", DAY, 22, 20, 2, 0, 0, 20, True))
        warehouse.replace_crawl_stats("demo", DAY, LIST_ONLY.to_dict())
        detail = partition_detail(warehouse, "demo", DAY)
        assert detail is not None
        funnel = list(detail.counts.items())[:3]
        assert funnel == [("pages", 3), ("records", 22), ("scraped", 22)]
        with warehouse.engine.begin() as conn:  # a crawl stored before the records were kept
            conn.execute(sa.update(CRAWL_STATS).values(records=None))
        detail = partition_detail(warehouse, "demo", DAY)
        assert detail is not None and list(detail.counts)[:2] == ["pages", "scraped"]
