"""Crawl time: Harvest's full crawl of the demo site against a plain Scrapy spider, side by side.

    python benchmarks/bench_crawl.py            # 3 rounds, 3000 listings
    python benchmarks/bench_crawl.py --quick    # 2 rounds, 400 listings, no reference side

All sides crawl the same demo site (its own process, no JavaScript pages, warmed by an untimed
crawl first, so no side meets it cold) with the same Scrapy settings: robots.txt obeyed,
``--concurrency`` requests per domain (twice that in all), AutoThrottle off, no download delay,
Harvest's ``CONCURRENT_ITEMS`` (8; Scrapy's default of 100 costs a plain spider a third more
CPU), log level INFO, telnet console off.

* plain: ``plain_spider.py``, a minimal hand-written spider with the same selectors, the
  baseline. What is fair: Harvest keeps every page it fetched (its HTTP cache, so a re-run of
  the date fetches nothing again) and writes what it extracted (the raw store); the plain spider
  gets Scrapy's own equivalents, on: ``HTTPCACHE_ENABLED`` with ``DbmCacheStorage`` (one
  database per crawl, like Harvest's SQLite one, in a fresh folder every round, so every page is
  stored as in Harvest's fresh home; the cheaper of Scrapy's two storages here:
  ``FilesystemCacheStorage``'s six files per response cost the plain spider about twice its
  CPU) and a JSON Lines feed export of the items (``scrapy runspider -O``). Harvest's raw store
  also keeps each page's body and a document per list page, its page-outcome checks and
  Spidermon monitors have no Scrapy equivalent: those are Harvest's to pay for;
* plain, no cache: the same spider without the HTTP cache (the feed export only), a reference:
  its ratio is printed, without a goal;
* harvest: ``run_crawl`` of the demo spec (every field extracted, file HTTP cache and file raw
  store under a fresh home, every page's outcome checked, the spec's Spidermon monitors);
* harvest without checks: the same with the page-outcome middlewares of
  ``harvest.crawler.outcomes`` switched off (Scrapy's own redirect middleware back), to show
  what the checks cost.

Each is a process started by the script, timed end to end (process start to exit, wall and the
CPU of the process and its children), rounds in rotated order; each crawl must get every page,
and every round checks that the plain spiders and Harvest extracted the same detail pages with
the same field values (whitespace collapsed). Goal: harvest's rate >= 0.9 x the plain spider's
(time ratio harvest/plain <= 1/0.9), on CPU (the machine is shared: wall times swing with the
load), and harvest <= 1.10 x harvest without checks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import (
    DAY,
    REPO,
    SiteProcess,
    _child_env,
    demo_spec,
    load_average,
    make_settings,
    median,
    ratio_line,
    rotated,
    spread,
)

from harvest.crawler.settings import build_scrapy_settings
from harvest.scraping import run_crawl

RATE_GOAL = 0.9  # harvest's pages per second over the plain spider's
CHECKS_GOAL = 1.10
HARVEST_SETTINGS = build_scrapy_settings  # the source of CONCURRENT_ITEMS and the reactor
# Scrapy's HTTP cache for the plain spider (see the module docstring): stored, never expiring
PLAIN_CACHE = {
    "HTTPCACHE_ENABLED": True,
    "HTTPCACHE_STORAGE": "scrapy.extensions.httpcache.DbmCacheStorage",
    "HTTPCACHE_DIR": "httpcache",  # under the round's fresh working directory
}


def common_settings(concurrency: int) -> dict[str, Any]:
    """What every side runs with (Harvest's own values where the benchmark does not set one)."""
    harvest = HARVEST_SETTINGS(demo_spec(), make_settings(Path(tempfile.gettempdir())), DAY)
    return {
        "ROBOTSTXT_OBEY": True,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 2 * concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "CONCURRENT_ITEMS": harvest["CONCURRENT_ITEMS"],
        "TWISTED_REACTOR": harvest["TWISTED_REACTOR"],
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
    }


def normalised(fields: dict[str, Any]) -> dict[str, str | None]:
    return {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in sorted(fields.items())}


def timed_process(run: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of ``run()``: the CPU of this process (``run_crawl``'s
    parent side: the spec written, the stats and the partition read) and of its children."""
    before = os.times()
    started = time.monotonic()
    result = run()
    wall = time.monotonic() - started
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f)
              for f in ("user", "system", "children_user", "children_system"))  # fmt: skip
    return wall, cpu, result


def run_plain(
    site: SiteProcess, settings: dict[str, Any], expected: int, cache: bool = True
) -> tuple[float, float, dict[str, Any]]:
    """The plain spider's crawl of the day, with Scrapy's HTTP cache unless ``cache`` is False:
    (wall, CPU, {path: fields})."""
    spec = demo_spec()
    fields = {name: field.css for name, field in spec.detail.fields.items()}
    start_url = spec.start_urls_for(DAY, base_url=site.base_url)[0]
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as cwd:
        out = Path(cwd) / "items.jsonl"
        command = [sys.executable, "-m", "scrapy", "runspider", str(REPO / "benchmarks/plain_spider.py"),
                   "-a", f"start_url={start_url}", "-a", f"fields={json.dumps(fields)}", "-O", str(out)]  # fmt: skip
        for key, value in {**settings, **(PLAIN_CACHE if cache else {})}.items():
            command += ["-s", f"{key}={value}"]

        def crawl() -> subprocess.CompletedProcess[str]:
            return subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                                  env=_child_env(), timeout=900, check=False)  # fmt: skip

        wall, cpu, proc = timed_process(crawl)
        if proc.returncode != 0:
            raise RuntimeError(f"the plain spider failed:\n{proc.stderr[-2000:]}")
        with out.open(encoding="utf-8") as handle:
            items = [json.loads(line) for line in handle if line.strip()]
        if cache and not any((Path(cwd) / ".scrapy" / "httpcache").iterdir()):
            raise RuntimeError("the plain spider's HTTP cache stored nothing")
    if len(items) != expected:
        raise RuntimeError(f"the plain spider got {len(items)} items, expected {expected}")
    return wall, cpu, {urlsplit(i.pop("url")).path: normalised(i) for i in items}


def without_checks(home: Path) -> dict[str, Any]:
    """Scrapy settings that switch the page-outcome middlewares off (Scrapy's redirects back)."""
    built = build_scrapy_settings(demo_spec(), make_settings(home), DAY)
    downloader = {
        name: order
        for name, order in built["DOWNLOADER_MIDDLEWARES"].items()
        if not name.startswith("harvest.crawler.outcomes.")
    }
    downloader.pop("scrapy.downloadermiddlewares.redirect.RedirectMiddleware", None)
    return {"DOWNLOADER_MIDDLEWARES": downloader, "SPIDER_MIDDLEWARES": {}}


def run_harvest(
    site: SiteProcess, settings: dict[str, Any], expected: int, checks: bool
) -> tuple[float, float, dict[str, Any]]:
    """``run_crawl`` of the day under a fresh home: (wall, CPU, {detail path: fields})."""
    spec = demo_spec()
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as home:
        extra = dict(settings)
        if not checks:
            extra.update(without_checks(Path(home)))

        def crawl() -> Any:
            return run_crawl(spec, DAY, make_settings(Path(home)), base_url=site.base_url,
                             timeout_seconds=900, extra_scrapy_settings=extra)  # fmt: skip

        wall, cpu, result = timed_process(crawl)
        if result.documents != expected or result.failed_pages:
            raise RuntimeError(f"harvest stored {result.documents} documents "
                               f"({result.failed_pages} failed), expected {expected}, none failed")  # fmt: skip
        partition = Path(home) / "raw" / spec.name / f"{DAY.isoformat()}.jsonl"
        with partition.open(encoding="utf-8") as handle:
            documents = [json.loads(line) for line in handle if line.strip()]
    details = {
        urlsplit(d["url"]).path: normalised(d["fields"])
        for d in documents
        if d.get("page_type") == "detail"
    }
    return wall, cpu, details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--rounds", type=int, help="rounds, the sides in rotated order")
    parser.add_argument("--concurrency", type=int, default=16, help="requests per domain")
    parser.add_argument("--no-unchecked", action="store_true", help="leave out 'without checks'")
    parser.add_argument(
        "--no-bare", action="store_true", help="leave out 'plain, no cache' (the reference)"
    )
    args = parser.parse_args()
    listings = args.listings or (400 if args.quick else 3000)
    rounds = args.rounds or (2 if args.quick else 3)
    settings = common_settings(args.concurrency)
    print(f"== crawl time: {listings} listings (no JavaScript pages), robots.txt obeyed, "
          f"concurrency {args.concurrency}/domain, AutoThrottle off, CONCURRENT_ITEMS "
          f"{settings['CONCURRENT_ITEMS']}; {rounds} rounds in rotated order; {load_average()}",
          flush=True)  # fmt: skip
    sides = (
        ["plain", "harvest"]
        + ([] if args.no_bare or args.quick else ["plain bare"])  # (a reference: not in --quick)
        + ([] if args.no_unchecked else ["no checks"])
    )
    wall: dict[str, list[float]] = {s: [] for s in sides}
    cpu: dict[str, list[float]] = {s: [] for s in sides}
    with SiteProcess(listings, js_fraction=0.0) as site:
        pages = listings + site.config.pages_per_day  # detail + index pages
        run = {
            "plain": lambda: run_plain(site, settings, listings),
            "plain bare": lambda: run_plain(site, settings, listings, cache=False),
            "harvest": lambda: run_harvest(site, settings, pages, checks=True),
            "no checks": lambda: run_harvest(site, settings, pages, checks=False),
        }
        run["plain bare"]()  # warm-up, untimed: the site renders and keeps every page
        for n in range(rounds):
            seen: dict[str, dict[str, Any]] = {}
            for side in rotated(sides, n):
                w, c, seen[side] = run[side]()
                wall[side].append(w)
                cpu[side].append(c)
            for side in sides[1:]:
                if seen[side] != seen["plain"]:
                    differ = sorted(
                        p for p in seen["plain"] if seen["plain"][p] != seen[side].get(p)
                    )
                    raise RuntimeError(f"{side} and the plain spider extracted {len(differ)} detail "
                                       f"pages differently, e.g. {differ[:3]}")  # fmt: skip
            print(f"  round {n + 1}: " + ", ".join(
                f"{s} {wall[s][-1]:.1f} s wall / {cpu[s][-1]:.1f} s CPU" for s in sides
            ) + f" ({pages} pages each, the same fields extracted)", flush=True)  # fmt: skip
    for side in sides:
        print(f"{side:<10} {median(wall[side]):6.1f} s wall (spread {spread(wall[side], '.1f')}) = "
              f"{60 * pages / median(wall[side]):,.0f} pages/min; {median(cpu[side]):6.1f} s CPU "
              f"(spread {spread(cpu[side], '.1f')}) = {1000 * median(cpu[side]) / pages:.2f} ms "
              f"CPU per page")  # fmt: skip
    rates = [p / h for p, h in zip(wall["plain"], wall["harvest"], strict=True)]
    print(ratio_line("crawl rate harvest/plain spider (wall)", rates,
                     median(rates) >= RATE_GOAL, f">= {RATE_GOAL}"))  # fmt: skip
    cpus = [p / h for p, h in zip(cpu["plain"], cpu["harvest"], strict=True)]
    print(ratio_line("CPU per page plain spider/harvest (the rate on a CPU-bound machine)", cpus,
                     median(cpus) >= RATE_GOAL, f">= {RATE_GOAL}"))  # fmt: skip
    if "plain bare" in sides:
        bare = [p / h for p, h in zip(cpu["plain bare"], cpu["harvest"], strict=True)]
        print(ratio_line("CPU per page plain spider without its HTTP cache/harvest (reference)",
                         bare, None, ""))  # fmt: skip
    if "no checks" in sides:
        checks = [h / u for h, u in zip(wall["harvest"], wall["no checks"], strict=True)]
        print(ratio_line("time ratio harvest/harvest without checks", checks,
                         median(checks) <= CHECKS_GOAL, f"<= {CHECKS_GOAL}"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_crawl failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
