"""What the crawl process spends outside its pages (a cached re-run pays it every time): its
stats collector without Scrapy's per-read deprecation wrapper, and the optional modules kept
out of it (:data:`harvest.crawler.crawl.UNUSED_MODULES`)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.statscollectors import MemoryStatsCollector, StatsCollector
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from harvest.config.settings import DEFAULT_SOURCES_DIR, Settings
from harvest.config.spec import load_spec
from harvest.crawler.crawl import GC_THRESHOLD
from harvest.crawler.settings import build_scrapy_settings
from harvest.crawler.stats import HarvestStatsCollector

DAY = dt.date(2026, 3, 1)


def test_the_crawl_keeps_scrapys_stats_without_the_per_read_wrapper(tmp_path: Path) -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    values = build_scrapy_settings(spec, Settings.from_env({"HARVEST_HOME": str(tmp_path)}), DAY)
    assert load_object(values["STATS_CLASS"]) is HarvestStatsCollector
    crawler = get_crawler(Spider, {"STATS_CLASS": values["STATS_CLASS"]})
    stats = crawler.stats
    assert isinstance(stats, MemoryStatsCollector)
    # Scrapy's collector hands out a wrapper per method; this one its own method
    assert stats.inc_value.__func__ is StatsCollector.inc_value  # type: ignore[attr-defined]
    assert not hasattr(get_crawler(Spider).stats.inc_value, "__func__")
    stats.open_spider()
    stats.inc_value("pages")
    stats.inc_value("pages", 2)
    stats.max_value("depth", 3)
    stats.max_value("depth", 1)
    stats.set_value("reason", "finished")
    assert stats.get_stats() == {"pages": 3, "depth": 3, "reason": "finished"}
    assert stats.get_value("missing", 0) == 0


UNUSED = """
import gc, sys
{prepare}
from redis.observability import providers
import jsonschema
print(providers.OTEL_AVAILABLE, *(sys.modules.get(name) is not None
      for name in ("opentelemetry.sdk.metrics", "rfc3987", "isoduration", "arrow")))
checker = jsonschema.FormatChecker()  # without rfc3987: no URI format checks (none needed)
print(checker.conforms("http://x.test/a", "uri"), checker.conforms("no uri", "uri"))
print(gc.isenabled())
from harvest.crawler.crawl import imported
imported()
print(gc.isenabled(), gc.get_threshold()[0], gc.get_freeze_count() > 10_000)
"""


@pytest.mark.parametrize("started", [False, True])
def test_the_crawl_process_starts_without_unused_modules_nor_the_collector(started: bool) -> None:
    """A crawl process (``start_up``) imports neither redis-py's OpenTelemetry metrics nor
    jsonschema's URI and duration libraries, and collects no garbage until ``imported``; then
    the collector runs at ``GC_THRESHOLD`` with the imports frozen. Any other process: as
    Python starts it."""
    pytest.importorskip("opentelemetry.sdk.metrics", reason="the SDK is not installed here")
    pytest.importorskip("rfc3987", reason="jsonschema's URI format library is not installed here")
    prepare = "from harvest.crawler.crawl import start_up; start_up()" if started else ""
    out = subprocess.run(
        [sys.executable, "-c", UNUSED.format(prepare=prepare)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("\n")  # fmt: skip
    loaded = "False False False False False" if started else "True True True True True"
    assert out[:2] == [loaded, "True True" if started else "True False"]
    if started:
        assert out[2:4] == ["False", f"True {GC_THRESHOLD[0]} True"]
    else:  # imported() leaves a process start_up did not start as it is
        assert out[2:4] == ["True", "True 700 False"]
