"""Re-running a cached date: the second ``run_crawl`` of a date against the first, per cache.

    python benchmarks/bench_cache.py            # 1000 listings
    python benchmarks/bench_cache.py --quick    # 100 listings: checks it works

The demo site (its own process, the default share of JavaScript pages) is crawled twice for the
same date under one fresh home, with the file HTTP cache and, when Redis answers at
``--redis-url`` (database flushed before and after), with the Redis cache. Both runs use the
demo spec's own crawl settings (AutoThrottle on, 8 requests per domain): what a user's nightly
run and its re-run do. Cached responses skip the downloader and its delays, which is where a
re-run gains.
Printed: wall time of both runs and their ratio (goal >= 5x), and the requests the site received
during the second run, from its ``/_control/stats`` (goal 0). Both runs must store the same pages.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from _common import DAY, SiteProcess, demo_spec, goal_line, make_settings

from harvest.scraping import CrawlResult, run_crawl
from harvest_demo import SiteConfig

REDIS_URL = "redis://127.0.0.1:6379/14"
GOAL_RATIO = 5.0
FAST: dict[str, object] = {}  # the spec's own politeness settings, unchanged


def redis_client(url: str) -> object | None:
    """A client for ``url`` if Redis answers there, else None."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


def crawl_twice(
    site: SiteProcess, cache_url: str | None
) -> tuple[CrawlResult, CrawlResult, dict[str, int]]:
    """Two crawls of ``DAY`` under one fresh home; the second's site requests by path kind."""
    logger = logging.getLogger("bench.cache")
    logger.propagate = False
    spec = demo_spec()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as home:
        settings = make_settings(Path(home), cache_url)

        def crawl() -> CrawlResult:
            return run_crawl(spec, DAY, settings, base_url=site.base_url, logger=logger,
                             timeout_seconds=600, extra_scrapy_settings=FAST)  # fmt: skip

        site.reset_stats()
        first = crawl()
        site.reset_stats()
        second = crawl()
        paths = site.stats()["paths"]
    by_kind: dict[str, int] = {}
    for path, count in paths.items():
        kind = path.strip("/").split("/")[0] or "/"
        by_kind[kind] = by_kind.get(kind, 0) + count
    if first.failed_pages or second.documents != first.documents:
        raise RuntimeError(
            f"first run: {first.documents} documents, {first.failed_pages} failed; "
            f"second run: {second.documents} documents"
        )
    return first, second, by_kind


def report(name: str, first: CrawlResult, second: CrawlResult, by_kind: dict[str, int]) -> bool:
    """Print one cache's figures and goal lines; True when both goals are met."""
    ratio = first.duration_seconds / second.duration_seconds
    requests = sum(by_kind.values())
    print(
        f"  {name}: first run {first.duration_seconds:.1f} s ({first.pages} pages, "
        f"{first.js_pages} JavaScript, {first.requests_to_site} requests to the site); "
        f"second run {second.duration_seconds:.1f} s ({second.cached_responses} from the cache)"
    )
    print(goal_line(f"{name} re-run speed-up first/second", ratio >= GOAL_RATIO,
                    f">= {GOAL_RATIO:g}x", f"{ratio:.1f}x"))  # fmt: skip
    detail = f" ({by_kind})" if requests else ""
    print(goal_line(f"{name} requests to the site in the second run", requests == 0, "0",
                    f"{requests}{detail}"))  # fmt: skip
    return ratio >= GOAL_RATIO and requests == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis database to use and flush")
    args = parser.parse_args()
    listings = args.listings or (100 if args.quick else 1000)
    print(
        f"== re-run of a cached date: {listings} listings "
        f"({SiteConfig().js_fraction:.0%} JavaScript), the spec's crawl settings (AutoThrottle on)"
    )
    # A fresh site process per cache: the site keeps rendered pages in memory, so a second
    # cache's first run against the same process would meet a warmed site.
    with SiteProcess(listings, js_fraction=SiteConfig().js_fraction) as site:
        report("file cache", *crawl_twice(site, None))
    client = redis_client(args.redis_url)
    if client is None:
        print(f"  Redis cache: skipped (no Redis answering at {args.redis_url})")
        return 0
    client.flushdb()  # type: ignore[attr-defined]
    try:
        with SiteProcess(listings, js_fraction=SiteConfig().js_fraction) as site:
            report("Redis cache", *crawl_twice(site, args.redis_url))
    finally:
        client.flushdb()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_cache failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
