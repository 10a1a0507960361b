"""JavaScript pages per second: the reused browser pool against one fresh Chromium per page.

    python benchmarks/bench_js.py            # 40 JavaScript pages each way x 3, then a crawl
    python benchmarks/bench_js.py --quick    # 4 pages: checks it works (start-up dominates)

The demo site (its own process) serves a day where every listing needs JavaScript. The same
detail pages are rendered (a) by :class:`BrowserPool` as :class:`SeleniumMiddleware` uses it:
``--browsers`` reused browsers, as many render threads, the spec's ``wait_for`` and timeout,
browser start-up included in the time; (b) with a fresh browser per page: start a webdriver with
the same options, render, quit, in as many threads. Every page must come back rendered. Then,
for reference, ``run_crawl`` of that day (plain fetch, then Chromium for each detail page).
Both ways must render every page with the same field values. Rounds run the two ways in
rotated order. Goal: pool >= 5 x fresh. Without Chromium the benchmark says so and is skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import (
    DAY,
    SiteProcess,
    demo_spec,
    fetch,
    load_average,
    make_settings,
    median,
    ratio_line,
    rotated,
    spread,
)

from harvest.crawler.browser import BrowserPool, Rendered
from harvest.scraping import run_crawl

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RENDERED_MARK = 'data-rendered="true"'
GOAL_RATIO = 5.0


def detail_urls(base_url: str, day: dt.date, count: int) -> list[str]:
    """The first ``count`` detail-page URLs of ``day``, walking its index pages."""
    urls: list[str] = []
    page = 1
    while len(urls) < count:
        index = fetch(base_url, f"/listings/{day}?page={page}").decode()
        found = re.findall(r'class="listing-link" href="([^"]+)"', index)
        if not found:
            break
        urls += [f"{base_url}{path}" for path in found]
        page += 1
    if len(urls) < count:
        raise RuntimeError(f"the demo site lists {len(urls)} pages for {day}, wanted {count}")
    return urls[:count]


FIELD_RE = re.compile(r'data-field="([\w-]+)"[^>]*>([^<]*)<')
SEEN: dict[str, dict[str, dict[str, str]]] = {}  # side -> url -> field -> rendered text


def check(url: str, rendered: Rendered) -> dict[str, str]:
    """The page's rendered field values; raises when the page was not rendered."""
    if rendered.error or RENDERED_MARK not in rendered.html:
        raise RuntimeError(f"{url} was not rendered: {rendered.error or 'no rendered marker'}")
    fields = dict(FIELD_RE.findall(rendered.html))
    if not fields.get("listing_id"):
        raise RuntimeError(f"{url}: no rendered field values found (data-field markup changed?)")
    return fields


def timed(
    render: Callable[[str], Rendered], urls: list[str], threads: int, side: str = "pool"
) -> float:
    """Seconds to render every URL with ``threads`` threads; each page is checked and its
    rendered fields kept under ``side`` (both sides must render the same)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as executor:
        for url, rendered in zip(urls, executor.map(render, urls), strict=True):
            SEEN.setdefault(side, {})[url] = check(url, rendered)
    return time.monotonic() - started


def pooled(
    urls: list[str], browsers: int, wait_for: str | None, timeout: float
) -> tuple[float, list[float]]:
    """The pool the crawl uses: browsers started lazily, reused, quit at the end (timed);
    and the seconds of each render in the order they finished."""
    pool = BrowserPool(browsers, str(CHROMIUM), str(CHROMEDRIVER), wait_for=wait_for,
                       timeout_seconds=timeout)  # fmt: skip
    each: list[float] = []

    def render(url: str) -> Rendered:
        started = time.monotonic()
        rendered = pool.render(url)
        each.append(time.monotonic() - started)
        return rendered

    started = time.monotonic()
    try:
        timed(render, urls, browsers)
    finally:
        pool.close()
    return time.monotonic() - started, each


def fresh(urls: list[str], threads: int, wait_for: str | None, timeout: float) -> float:
    """A new browser for every page: start a webdriver, render, quit."""

    def render_once(url: str) -> Rendered:
        pool = BrowserPool(1, str(CHROMIUM), str(CHROMEDRIVER), wait_for=wait_for,
                           timeout_seconds=timeout)  # fmt: skip
        try:
            return pool.render(url)
        finally:
            pool.close()

    return timed(render_once, urls, threads, "fresh")


def crawl(site: SiteProcess, browsers: int) -> tuple[int, float]:
    """``run_crawl`` of the all-JavaScript day: JavaScript pages rendered and seconds taken."""
    logger = logging.getLogger("bench.js.crawl")
    logger.propagate = False
    spec = demo_spec(autothrottle=False, browsers=browsers)
    with tempfile.TemporaryDirectory(prefix="bench-js-") as home:
        result = run_crawl(spec, DAY, make_settings(Path(home)), base_url=site.base_url,
                           logger=logger, timeout_seconds=600)  # fmt: skip
    if result.js_pages == 0 or result.js_unavailable or result.failed_pages:
        raise RuntimeError(
            f"the crawl rendered {result.js_pages} JavaScript pages "
            f"({result.js_unavailable} unavailable, {result.failed_pages} failed)"
        )
    return result.js_pages, result.duration_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--pages", type=int, help="JavaScript pages rendered each way")
    parser.add_argument("--browsers", type=int, default=2, help="pool size = render threads")
    parser.add_argument("--rounds", type=int, help="rounds, pool and fresh in rotated order")
    args = parser.parse_args()
    pages = args.pages or (4 if args.quick else 40)
    rounds = args.rounds or 3
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing or not shutil.which("chromedriver"):
        print(f"bench_js skipped: {' and '.join(missing) or 'chromedriver on PATH'} not found")
        return 0
    spec = demo_spec()
    wait_for, timeout = spec.javascript.wait_for, spec.javascript.timeout_seconds
    print(f"== JavaScript pages: {pages} pages, {args.browsers} browsers / threads each way, "
          f"{rounds} rounds in rotated order; {load_average()}")  # fmt: skip
    rates: dict[str, list[float]] = {"pool": [], "fresh": []}
    each: list[float] = []
    with SiteProcess(pages, js_fraction=1.0) as site:
        urls = detail_urls(site.base_url, DAY, pages)
        for n in range(rounds):
            for side in rotated(["pool", "fresh"], n):
                if side == "pool":
                    seconds, times = pooled(urls, args.browsers, wait_for, timeout)
                    each += times
                else:
                    seconds = fresh(urls, args.browsers, wait_for, timeout)
                rates[side].append(pages / seconds)
            if SEEN["pool"] != SEEN["fresh"]:
                differ = [u for u in urls if SEEN["pool"].get(u) != SEEN["fresh"].get(u)]
                raise RuntimeError(f"the pool and fresh browsers rendered {differ[:3]} differently")
        js_pages, crawl_s = crawl(site, args.browsers)
    crawl_rate = js_pages / crawl_s
    print(f"browser pool:          {median(rates['pool']):.2f} pages/s (spread "
          f"{spread(rates['pool'])}; browser start-up included)")  # fmt: skip
    warm = sorted(each)[: max(1, len(each) - rounds * args.browsers)]  # no browser's first
    print(f"  warm pool, per render: median {1000 * median(warm):.0f} ms "
          f"(= {args.browsers / median(warm):.1f} pages/s with {args.browsers} browsers)")  # fmt: skip
    print(f"fresh browser a page:  {median(rates['fresh']):.2f} pages/s (spread "
          f"{spread(rates['fresh'])}); every page rendered alike both ways")  # fmt: skip
    print(f"run_crawl, all JS day: {crawl_rate:.2f} JavaScript pages/s ({js_pages} in "
          f"{crawl_s:.1f} s, process start and plain fetches included; one run)")  # fmt: skip
    ratios = [p / f for p, f in zip(rates["pool"], rates["fresh"], strict=True)]
    print(ratio_line("JavaScript pages/s ratio pool/fresh", ratios,
                     median(ratios) >= GOAL_RATIO, f">= {GOAL_RATIO:g}x", fmt=".1f", unit="x"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_js failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
