"""Crawl monitor overhead: the demo crawl with Spidermon's monitors on against off, side by side.

    python benchmarks/bench_monitors.py            # 3 rounds, 3000 listings
    python benchmarks/bench_monitors.py --quick    # 1 round, 400 listings: checks it works

Both are ``run_crawl`` of the demo spec against the same demo site (its own process, no
JavaScript pages), at the settings of ``bench_crawl.py`` (robots.txt obeyed, 16 requests per
domain, AutoThrottle off, no delay), each under a fresh home:

* on: the spec's default ``monitors:`` (every monitor but downloader_exceptions, field coverage
  counted over every record of every page), with three earlier partitions' counts so the median
  monitor runs too;
* off: ``monitors: {enabled: false}``: Spidermon's extension is not loaded at all.

Rounds alternate (on, off, off, on, ...) so machine noise hits both. Measured per crawl: the crawl
process's CPU time (user + system, from ``os.times`` of the waited-for child), the steadier
figure on a shared machine, and the wall time end to end. Each crawl must store every page, and
the "on" crawl must report every monitor passed. The "on" crawl also counts the CPU it spent in
the monitors itself (``CrawlResult.monitors_cpu_seconds``: counting records, running the suite),
which is measured in the same process as the crawl and so does not swing with the machine's
load as the difference of two crawls does; with the import of Spidermon (measured in a fresh
process) it gives the overhead ratio the goal is checked on: (off + monitors) / off <= 1.02,
medians of the rounds. The end-to-end CPU and wall ratios are printed beside it. Also timed:
storing the results in the warehouse (``crawl_monitors`` on SQLite), what
:func:`~harvest.scraping.health.monitored_crawl` adds in the parent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    DAY,
    SiteProcess,
    children_cpu_seconds,
    demo_spec,
    load_average,
    make_settings,
    ratio_line,
    spread,
)
from _common import median as _median

from harvest.scraping import run_crawl

GOAL = 1.02
SETTINGS = {
    "ROBOTSTXT_OBEY": True,
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "LOG_LEVEL": "INFO",
}


def spec_for(monitors: bool) -> Any:
    spec = demo_spec()
    return spec.model_copy(
        update={"monitors": spec.monitors.model_copy(update={"enabled": monitors})}
    )


def crawl(
    site: SiteProcess, monitors: bool, pages: int, listings: int
) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, CPU seconds spent in the monitors as the crawl counted them)
    of one crawl; checks every page was stored."""
    spec = spec_for(monitors)
    with tempfile.TemporaryDirectory(prefix="bench-monitors-") as home:
        cpu, started = children_cpu_seconds(), time.monotonic()
        result = run_crawl(
            spec, DAY, make_settings(Path(home)), base_url=site.base_url, timeout_seconds=600,
            extra_scrapy_settings=SETTINGS, recent_item_counts=[listings] * 3,
        )  # fmt: skip
        wall, cpu = time.monotonic() - started, children_cpu_seconds() - cpu
    if result.documents != pages or result.failed_pages:
        raise RuntimeError(
            f"monitors {'on' if monitors else 'off'}: stored {result.documents} documents "
            f"({result.failed_pages} failed), expected {pages} and none failed"
        )
    statuses = {found["monitor"]: found["status"] for found in result.monitors}
    if monitors and (not statuses or set(statuses.values()) != {"passed"}):
        raise RuntimeError(f"monitors on: not every monitor passed: {result.monitors}")
    if not monitors and statuses:
        raise RuntimeError(f"monitors off, yet results came back: {result.monitors}")
    return cpu, wall, result.monitors_cpu_seconds


_PARTS = """
import json, sys, time
t0 = time.process_time()
import scrapy.crawler, harvest.crawler.spiders.generic, harvest.crawler.pipelines
t1 = time.process_time()
import harvest.crawler.monitors as m
t2 = time.process_time()
from scrapy import Spider
from scrapy.utils.test import get_crawler
from harvest.config.spec import load_spec
from harvest.crawler.monitor_settings import monitor_settings
from harvest.crawler.items import PageItem
spec = load_spec(sys.argv[1])
records = int(sys.argv[2])
crawler = get_crawler(Spider, monitor_settings(spec, [records]))
crawler.spider = Spider("bench")
crawler.spider.crawler = crawler
ext = m.HarvestSpidermon.from_crawler(crawler)
ext.spider_opened(crawler.spider)  # as in a crawl: the coverage counter is set up here
fields = {name: "a value" for name in spec.detail.fields}
pages = [PageItem(url=f"u{i}", status=200, page_type="detail", fetched_at="t", fields=fields)
         for i in range(records)]
t3 = time.process_time()
for page in pages:
    ext.item_scraped(page, None, crawler.spider)
t4 = time.process_time()
crawler.stats.set_value("harvest/item_pages", records)
crawler.stats.set_value("finish_reason", "finished")
ext.spider_closed(crawler.spider)  # the counts written to the stats, then the suite
t5 = time.process_time()
print(json.dumps({"import": t2 - t1, "records": t4 - t3, "suite": t5 - t4}))
"""


def parts(records: int) -> dict[str, float]:
    """CPU seconds of each part of the monitors' cost, measured in a fresh process: importing
    Spidermon (on top of Scrapy and the spider), counting ``records`` records' field coverage
    through :class:`~harvest.crawler.monitors.HarvestSpidermon`, running the monitor suite."""
    from _common import SPEC_PATH, _child_env

    proc = subprocess.run(
        [sys.executable, "-c", _PARTS, str(SPEC_PATH), str(records)],
        capture_output=True, text=True, env=_child_env(), timeout=600, check=True,
    )  # fmt: skip
    found: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def store_seconds(results: list[dict[str, str]], repeat: int = 20) -> float:
    """Median seconds to replace one partition's crawl_monitors rows in a SQLite warehouse."""
    from harvest.storage.warehouse import open_warehouse

    times = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-monitors-wh-") as home,
        open_warehouse(f"sqlite:///{Path(home) / 'warehouse.db'}") as warehouse,
    ):
        warehouse.migrate([demo_spec()])
        for _ in range(repeat):
            started = time.perf_counter()
            warehouse.replace_crawl_monitors("demo", DAY, results)
            times.append(time.perf_counter() - started)
    return _median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--rounds", type=int, help="alternating rounds of on and off")
    args = parser.parse_args()
    listings = args.listings or (400 if args.quick else 3000)
    rounds = args.rounds or (2 if args.quick else 3)
    print(
        f"== crawl monitor overhead: {listings} listings (no JavaScript pages), "
        f"16 requests/domain, AutoThrottle off; {rounds} round(s), on and off alternating; "
        f"{load_average()}"
    )
    inside: list[float] = []
    cpu: dict[bool, list[float]] = {True: [], False: []}
    wall: dict[bool, list[float]] = {True: [], False: []}
    with SiteProcess(listings, js_fraction=0.0) as site:
        pages = listings + site.config.pages_per_day
        for n in range(1, rounds + 1):
            order = (True, False) if n % 2 else (False, True)
            for monitors in order:
                seconds, elapsed, spent = crawl(site, monitors, pages, listings)
                cpu[monitors].append(seconds)
                wall[monitors].append(elapsed)
                if monitors:
                    inside.append(spent)
            print(
                f"  round {n}: on {cpu[True][-1]:.2f} s CPU ({inside[-1]:.3f} s in the monitors) / "
                f"{wall[True][-1]:.1f} s wall, "
                f"off {cpu[False][-1]:.2f} s CPU / {wall[False][-1]:.1f} s wall ({pages} pages)"
            )
    on_cpu, off_cpu = _median(cpu[True]), _median(cpu[False])
    on_wall, off_wall = _median(wall[True]), _median(wall[False])
    print(
        f"monitors on:  {on_cpu:.2f} s CPU (spread {spread(cpu[True])}), {on_wall:.1f} s wall (medians)"
    )
    print(
        f"monitors off: {off_cpu:.2f} s CPU (spread {spread(cpu[False])}), {off_wall:.1f} s wall (medians)"
    )
    results = [
        {"monitor": name, "status": "passed", "severity": "warning", "message": "ok"}
        for name in ("item_count", "field_coverage", "error_count", "warning_count",
                     "finish_reason", "unwanted_http_codes", "retry_count", "item_count_vs_median")
    ]  # fmt: skip
    print(f"storing 8 results in crawl_monitors (SQLite): {1000 * store_seconds(results):.1f} ms")
    cost = parts(listings)
    total = sum(cost.values())
    print(
        f"parts, CPU in a fresh process: import {cost['import']:.3f} s, field coverage of "
        f"{listings} records {cost['records']:.3f} s ({1e6 * cost['records'] / listings:.0f} us "
        f"each), monitor suite {cost['suite']:.3f} s; {total:.3f} s = "
        f"{100 * total / off_cpu:.1f}% of the crawl's CPU time without monitors"
    )
    spent = _median(inside) + cost["import"]
    print(
        f"in the crawl, as it counted them: {_median(inside):.3f} s CPU in the monitors (median) "
        f"+ {cost['import']:.3f} s importing Spidermon = {spent:.3f} s"
    )
    walls = [a / b for a, b in zip(wall[True], wall[False], strict=True)]
    cpus = [a / b for a, b in zip(cpu[True], cpu[False], strict=True)]
    print(ratio_line("wall time ratio on/off (noisy on a shared machine)", walls, None, "",
                     fmt=".3f"))  # fmt: skip
    print(ratio_line("CPU time ratio on/off, end to end (two processes apart: noisy)", cpus,
                     None, "", fmt=".3f"))  # fmt: skip
    ratios = [
        (off + s_in + cost["import"]) / off for off, s_in in zip(cpu[False], inside, strict=True)
    ]
    ratio = _median(ratios)
    print(ratio_line("CPU time ratio (off + monitors' own CPU)/off", ratios, ratio <= GOAL,
                     f"<= {GOAL}", fmt=".3f"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_monitors failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
