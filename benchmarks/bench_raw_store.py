"""Peak memory of the file raw store during a crawl: journaled batches against the whole day in memory.

    python benchmarks/bench_raw_store.py            # 50k pages of 10 KB, and 5k for the slope
    python benchmarks/bench_raw_store.py --quick    # 5k and 1k pages: checks it works

Each measurement is its own process (peak RSS from ``wait4``, so runs never share a heap): the
crawl's ``RawStorePipeline`` receives N page items of 10 KB of HTML each (batches of 500, as a
crawl sends them) and closes. Ours: the file raw store as a crawl opens it (``deferred``: batches
journaled to disk, one commit at close). Baseline, side by side: the same store holding every
document in memory until close, which is what it did before (a dict of rows written once).
Both partitions are checked to hold N documents. Goals: at 50k pages ours uses <= 0.25 x the
baseline's peak, and ours grows <= 1.25 x from 5k to 50k pages (flat, not growing with pages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, _child_env, load_average, median, ratio_line, rotated, spread

DAY = dt.date(2026, 3, 1)
PAGE_BYTES = 10_000
MODES = ("journal", "in_memory")


def child(mode: str, pages: int, root: Path) -> int:
    """Feed ``pages`` items through the pipeline into a store under ``root``; print JSON."""
    from harvest.crawler import pipelines
    from harvest.crawler.items import PageItem
    from harvest.partitions import Partition
    from harvest.storage.raw import FileRawStore

    if mode == "in_memory":  # the pipeline opens its store through this name
        pipelines.open_raw_store = lambda url, deferred=False: InMemoryFileRawStore(root)  # type: ignore[assignment]
    pipeline = pipelines.RawStorePipeline(f"file://{root}", Partition("bench", DAY), batch_size=500)
    pipeline.open_spider()
    filler = "x" * (PAGE_BYTES - 200)
    started = time.perf_counter()
    for n in range(pages):
        pipeline.process_item(
            PageItem(
                url=f"http://bench.test/listing/{n:07d}",
                status=200,
                page_type="detail",
                fetched_at="2026-03-01T02:00:00+00:00",
                fields={"listing_id": f"L-{n}", "price": "1250 EUR"},
                body=f"<html><body><p>{n}</p><p>{filler}</p></body></html>",
            )
        )
    pipeline.close_spider()
    pipeline.spider_closed("finished")  # what Scrapy's signal does: commit the partition
    seconds = time.perf_counter() - started
    with FileRawStore(root).path("bench", DAY).open(encoding="utf-8") as partition:
        documents = sum(1 for _ in partition)  # streamed: reading it whole would set the peak
    print(json.dumps({"documents": documents, "seconds": seconds}))
    return 0


class InMemoryFileRawStore:
    """The baseline: the file store as it was, every upsert kept in memory until close."""

    def __init__(self, root: Path) -> None:
        from harvest.storage.raw import FileRawStore

        self._store = FileRawStore(root)
        self._rows: dict[str, dict[str, Any]] = {}

    def upsert_many(self, docs: Any) -> int:
        n = 0
        for doc in docs:
            self._rows[doc.url] = doc.to_dict()
            n += 1
        return n

    def uri(self, source: str, logical_date: dt.date) -> str:
        return self._store.uri(source, logical_date)

    def commit(self, source: str, logical_date: dt.date) -> int:
        self._store._write(self._store.path(source, logical_date), self._rows)
        return len(self._rows)

    def close(self) -> None:
        pass


def measure(mode: str, pages: int) -> dict[str, float]:
    """Run one child; its peak RSS (MB), seconds and document count."""
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as root:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, str(pages), root],
            stdout=subprocess.PIPE,
            env=_child_env(),
            cwd=REPO,
        )
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} with {pages} pages failed (exit code {proc.returncode})")
        result = json.loads(out)
        if result["documents"] != pages:
            raise RuntimeError(f"{mode}: {result['documents']} documents stored, not {pages}")
        return {"peak_mb": usage.ru_maxrss / 1024, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, --quick 2)")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "PAGES", "ROOT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, pages, root = args.child
        return child(mode, int(pages), Path(root))
    small, large = (1_000, 5_000) if args.quick else (5_000, 50_000)
    rounds = args.rounds or (2 if args.quick else 3)
    print(f"== file raw store peak memory: {small} and {large} pages of {PAGE_BYTES // 1000} KB, "
          f"{rounds} rounds, the modes in rotated order; {load_average()}")  # fmt: skip
    peaks: dict[tuple[str, int], list[float]] = {}
    for n in range(rounds):
        for pages in (small, large):
            for mode in rotated(list(MODES), n):
                r = measure(mode, pages)
                peaks.setdefault((mode, pages), []).append(r["peak_mb"])
                print(f"  round {n + 1}: {mode:9s} {pages:6d} pages: peak {r['peak_mb']:7.1f} MB, "
                      f"{r['seconds']:5.1f} s, {r['documents']} documents")  # fmt: skip
    ours, before = peaks["journal", large], peaks["in_memory", large]
    print(f"peak at {large} pages (medians): journal {median(ours):.0f} MB (spread "
          f"{spread(ours, '.0f')}), in memory {median(before):.0f} MB (spread "
          f"{spread(before, '.0f')})")  # fmt: skip
    ratios = [a / b for a, b in zip(ours, before, strict=True)]
    print(ratio_line("peak memory ratio journal/in-memory", ratios, median(ratios) <= 0.25,
                     "<= 0.25"))  # fmt: skip
    growth = [a / b for a, b in zip(ours, peaks["journal", small], strict=True)]
    print(ratio_line(f"journal peak growth {small} -> {large} pages", growth,
                     median(growth) <= 1.25, "<= 1.25"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_raw_store failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
