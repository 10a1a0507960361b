"""Re-running a cached date: the second ``run_crawl`` of a date against the first, per cache.

    python benchmarks/bench_cache.py            # 1000 listings, 3 rounds
    python benchmarks/bench_cache.py --quick    # 100 listings, 2 rounds: checks it works

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

from _common import (
    DAY,
    SiteProcess,
    demo_spec,
    goal_line,
    load_average,
    make_settings,
    median,
    ratio_line,
    rotated,
)

from harvest.scraping import CrawlResult, run_crawl
from harvest_demo import SiteConfig

REDIS_URL = "redis://127.0.0.1:6379/13"  # not 14 (the Celery e2e broker) nor 15 (tests)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--listings", type=int, help="listings on the crawled day")
    parser.add_argument("--rounds", type=int, help="rounds, the caches in rotated order")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis database to use and flush")
    args = parser.parse_args()
    listings = args.listings or (100 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 3)
    print(
        f"== re-run of a cached date: {listings} listings "
        f"({SiteConfig().js_fraction:.0%} JavaScript), the spec's crawl settings (AutoThrottle on), "
        f"{rounds} rounds, the caches in rotated order; {load_average()}",
        flush=True,
    )
    caches: dict[str, str | None] = {"file cache": None}
    client = redis_client(args.redis_url)
    if client is None:
        print(f"  Redis cache: skipped (no Redis answering at {args.redis_url})")
    else:
        caches["Redis cache"] = args.redis_url
    ratios: dict[str, list[float]] = {name: [] for name in caches}
    requests: dict[str, list[int]] = {name: [] for name in caches}
    documents: set[int] = set()
    try:
        for n in range(rounds):
            for name in rotated(list(caches), n):
                if caches[name]:
                    client.flushdb()  # type: ignore[union-attr]
                # a fresh site process each time: the site keeps rendered pages in memory, so
                # another first run against the same process would meet a warmed site
                with SiteProcess(listings, js_fraction=SiteConfig().js_fraction) as site:
                    first, second, by_kind = crawl_twice(site, caches[name])
                documents.add(first.documents)
                ratios[name].append(first.duration_seconds / second.duration_seconds)
                requests[name].append(sum(by_kind.values()))
                detail = f" ({by_kind})" if by_kind else ""
                print(f"  round {n + 1}, {name}: first run {first.duration_seconds:.1f} s "
                      f"({first.pages} pages, {first.js_pages} JavaScript, "
                      f"{first.requests_to_site} requests to the site); second run "
                      f"{second.duration_seconds:.1f} s ({second.cached_responses} from the cache, "
                      f"{requests[name][-1]} requests to the site{detail})", flush=True)  # fmt: skip
    finally:
        if client is not None:
            client.flushdb()  # type: ignore[attr-defined]
    if len(documents) != 1:
        raise RuntimeError(f"the caches' runs stored different numbers of pages: {documents}")
    for name in caches:
        print(ratio_line(f"{name} re-run speed-up first/second", ratios[name],
                         median(ratios[name]) >= GOAL_RATIO, f">= {GOAL_RATIO:g}x",
                         fmt=".1f", unit="x"))  # fmt: skip
        print(goal_line(f"{name} requests to the site in the second runs",
                        not any(requests[name]), "0", f"{requests[name]}"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_cache failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
