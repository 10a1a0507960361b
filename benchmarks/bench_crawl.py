"""Crawl rate: Harvest's full crawl of the demo site against ``scrapy bench``, side by side.

    python benchmarks/bench_crawl.py            # 2 rounds, 3000 listings, 20 s of scrapy bench
    python benchmarks/bench_crawl.py --quick    # 1 round, 400 listings, 8 s: checks it works

Ours: ``run_crawl`` of the demo spec (robots.txt obeyed, full field extraction, file HTTP cache
and file raw store under a fresh home) with AutoThrottle off and concurrency raised through
``extra_scrapy_settings``, against the demo site served by its own process with no JavaScript
pages. Baseline: ``scrapy bench`` (its own link-following spider and server) as a subprocess.
Both rates are read the same way, from Scrapy's ``Crawled N pages (at X pages/min)`` lines every
``--interval`` seconds, first and last interval dropped (start-up and wind-down); the rounds
alternate so machine noise hits both. The site's capacity is measured too (a threaded keep-alive
client for a few seconds), with the CPU the site used, to tell whether the site is the limit.
Goal: ours >= 0.5 x scrapy bench.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    DAY,
    REPO,
    SiteProcess,
    children_cpu_seconds,
    demo_spec,
    goal_line,
    make_settings,
    median,
)

from harvest.scraping import run_crawl

LOGSTATS_RE = re.compile(r"Crawled (\d+) pages \(at (\d+) pages/min\)")
GOAL_RATIO = 0.5


@dataclass
class Rate:
    """A crawl's steady-state rate (pages/min) and how it was measured."""

    steady: float
    intervals: list[float]
    pages: int
    wall_seconds: float

    @property
    def overall(self) -> float:
        return 60.0 * self.pages / self.wall_seconds if self.wall_seconds else 0.0


def steady_rate(lines: list[str]) -> tuple[float, list[float], int]:
    """Median pages/min of the LogStats intervals without the first and last; last page count."""
    matches = [LOGSTATS_RE.search(line) for line in lines]
    points = [(int(m.group(1)), float(m.group(2))) for m in matches if m]
    if not points:
        raise RuntimeError("no 'Crawled N pages (at X pages/min)' lines in the crawl's log")
    rates = [rate for _, rate in points[1:]]  # the first line is the 0-page one at start
    inner = rates[1:-1] if len(rates) >= 3 else rates
    return median(inner), rates, points[-1][0]


def run_scrapy_bench(seconds: int, interval: float) -> Rate:
    """``scrapy bench`` for ``seconds``, in an empty folder so no project settings apply."""
    command = [
        str(REPO / ".venv/bin/scrapy"),
        "bench",
        "-s",
        f"CLOSESPIDER_TIMEOUT={seconds}",
        "-s",
        f"LOGSTATS_INTERVAL={interval:g}",
        "-s",
        "TELNETCONSOLE_ENABLED=False",
    ]
    if not Path(command[0]).exists():
        command[0:1] = [sys.executable, "-m", "scrapy"]
    with tempfile.TemporaryDirectory(prefix="bench-scrapy-") as cwd:
        started = time.monotonic()
        proc = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=seconds + 120, check=False
        )
        wall = time.monotonic() - started
    lines = (proc.stdout + proc.stderr).splitlines()
    if proc.returncode != 0 or not any("closespider_timeout" in line for line in lines):
        tail = "\n".join(lines[-15:])
        raise RuntimeError(f"scrapy bench failed (exit code {proc.returncode}):\n{tail}")
    steady, rates, pages = steady_rate(lines)
    return Rate(steady, rates, pages, wall)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_our_crawl(
    site: SiteProcess, listings: int, concurrency: int, interval: float
) -> tuple[Rate, float, float]:
    """One full crawl under a fresh home; the rate, crawl-process CPU s and site CPU s."""
    handler = _Lines()
    logger = logging.getLogger("bench.crawl")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    extra = {
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 2 * concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "LOGSTATS_INTERVAL": interval,
    }
    spec = demo_spec()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as home:
            site_cpu, crawl_cpu = site.cpu_seconds(), children_cpu_seconds()
            started = time.monotonic()
            result = run_crawl(
                spec,
                DAY,
                make_settings(Path(home)),
                base_url=site.base_url,
                logger=logger,
                timeout_seconds=600,
                extra_scrapy_settings=extra,
            )
            wall = time.monotonic() - started
            crawl_cpu = children_cpu_seconds() - crawl_cpu
            site_cpu = site.cpu_seconds() - site_cpu
    finally:
        logger.removeHandler(handler)
    expected = listings + site.config.pages_per_day  # detail pages + index pages
    if result.documents != expected or result.failed_pages:
        raise RuntimeError(
            f"the crawl stored {result.documents} documents ({result.failed_pages} failed), "
            f"expected {expected} and none failed"
        )
    steady, rates, _ = steady_rate(handler.lines)
    return Rate(steady, rates, result.pages + 1, wall), crawl_cpu, site_cpu  # +1: robots.txt


def site_capacity(site: SiteProcess, seconds: float, connections: int) -> tuple[float, float]:
    """Requests/s the site answers to ``connections`` keep-alive clients; site CPU per wall s."""
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    conn.request("GET", f"/listings/{DAY.isoformat()}")
    index = conn.getresponse().read().decode()
    conn.close()
    paths = re.findall(r'class="listing-link" href="([^"]+)"', index)
    if not paths:
        raise RuntimeError("no listing links on the demo site's first index page")
    counts = [0] * connections
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
        i = slot
        try:
            while time.monotonic() < stop_at:
                conn.request("GET", paths[i % len(paths)])
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")
                    return
                counts[slot] += 1
                i += 1
        except OSError as exc:
            errors.append(repr(exc))
        finally:
            conn.close()

    cpu = site.cpu_seconds()
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    if errors:
        raise RuntimeError(f"the site capacity check failed: {errors[0]}")
    return sum(counts) / wall, (site.cpu_seconds() - cpu) / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--bench-seconds", type=int, help="scrapy bench CLOSESPIDER_TIMEOUT")
    parser.add_argument("--rounds", type=int, help="alternating rounds of both")
    parser.add_argument("--concurrency", type=int, default=16, help="requests per domain (ours)")
    parser.add_argument("--interval", type=float, default=2.0, help="LogStats interval, seconds")
    args = parser.parse_args()
    listings = args.listings or (400 if args.quick else 3000)
    bench_seconds = args.bench_seconds or (8 if args.quick else 20)
    rounds = args.rounds or (1 if args.quick else 2)

    print(
        f"== crawl rate: {listings} listings (no JavaScript pages), concurrency "
        f"{args.concurrency}/domain, AutoThrottle off; scrapy bench {bench_seconds} s; "
        f"{rounds} round(s)"
    )
    ours: list[Rate] = []
    theirs: list[Rate] = []
    with SiteProcess(listings, js_fraction=0.0) as site:
        capacity, site_load = site_capacity(site, 2.0 if args.quick else 5.0, 8)
        print(
            f"  demo site alone: {capacity:.0f} requests/s = {60 * capacity:.0f} pages/min "
            f"(8 keep-alive clients; site process at {site_load:.0%} of a core)"
        )
        for n in range(1, rounds + 1):
            bench = run_scrapy_bench(bench_seconds, args.interval)
            theirs.append(bench)
            print(
                f"  round {n} scrapy bench: {bench.steady:.0f} pages/min steady "
                f"({bench.pages} pages; intervals {[round(r) for r in bench.intervals]})"
            )
            rate, crawl_cpu, site_cpu = run_our_crawl(
                site, listings, args.concurrency, args.interval
            )
            ours.append(rate)
            print(
                f"  round {n} harvest:      {rate.steady:.0f} pages/min steady, "
                f"{rate.overall:.0f} end to end (intervals {[round(r) for r in rate.intervals]}; "
                f"{rate.pages} pages in {rate.wall_seconds:.1f} s "
                f"incl. process start); CPU: crawl process {crawl_cpu / rate.wall_seconds:.0%}, "
                f"site {site_cpu / rate.wall_seconds:.0%} of a core; "
                f"ratio {rate.steady / bench.steady:.2f}"
            )
    ours_rate = median([r.steady for r in ours])
    bench_rate = median([r.steady for r in theirs])
    ratio = ours_rate / bench_rate
    print(f"harvest crawl: {ours_rate:.0f} pages/min (median steady state)")
    print(f"scrapy bench:  {bench_rate:.0f} pages/min (median steady state)")
    print(f"demo site:     {60 * capacity:.0f} pages/min alone")
    if ours_rate >= 0.8 * 60 * capacity:
        print(
            "  note: harvest's rate is close to what the site serves alone: the site is the limit"
        )
    print(
        goal_line(
            "crawl rate ratio harvest/scrapy bench",
            ratio >= GOAL_RATIO,
            f">= {GOAL_RATIO}",
            f"{ratio:.2f}",
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_crawl failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
