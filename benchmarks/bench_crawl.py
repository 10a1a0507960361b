"""Crawl time: Harvest's full crawl of the demo site against a plain Scrapy spider, side by side.

    python benchmarks/bench_crawl.py            # 3 rounds, 3000 listings
    python benchmarks/bench_crawl.py --quick    # 1 round, 400 listings: checks it works

All three crawl the same demo site (its own process, no JavaScript pages) with the same settings:
robots.txt obeyed, ``--concurrency`` requests per domain, AutoThrottle off, no download delay.

* plain: ``plain_spider.py``, a minimal hand-written spider with the same selectors and a JSON
  Lines feed export (``scrapy runspider -O``), the baseline;
* harvest: ``run_crawl`` of the demo spec (every field extracted, file HTTP cache and file raw
  store under a fresh home, every page's outcome checked);
* harvest without checks: the same with the page-outcome middlewares of
  ``harvest.crawler.outcomes`` switched off (Scrapy's own redirect middleware back), to show what
  the checks cost.

Each is a process started by the script, timed end to end (process start to exit), rounds
alternating so machine noise hits all three; each crawl must get every page. Goals: harvest
<= 1.25 x the plain spider's time, and harvest <= 1.10 x harvest without checks.
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

from _common import DAY, REPO, SiteProcess, _child_env, demo_spec, goal_line, make_settings, median

from harvest.scraping import run_crawl

PLAIN_GOAL = 1.25
CHECKS_GOAL = 1.10


def common_settings(concurrency: int) -> dict[str, Any]:
    return {
        "ROBOTSTXT_OBEY": True,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 2 * concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "LOG_LEVEL": "INFO",
    }


def run_plain(site: SiteProcess, concurrency: int, expected: int) -> float:
    """Seconds for the plain spider to crawl the day; checks it got ``expected`` items."""
    spec = demo_spec()
    fields = {name: field.css for name, field in spec.detail.fields.items()}
    start_url = spec.start_urls_for(DAY, base_url=site.base_url)[0]
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as cwd:
        out = Path(cwd) / "items.jsonl"
        command = [
            sys.executable,
            "-m",
            "scrapy",
            "runspider",
            str(REPO / "benchmarks/plain_spider.py"),
        ]
        command += [
            "-a",
            f"start_url={start_url}",
            "-a",
            f"fields={json.dumps(fields)}",
            "-O",
            str(out),
        ]
        for key, value in {**common_settings(concurrency), "TELNETCONSOLE_ENABLED": False}.items():
            command += ["-s", f"{key}={value}"]
        started = time.monotonic()
        proc = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=600,
            check=False,
        )
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"the plain spider failed:\n{proc.stderr[-2000:]}")
        with out.open(encoding="utf-8") as handle:
            items = sum(1 for line in handle if line.strip())
    if items != expected:
        raise RuntimeError(f"the plain spider got {items} items, expected {expected}")
    return seconds


def without_checks(spec: Any, home: Path) -> dict[str, Any]:
    """Scrapy settings that switch the page-outcome middlewares off (Scrapy's redirects back)."""
    from harvest.crawler.settings import build_scrapy_settings

    built = build_scrapy_settings(spec, make_settings(home), DAY)
    downloader = {
        name: order
        for name, order in built["DOWNLOADER_MIDDLEWARES"].items()
        if not name.startswith("harvest.crawler.outcomes.")
    }
    downloader.pop("scrapy.downloadermiddlewares.redirect.RedirectMiddleware", None)
    return {"DOWNLOADER_MIDDLEWARES": downloader, "SPIDER_MIDDLEWARES": {}}


def run_harvest(site: SiteProcess, concurrency: int, expected: int, checks: bool) -> float:
    """Seconds for ``run_crawl`` of the day under a fresh home; checks every page was stored."""
    spec = demo_spec()
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as home:
        extra = common_settings(concurrency)
        if not checks:
            extra.update(without_checks(spec, Path(home)))
        started = time.monotonic()
        result = run_crawl(
            spec, DAY, make_settings(Path(home)), base_url=site.base_url,
            timeout_seconds=600, extra_scrapy_settings=extra,
        )  # fmt: skip
        seconds = time.monotonic() - started
    if result.documents != expected or result.failed_pages:
        raise RuntimeError(
            f"harvest stored {result.documents} documents ({result.failed_pages} failed), "
            f"expected {expected} and none failed"
        )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--rounds", type=int, help="alternating rounds of the three")
    parser.add_argument("--concurrency", type=int, default=16, help="requests per domain")
    args = parser.parse_args()
    listings = args.listings or (400 if args.quick else 3000)
    rounds = args.rounds or (1 if args.quick else 3)
    print(
        f"== crawl time: {listings} listings (no JavaScript pages), robots.txt obeyed, "
        f"concurrency {args.concurrency}/domain, AutoThrottle off; {rounds} round(s)"
    )
    times: dict[str, list[float]] = {"plain": [], "harvest": [], "no checks": []}
    with SiteProcess(listings, js_fraction=0.0) as site:
        pages = listings + site.config.pages_per_day  # detail + index pages
        for n in range(1, rounds + 1):
            times["plain"].append(run_plain(site, args.concurrency, listings))
            times["harvest"].append(run_harvest(site, args.concurrency, pages, checks=True))
            times["no checks"].append(run_harvest(site, args.concurrency, pages, checks=False))
            print(
                f"  round {n}: plain spider {times['plain'][-1]:.1f} s, harvest "
                f"{times['harvest'][-1]:.1f} s, harvest without checks {times['no checks'][-1]:.1f} s "
                f"({pages} pages each, process start included)"
            )
    plain, ours, unchecked = (median(times[k]) for k in ("plain", "harvest", "no checks"))
    print(f"plain spider:           {plain:.1f} s = {60 * pages / plain:.0f} pages/min (median)")
    print(f"harvest:                {ours:.1f} s = {60 * pages / ours:.0f} pages/min (median)")
    print(
        f"harvest without checks: {unchecked:.1f} s = {60 * pages / unchecked:.0f} pages/min (median)"
    )
    print(
        goal_line(
            "time ratio harvest/plain spider",
            ours / plain <= PLAIN_GOAL,
            f"<= {PLAIN_GOAL}",
            f"{ours / plain:.2f}",
        )
    )
    print(
        goal_line(
            "time ratio harvest/harvest without checks",
            ours / unchecked <= CHECKS_GOAL,
            f"<= {CHECKS_GOAL}",
            f"{ours / unchecked:.2f}",
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_crawl failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
