"""The Harvest app's pages on a large warehouse: each page's render time against the same
queries run alone.

A SQLite warehouse of the demo source with ``--rows`` processed rows (1,000,000 by default) over
30 nights, its ``partition_loads``, quarantine, crawl figures and crawl monitors, built once.
Per page, two sides, interleaved and rotated over the rounds:

* **page**: the page rendered by Streamlit's ``AppTest`` (the real script: reads, figures,
  widgets), its caches emptied first, so every read reaches the database;
* **queries alone**: the warehouse reads that page makes (the same methods, same arguments),
  nothing else.

Before timing, both sides are checked to show the same figures (the page's "records per
night" loaded bars against ``partition_loads.loaded``, the browse page's row count against a
count of the table). The ratio says what the page adds to its queries (figures, Streamlit);
the queries aggregate in the database (``GROUP BY``), so neither side reads the 1M rows into
memory: the peak memory of the run is printed beside the table's size.

    .venv/bin/python benchmarks/bench_app.py            # 1,000,000 rows, 5 rounds
    .venv/bin/python benchmarks/bench_app.py --quick    # 30,000 rows, 3 rounds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_average, median, ratio_line, rotated
from _warehouse import demo_spec, listings, peak_rss_mb

REPO = Path(__file__).resolve().parent.parent
MAIN = str(REPO / "include/harvest/app/main.py")
NIGHTS = 30
FIRST = dt.date(2026, 2, 1)


def build(url: str, rows: int) -> None:
    """The warehouse: ``rows`` processed rows over NIGHTS nights, with every table a page reads."""
    from harvest.storage.warehouse import PartitionSummary, open_warehouse

    spec = demo_spec()
    per_night = rows // NIGHTS
    with open_warehouse(url, spec) as warehouse:
        for i in range(NIGHTS):
            day = FIRST + dt.timedelta(days=i)
            frame = listings(per_night, day, seed=i, spec=spec)
            frame["listing_id"] = frame["listing_id"].str.replace("L-", f"L{i}-", regex=False)
            frame["url"] = frame["url"].str.replace("/L-", f"/L{i}-", regex=False)
            frame["is_duplicate_of"] = None
            warehouse.load_partition(spec, day, frame)
            issues = frame.head(per_night // 50)[["url"]].assign(
                source="demo", logical_date=day, field="area", check="range",
                value="1 m2", reason="area 1.0 is below the minimum 8.0",
            )  # fmt: skip
            warehouse.replace_quarantine("demo", day, "validate", issues)
            summary = PartitionSummary(
                "demo", day, per_night + len(issues), per_night, len(issues), 0, 0, per_night, True
            )  # fmt: skip
            warehouse.record_partition(summary)
            warehouse.replace_crawl_stats(
                "demo", day,
                {"pages": per_night // 20 + per_night, "failed_pages": 0, "ignored_pages": 0,
                 "items": per_night // 20 + per_night, "item_pages": per_night + len(issues),
                 "cards_seen": 0, "cards_duplicate": 0, "js_pages": 0,
                 "cached_responses": 0, "requests_to_site": per_night, "bytes": per_night * 1500,
                 "duration_seconds": 60.0, "finish_reason": "finished", "links_skipped": {},
                 "completeness_warnings": 0},
            )  # fmt: skip
            warehouse.replace_crawl_monitors(
                "demo", day,
                [{"monitor": m, "status": "passed", "severity": "warning", "message": m}
                 for m in ("item_count", "field_coverage", "error_count", "finish_reason")],
            )  # fmt: skip


def page_side(page: str, setup: Callable[[Any], None] | None = None) -> Callable[[], Any]:
    def run() -> Any:
        import streamlit as st
        from streamlit.testing.v1 import AppTest

        st.cache_data.clear()
        at = AppTest.from_file(MAIN, default_timeout=600)
        if page != "sources":
            at.switch_page(f"pages/{page}.py")  # the page's own run only
        at.run()
        if setup is not None:
            setup(at)
        if at.exception or at.error:
            raise SystemExit(f"page {page}: {[e.value for e in [*at.exception, *at.error]]}")
        return at

    return run


def queries_side(page: str, warehouse: Any, spec: Any) -> Callable[[], Any]:
    from harvest.app import trends, views

    newest = FIRST + dt.timedelta(days=NIGHTS - 1)

    def run() -> Any:
        if page == "sources":
            since = views.since_for(14, newest)
            for name in warehouse.sources():
                warehouse.partition_loads(name)
            out = warehouse.partition_loads("demo", since)
            warehouse.crawl_stats("demo", since)
            warehouse.quarantine_by_reason("demo", since)
            warehouse.field_coverage_by_date(spec, since)
            warehouse.crawl_monitor_results("demo", since)
            return out
        if page == "partition":
            warehouse.partition_loads("demo")
            out = warehouse.partition_loads("demo", newest)
            warehouse.crawl_stats("demo", newest)
            warehouse.quarantine_issues("demo", newest, 1000)
            warehouse.quarantine_by_reason("demo", day=newest)
            warehouse.validation_results("demo", newest)
            warehouse.crawl_monitor_results("demo", day=newest)
            return out
        if page == "trends":
            since = views.since_for(30, newest)
            warehouse.partition_loads("demo")
            out = warehouse.partition_loads("demo", since)
            warehouse.field_coverage_by_date(spec, since)
            warehouse.means_by_date(spec, trends.price_columns(spec), since)
            return out
        if page == "browse":
            warehouse.partition_loads("demo")
            return warehouse.browse(spec, FIRST, newest, {}, limit=1000)
        raise ValueError(page)

    return run


def check_same(page: str, at: Any, alone: Any) -> None:
    """Both sides show the same figures, or the benchmark stops."""
    if page == "sources":
        figure = next(
            json.loads(c.proto.spec) for c in at.get("plotly_chart")
            if "Records per night" in json.loads(c.proto.spec)["layout"]["title"]["text"]
        )  # fmt: skip
        loaded = next(t["y"] for t in figure["data"] if t["name"] == "loaded")
        if loaded != [int(v) for v in alone["loaded"]]:
            raise SystemExit(f"sources: the page shows {loaded}, the query {list(alone['loaded'])}")
    elif page == "browse":
        rows, total = alone
        if f"{total} row(s) match" not in at.caption[0].value or len(at.dataframe[0].value) != len(
            rows
        ):
            raise SystemExit(f"browse: the page and the query disagree ({at.caption[0].value})")
    elif page in ("partition", "trends") and not at.get("plotly_chart"):
        raise SystemExit(f"{page}: the page drew no chart")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args(argv)
    rows = args.rows or (30_000 if args.quick else 1_000_000)
    rounds = args.rounds or (3 if args.quick else 5)
    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    print(load_average())
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{Path(home) / 'warehouse.db'}"
        os.environ.update(HARVEST_HOME=home, HARVEST_WAREHOUSE_URL=url)
        started = time.perf_counter()
        build(url, rows)
        size = (Path(home) / "warehouse.db").stat().st_size / 2**20
        print(f"warehouse: {rows:,} rows over {NIGHTS} nights, {size:.0f} MiB, built in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip

        from harvest.storage.warehouse import open_warehouse

        spec = demo_spec()
        with open_warehouse(url, read_only=True) as warehouse:
            pages = ["sources", "partition", "trends", "browse"]
            sides = {p: (page_side(p), queries_side(p, warehouse, spec)) for p in pages}
            for page, (render, alone) in sides.items():  # warm-up and the same-result check
                check_same(page, render(), alone())
            times: dict[str, dict[str, list[float]]] = {p: {"page": [], "alone": []} for p in pages}
            for r in range(rounds):
                for page in rotated(pages, r):
                    render, alone = sides[page]
                    order = [("page", render), ("alone", alone)]
                    for side, run in order if r % 2 == 0 else order[::-1]:
                        start = time.perf_counter()
                        run()
                        times[page][side].append(time.perf_counter() - start)
        for page in pages:
            page_t, alone_t = times[page]["page"], times[page]["alone"]
            ratios = [a / b for a, b in zip(page_t, alone_t, strict=True)]
            print(
                ratio_line(f"{page} page / its queries alone", ratios, None, "") + f"; page "
                f"{median(page_t):.2f} s, queries {median(alone_t):.3f} s (medians)"
            )
        print(f"peak memory {peak_rss_mb():.0f} MiB for a {size:.0f} MiB warehouse")
    return 0


if __name__ == "__main__":
    sys.exit(main())
