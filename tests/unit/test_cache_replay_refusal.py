"""When the crawl child does not replay a crawl from its HTTP cache (:mod:`harvest.crawler.replay`),
and what a replay that stops leaves behind: nothing. (That a replay gives what Scrapy gives is
``tests/integration/test_cache_replay.py``.)"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import load_spec
from harvest.crawler.replay import ReplayStopped, replay_cached
from harvest.crawler.settings import build_scrapy_settings
from harvest.crawler.spiders import GenericSpider
from harvest.partitions import Partition

DAY = dt.date(2026, 3, 1)
SPEC = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")


class OwnSpider(GenericSpider):
    """A spec's own spider class: it may do what the replay does not know."""


def test_the_setting_turns_it_off_and_reaches_the_crawl(tmp_path: Path) -> None:
    off = Settings.from_env({"HARVEST_HOME": str(tmp_path), "HARVEST_REPLAY_CACHE": "false"})
    assert off.replay_cache is False
    values = build_scrapy_settings(SPEC, off, DAY)
    assert values["HARVEST_REPLAY_CACHE"] is False
    with pytest.raises(ReplayStopped, match="HARVEST_REPLAY_CACHE is off"):
        replay_cached(GenericSpider, values, spec=SPEC, logical_date=Partition(SPEC.name, DAY))
    assert Settings.from_env({"HARVEST_HOME": str(tmp_path)}).replay_cache is True


def test_a_spider_of_its_own_is_crawled_by_scrapy(tmp_path: Path) -> None:
    values = build_scrapy_settings(SPEC, Settings.from_env({"HARVEST_HOME": str(tmp_path)}), DAY)
    with pytest.raises(ReplayStopped, match="OwnSpider is not Harvest's generic spider"):
        replay_cached(OwnSpider, values, spec=SPEC, logical_date=Partition(SPEC.name, DAY))


def test_an_empty_cache_stops_it_before_anything_is_written(tmp_path: Path) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    values = build_scrapy_settings(SPEC, settings, DAY, base_url="http://127.0.0.1:9")
    handlers = list(logging.root.handlers)
    # robots.txt is the first page asked for (the demo spec obeys it): not in the cache; the
    # stop passes through the robots.txt middleware's own retry of what fails
    with pytest.raises(ReplayStopped, match=r"robots\.txt is not in the HTTP cache"):
        replay_cached(
            GenericSpider, values, spec=SPEC, logical_date=Partition(SPEC.name, DAY),
            base_url="http://127.0.0.1:9",
        )  # fmt: skip
    assert logging.root.handlers == handlers  # the log counter it added is gone
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").rglob("*"))
