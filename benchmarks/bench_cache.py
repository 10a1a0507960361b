"""Re-running a cached date: a re-run of a date against its first ``run_crawl``, per cache.

    python benchmarks/bench_cache.py            # 1000 listings, 3 rounds
    python benchmarks/bench_cache.py --quick    # 100 listings, 2 rounds: checks it works

The demo site (its own process, the default share of JavaScript pages) is crawled for one date
under one fresh home, then re-run twice from the HTTP cache, in rotated order: by Scrapy
(``HARVEST_REPLAY_CACHE`` off: Scrapy's engine serving every page from its cache) and by the
replay (:mod:`harvest.crawler.replay`, the default: the same components walked without the
engine). With the file HTTP cache and, when Redis answers at ``--redis-url`` (database flushed
before and after), with the Redis cache. The runs use the demo spec's own crawl settings
(AutoThrottle on, 8 requests per domain): what a user's nightly run and its re-run do.
Printed: wall time of the runs and the ratios first/re-run for both re-runs (goal for the
default, the replay: >= 5x), and the requests the site received during the re-runs, from its
``/_control/stats`` (goal 0). Checked every round: the three runs store the same pages, and the
two re-runs give the same crawl report (every count, the completeness account, the monitors)
and the same raw documents (records compared as a whole: which page carries the record of cards
sharing an item page depends on the order pages are parsed in).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

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


RERUNS = ("Scrapy", "replay")  # the re-run with HARVEST_REPLAY_CACHE off, and on (the default)
UNCOMPARED = ("duration_seconds", "monitors_cpu_seconds", "replayed_from_cache")


def _documents(settings: Any) -> tuple[dict[str, Any], list[str]]:
    """The partition's documents by URL (records aside) and all its records, sorted."""
    from harvest.storage.raw import open_raw_store

    store = open_raw_store(settings.raw_store_url)
    try:
        docs = store.read_partition("demo", DAY)
    finally:
        store.close()
    pages = {doc.url: {**doc.to_dict(), "records": None} for doc in docs}
    return pages, sorted(json.dumps(r, sort_keys=True) for doc in docs for r in doc.records)


def _report(result: CrawlResult) -> dict[str, Any]:
    report = result.to_dict()
    for name in UNCOMPARED:
        report.pop(name)
    return report


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (the crawl processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


cpu: dict[int, float] = {}  # a run's crawl process CPU seconds (RUSAGE_CHILDREN)


def crawl_and_rerun(
    site: SiteProcess, cache_url: str | None, order: list[str]
) -> tuple[CrawlResult, dict[str, CrawlResult], dict[str, int]]:
    """The first crawl of ``DAY`` under one fresh home, then its re-runs in ``order``; the
    re-runs' site requests by path kind. Raises when the runs disagree."""
    logger = logging.getLogger("bench.cache")
    logger.propagate = False
    spec = demo_spec()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as home:
        settings = make_settings(Path(home), cache_url)

        def crawl(replay: bool) -> CrawlResult:
            before = _children_cpu()
            result = run_crawl(spec, DAY, settings.with_overrides(replay_cache=replay),
                               base_url=site.base_url, logger=logger, timeout_seconds=600,
                               extra_scrapy_settings=FAST)  # fmt: skip
            cpu[id(result)] = _children_cpu() - before
            return result

        site.reset_stats()
        first = crawl(False)
        site.reset_stats()
        reruns, documents = {}, {}
        for name in order:
            reruns[name] = crawl(name == "replay")
            documents[name] = _documents(settings)
        paths = site.stats()["paths"]
    by_kind: dict[str, int] = {}
    for path, count in paths.items():
        kind = path.strip("/").split("/")[0] or "/"
        by_kind[kind] = by_kind.get(kind, 0) + count
    scrapy, replay = reruns["Scrapy"], reruns["replay"]
    if first.failed_pages or {r.documents for r in reruns.values()} != {first.documents}:
        raise RuntimeError(
            f"first run: {first.documents} documents, {first.failed_pages} failed; "
            f"re-runs: {[r.documents for r in reruns.values()]} documents"
        )
    if not replay.replayed_from_cache or scrapy.replayed_from_cache:
        raise RuntimeError("the replay did not replay (see the crawl log), or Scrapy did")
    if _report(scrapy) != _report(replay) or documents["Scrapy"] != documents["replay"]:
        raise RuntimeError("the Scrapy re-run and the replay disagree")
    return first, reruns, by_kind


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
    ratios: dict[str, dict[str, list[float]]] = {name: {r: [] for r in RERUNS} for name in caches}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in caches}
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
                    order = rotated(list(RERUNS), n)
                    first, reruns, by_kind = crawl_and_rerun(site, caches[name], order)
                documents.add(first.documents)
                for rerun, result in reruns.items():
                    ratios[name][rerun].append(first.duration_seconds / result.duration_seconds)
                requests[name].append(sum(by_kind.values()))
                scrapy_cpu, replay_cpu = cpu[id(reruns["Scrapy"])], cpu[id(reruns["replay"])]
                cpu_ratios[name].append(scrapy_cpu / replay_cpu)
                detail = f" ({by_kind})" if by_kind else ""
                times = ", ".join(
                    f"{r} {reruns[r].duration_seconds:.1f} s ({cpu[id(reruns[r])]:.2f} s CPU)"
                    for r in order
                )
                print(f"  round {n + 1}, {name}: first run {first.duration_seconds:.1f} s "
                      f"({first.pages} pages, {first.js_pages} JavaScript, "
                      f"{first.requests_to_site} requests to the site); re-runs {times} "
                      f"({reruns['Scrapy'].cached_responses} from the cache, checked equal; "
                      f"{requests[name][-1]} requests to the site{detail})", flush=True)  # fmt: skip
    finally:
        if client is not None:
            client.flushdb()  # type: ignore[attr-defined]
    if len(documents) != 1:
        raise RuntimeError(f"the caches' runs stored different numbers of pages: {documents}")
    for name in caches:
        scrapy, replay = ratios[name]["Scrapy"], ratios[name]["replay"]
        print(ratio_line(f"{name} re-run speed-up first/re-run, the replay (default)", replay,
                         median(replay) >= GOAL_RATIO, f">= {GOAL_RATIO:g}x",
                         fmt=".1f", unit="x"))  # fmt: skip
        print(ratio_line(f"{name} re-run speed-up first/re-run, Scrapy (replay off)", scrapy,
                         None, "", fmt=".1f", unit="x"))  # fmt: skip
        print(ratio_line(f"{name} re-run CPU, Scrapy/replay (the crawl process's)",
                         cpu_ratios[name], None, "", fmt=".2f", unit="x"))  # fmt: skip
        print(goal_line(f"{name} requests to the site in the re-runs",
                        not any(requests[name]), "0", f"{requests[name]}"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_cache failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
