"""Work handed to :func:`harvest.scraping.overlap.while_crawling` runs in a background thread
while a real crawl child runs, is done when the crawl returns, and a failure in it fails nothing; the
later stages' start-up work (:func:`harvest.pipeline.prepare_later_stages`) trains the matcher
the clean stage then finds cached."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvest.cleaning import near
from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.pipeline import prepare_later_stages
from harvest.scraping import overlap, run_crawl
from harvest_demo import DemoSite, SiteConfig

DAY = dt.date(2026, 3, 1)
CONFIG = SiteConfig(seed=7, listings_per_day=12, page_size=5)
REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(REPO / "include/harvest/sources/demo.yaml")
FAST = {"AUTOTHROTTLE_START_DELAY": 0.1, "HARVEST_RETRY_BACKOFF_SECONDS": 0.1}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(CONFIG) as running:
        yield running


def _crawl(site: DemoSite, home: Path) -> tuple[float, float, int]:
    """(monotonic start, monotonic end, documents) of a crawl of the demo site."""
    started = time.monotonic()
    result = run_crawl(
        SPEC, DAY, Settings.from_env({"HARVEST_HOME": str(home)}),
        base_url=site.base_url, extra_scrapy_settings=FAST,
    )  # fmt: skip
    return started, time.monotonic(), result.documents


def test_the_work_runs_in_another_thread_during_the_crawl_and_is_done_when_it_returns(
    site: DemoSite, tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    def broken(spec: SourceSpec) -> None:  # fails neither the crawl nor the work after it
        raise RuntimeError(f"cannot prepare {spec.name}")

    def work(spec: SourceSpec) -> None:
        seen["start"] = time.monotonic()
        seen["thread"] = threading.current_thread().name
        seen["source"] = spec.name
        time.sleep(0.5)
        seen["end"] = time.monotonic()

    with overlap.while_crawling(broken), overlap.while_crawling(work):
        started, ended, documents = _crawl(site, tmp_path)
    assert documents > 12
    assert seen["source"] == SPEC.name
    assert seen["thread"] == "while-crawling" != threading.current_thread().name
    assert started < seen["start"] < seen["end"] <= ended  # type: ignore[operator]
    # outside the blocks a crawl hands nothing on
    assert overlap.start(SPEC) is None


def test_prepare_later_stages_trains_the_matcher_the_clean_stage_finds_cached(
    site: DemoSite, tmp_path: Path
) -> None:
    near._train.cache_clear()
    with overlap.while_crawling(prepare_later_stages):
        _crawl(site, tmp_path)
    trained = near._train.cache_info()
    assert trained.currsize == 1, "the demo spec names labelled pairs: a matcher is trained"
    status = near.load_matcher(SPEC)  # what the clean stage calls
    assert status.matcher is not None
    assert near._train.cache_info().hits == trained.hits + 1
