"""The re-run rule (issue 18, :mod:`harvest.scraping.past`) in the scrape stage's entry point:
a catalogue source (its start URL carries no date) run by :func:`harvest.pipeline.run_partition`
and :func:`harvest.scraping.scrape` against the demo site, which then moves on to a later day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harvest.config.settings import Settings
from harvest.pipeline import run_partition
from harvest.scraping import scrape
from harvest.scraping.past import PastNotObservable
from harvest.storage.raw import FileRawStore
from harvest_demo import DemoSite, SiteConfig, catalogue_truth
from tests.integration.test_catalogue_source import CONFIG, DAYS, SPEC, dump_all, night

DAY, NEVER_CRAWLED, LATER = DAYS[0], DAYS[1], DAYS[3]


def test_a_past_date_is_reprocessed_refused_or_forced(tmp_path: Path) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})
    raw = FileRawStore(settings.home / "raw")
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=DAY) as site:
        first = run_partition(SPEC, DAY, settings, base_url=site.base_url, now=night(DAY))
        assert first["scrape"]["reused"] is None and first["scrape"]["requests_to_site"] > 0
        assert first["load"]["loaded"] == len(catalogue_truth(CONFIG, DAY))
        stored, before = raw.read_partition(SPEC.name, DAY), dump_all(settings.warehouse_url)

        # The site changed since (a later day). A re-run of the loaded date, long after its
        # night, re-processes its stored pages: nothing asked of the site, every table as it was.
        site.set_day(LATER)
        site.reset_stats()
        rerun = run_partition(SPEC, DAY, settings, base_url=site.base_url)
        assert rerun["scrape"]["reused"] == (
            f"a re-run of a loaded date: the records of its {len(stored)} stored pages are reused"
        )
        assert rerun["scrape"]["requests_to_site"] == 0 and site.stats()["total"] == 0
        assert rerun["scrape"]["documents"] == len(stored)
        assert raw.read_partition(SPEC.name, DAY) == stored
        assert dump_all(settings.warehouse_url) == before

        # A past date never crawled: refused before any request, nothing stored under it.
        with pytest.raises(PastNotObservable, match=rf"date {NEVER_CRAWLED}: cannot observe"):
            scrape(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url)
        assert site.stats()["total"] == 0 and raw.count(SPEC.name, NEVER_CRAWLED) == 0

        # Forced: crawled (today's site), and the report says on which day it was observed.
        forced = scrape(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url, recrawl=True)
        assert forced.reused is None and forced.requests_to_site > 0
        assert forced.observed_on == dt.datetime.now(dt.UTC).date().isoformat()
        assert forced.item_pages == len(catalogue_truth(CONFIG, LATER))

        # Loaded forced, then re-run without forcing: the re-run reuses those pages and still
        # says they were observed later (the forced run's pages came from the HTTP cache the
        # scrape above filled: all_cached, which a re-run of a loaded date is not).
        loaded = run_partition(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url, recrawl=True)
        later = loaded["load"]["warnings"]["observed_later"]
        assert later["observed_on"] == forced.observed_on
        after = dump_all(settings.warehouse_url)
        again = run_partition(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url)
        assert again["scrape"]["reused"] and again["scrape"]["requests_to_site"] == 0
        assert again["scrape"]["observed_on"] == forced.observed_on
        assert again["load"]["warnings"] == loaded["load"]["warnings"]  # all_cached too
        assert set(loaded["load"]["warnings"]) == {"all_cached", "observed_later"}
        assert {**dump_all(settings.warehouse_url), "partition_loads": []} == {
            **after,
            "partition_loads": [],
        }


def test_a_rerun_after_a_forced_crawl_whose_load_failed_reports_what_it_would_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forced crawl of a past date (served from the HTTP cache a scrape filled) whose load
    failed: the plain re-runs that reuse its pages report what its load would have, the day the
    pages were observed on (``observed_later``) and that nothing was asked of the site for a
    date never loaded (``all_cached``), and a re-run of that re-run reports the same again."""
    from harvest.storage.warehouse import Warehouse, WarehouseError

    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=LATER) as site:
        scrape(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url, recrawl=True)
        load = Warehouse.load_partition

        def down(*args: object, **kwargs: object) -> object:
            raise WarehouseError("the warehouse went away mid-load")

        monkeypatch.setattr(Warehouse, "load_partition", down)
        reports: dict[str, dict[str, object]] = {}
        with pytest.raises(WarehouseError, match="went away"):
            run_partition(
                SPEC, NEVER_CRAWLED, settings, base_url=site.base_url, recrawl=True,
                reports=reports,
            )  # fmt: skip
        forced = reports["scrape"]
        assert (
            forced["observed_on"] and forced["cached_responses"] and not forced["requests_to_site"]
        )
        monkeypatch.setattr(Warehouse, "load_partition", load)
        site.reset_stats()
        again = run_partition(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url)
        assert again["scrape"]["reused"] and site.stats()["total"] == 0
        assert again["scrape"]["observed_on"] == forced["observed_on"]
        assert again["scrape"]["crawled"] == {
            "cached_responses": forced["cached_responses"], "requests_to_site": 0,
            "date_loaded": False, "observed_on": forced["observed_on"],
            "fields_regex_unmatched": forced["fields_regex_unmatched"],
        }  # fmt: skip
        warnings = again["load"]["warnings"]
        assert warnings["observed_later"]["observed_on"] == forced["observed_on"]
        assert warnings["all_cached"]["cached_responses"] == forced["cached_responses"]
        once_more = run_partition(SPEC, NEVER_CRAWLED, settings, base_url=site.base_url)
        assert once_more["load"]["warnings"] == warnings
        assert once_more["load"]["loaded"] == again["load"]["loaded"] > 0
