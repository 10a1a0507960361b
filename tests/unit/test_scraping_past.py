"""Re-running the past (issue 18): what the scrape stage does with a partition, by the rule of
:mod:`harvest.scraping.past` (the site can only be observed as it is today)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from harvest.config.spec import SourceSpec
from harvest.scraping.past import GRACE, PastNotObservable, dated, plan_crawl

DAY = dt.date(2026, 11, 23)
END = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # the interval of 0 3 * * * on DAY
TONIGHT = END + dt.timedelta(minutes=5)
LATER = END + GRACE + dt.timedelta(days=10)


def spec(start_url: str = "{base_url}/catalogue/", **crawl: Any) -> SourceSpec:
    return SourceSpec.model_validate(
        {
            "name": "shop",
            "base_url": "http://127.0.0.1:8000",
            "start_urls": [start_url],
            "index": {"detail_links": "a"},
            "detail": {"key": "id", "fields": {"id": {"css": "h1"}}},
            "crawl": crawl,
        }
    )


def test_the_first_crawl_and_a_retry_of_tonight_crawl() -> None:
    assert plan_crawl(spec(), DAY, END, TONIGHT, stored_pages=0, loaded=False).action == "crawl"
    retry = plan_crawl(spec(), DAY, END, TONIGHT, stored_pages=40, loaded=False)
    assert (retry.action, retry.observed_on) == ("crawl", None)


@pytest.mark.parametrize("now", [TONIGHT, LATER], ids=["tonight", "ten days later"])
def test_a_rerun_of_a_loaded_date_reprocesses_its_stored_pages(now: dt.datetime) -> None:
    plan = plan_crawl(spec(), DAY, END, now, stored_pages=40, loaded=True)
    assert plan.action == "reuse"
    assert plan.reason == "a re-run of a loaded date: the records of its 40 stored pages are reused"


def test_a_past_date_crawled_before_is_reprocessed_even_if_never_loaded() -> None:
    plan = plan_crawl(spec(), DAY, END, LATER, stored_pages=40, loaded=False)
    assert plan.action == "reuse" and plan.reason.startswith("a past date crawled before")


def test_a_past_dated_crawl_that_fetched_nothing_is_asked_again_not_reused() -> None:
    """A backfill's crawl that found the site down stored only failed pages: its retry asks the
    site again for that date (else no retry could ever help); a loaded date, tonight's retry and
    an undated source keep their rule."""
    dated_spec = spec("{base_url}/listings/{date}")
    again = plan_crawl(dated_spec, DAY, END, LATER, stored_pages=1, loaded=False, all_failed=True)
    assert again.action == "crawl" and again.reason == (
        "its 1 stored pages all failed: the site is asked again"
    )
    loaded = plan_crawl(dated_spec, DAY, END, LATER, stored_pages=1, loaded=True, all_failed=True)
    assert loaded.action == "reuse"
    undated = plan_crawl(spec(), DAY, END, LATER, stored_pages=1, loaded=False, all_failed=True)
    assert undated.action == "reuse", "today's pages are not that date's"
    some = plan_crawl(dated_spec, DAY, END, LATER, stored_pages=2, loaded=False)
    assert some.action == "reuse"


def test_a_catalogue_backfilled_for_a_date_never_crawled_cannot_observe_the_past() -> None:
    with pytest.raises(PastNotObservable) as refused:
        plan_crawl(spec(), DAY, END, LATER, stored_pages=0, loaded=False)
    message = str(refused.value)
    assert message.startswith("source shop, date 2026-11-23: cannot observe the past.")
    assert "--recrawl" in message and '{"recrawl": true}' in message
    assert "crawl.recrawl_past: true" in message
    assert not PastNotObservable.retryable


def test_an_undated_listings_source_follows_the_same_rule() -> None:
    listings = spec("{base_url}/jobs/")
    assert listings.mode == "listings" and not dated(listings)
    with pytest.raises(PastNotObservable):
        plan_crawl(listings, DAY, END, LATER, stored_pages=0, loaded=False)


def test_a_source_whose_urls_carry_the_date_asks_the_site_for_it() -> None:
    listings = spec("{base_url}/listings/{date}")
    assert dated(listings)
    plan = plan_crawl(listings, DAY, END, LATER, stored_pages=0, loaded=False)
    assert plan.action == "crawl" and plan.observed_on is None
    # and once crawled, it is re-processed like any other
    assert plan_crawl(listings, DAY, END, LATER, stored_pages=5, loaded=True).action == "reuse"


@pytest.mark.parametrize("how", ["run", "spec"])
def test_a_forced_crawl_of_the_past_records_the_day_it_observed(how: str) -> None:
    source = spec(recrawl_past=True) if how == "spec" else spec()
    plan = plan_crawl(source, DAY, END, LATER, stored_pages=40, loaded=True, recrawl=how == "run")
    assert (plan.action, plan.observed_on) == ("crawl", LATER.date())
    tonight = plan_crawl(source, DAY, END, TONIGHT, stored_pages=0, loaded=False, recrawl=True)
    assert tonight.observed_on is None  # tonight's pages are that night's


def test_a_past_date_whose_stored_pages_hold_no_item_page_says_it_was_not_crawled(
    tmp_path: Path,
) -> None:
    """The stored pages hold what the old spec read (none led to an item page): the error says
    the date was not crawled again, not that pages were fetched, and how to crawl it again."""
    from harvest.config.settings import Settings
    from harvest.scraping import scrape
    from harvest.scraping.checks import CrawlCheckFailed
    from harvest.storage.raw import FileRawStore, RawDocument

    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    store = FileRawStore(settings.home / "raw")
    index = RawDocument(
        "shop", DAY.isoformat(), "http://127.0.0.1:8000/catalogue/", 200,
        "2026-11-24T03:01:00+00:00", "index", body="<html><body></body></html>",
    )  # fmt: skip
    store.upsert_many([index])
    with pytest.raises(CrawlCheckFailed) as failed:
        scrape(spec(), DAY, settings, base_url="http://127.0.0.1:9", now=LATER)
    message = str(failed.value)
    assert message.startswith(
        "source 'shop', date 2026-11-23: not crawled again (a past date crawled before: the "
        "records of its 1 stored pages are reused), and those 1 stored page(s) (0 failed) hold "
        "no item page"
    )
    assert "fetched" not in message
    assert message.endswith(
        "`python -m harvest run --source shop --date 2026-11-23 --base-url http://127.0.0.1:9 "
        "--recrawl`"
    )


def test_a_dated_past_partition_not_loaded_is_streamed_not_held_for_its_plan_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its plan (do all its pages fail?) and the reused report count the raw partition in a
    streamed light read: the partition is never held whole (``read_partition``), and the
    counts are those of the documents (pages, failed, item pages and card items, JS pages)."""
    from harvest.config.settings import Settings
    from harvest.partitions import Partition
    from harvest.scraping.past import failed, plan_partition, reused_result
    from harvest.storage.raw import FileRawStore, RawDocument

    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    store = FileRawStore(settings.home / "raw")
    base = "http://127.0.0.1:8000/listings"
    docs = [
        RawDocument("shop", DAY.isoformat(), f"{base}/{DAY}", 200, "2026-11-24T03:01:00+00:00",
                    "index", body="<a href='/item/1'>1</a>", records=[{"id": "c1"}, {"id": "c2"}]),
        RawDocument("shop", DAY.isoformat(), f"{base}/item/1", 200,
                    "2026-11-24T03:01:01+00:00", "detail", fields={"id": "1"},
                    rendered_with="chromium", body="x" * 100_000),
        RawDocument("shop", DAY.isoformat(), f"{base}/item/2", 503,
                    "2026-11-24T03:01:02+00:00", "detail", error="HTTP 503"),
    ]  # fmt: skip
    store.upsert_many(docs)
    lights: list[bool] = []
    stream = FileRawStore.iter_partition

    def whole(self: FileRawStore, source: str, day: dt.date) -> list[RawDocument]:
        raise AssertionError(f"{source} {day}: the whole partition was read")

    def counted(self: FileRawStore, source: str, day: dt.date, light: bool = False) -> Any:
        lights.append(light)
        return stream(self, source, day, light=light)

    monkeypatch.setattr(FileRawStore, "read_partition", whole)
    monkeypatch.setattr(FileRawStore, "iter_partition", counted)
    source = spec("{base_url}/listings/{date}")
    plan = plan_partition(source, Partition.of("shop", DAY), settings, now=LATER)
    assert plan.action == "reuse" and not hasattr(plan, "documents")
    result = reused_result(source, DAY, settings, plan)
    want = (3, sum(map(failed, docs)), 1 + 2, 1)  # item 1 and the two card items; one JS page
    assert (result.pages, result.failed_pages, result.item_pages, result.js_pages) == want
    assert lights and all(lights)
    # an undated source's plan reads no document; its report streams them
    lights.clear()
    undated = spec()
    plan = plan_partition(undated, Partition.of("shop", DAY), settings, now=LATER)
    assert reused_result(undated, DAY, settings, plan).pages == 3
    assert lights == [True]
