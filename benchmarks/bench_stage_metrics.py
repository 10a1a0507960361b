"""Overhead of Harvest's stage metrics on a partition's stages: statsd on against off, same run.

The demo site is crawled once (``run_partition`` with the crawl: its reports are the ones sent);
then validate, clean and load of that partition are run again and again
(``run_partition(..., scrape=False)``), in pairs, one with ``HARVEST_STATSD_ON`` on (packets to a
real UDP socket of this process) and one off, the order alternating. Two figures:

* on against off: the median of the pairs' CPU-time ratios (``process_time`` of this process; the
  stages run in it), the side-by-side comparison asked for, noisy on a shared machine;
* the emission's own CPU time (what ``measured_stage`` adds when a stage ends: resolving the
  cached client, formatting and sending every stage's lines, the scrape report included), timed
  over many repetitions, against the CPU time of the stages it measures: the figure that holds
  still. Goal for both: under 2 %.

    .venv/bin/python benchmarks/bench_stage_metrics.py            # 7 pairs
    .venv/bin/python benchmarks/bench_stage_metrics.py --quick    # 3 pairs: checks it works

Both sides of every pair must report the same counts (scraped, valid, quarantined, loaded).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DAY, demo_spec, goal_line, load_average, median, ratio_line

from harvest.config import Settings
from harvest.monitoring.metrics import client_for
from harvest.monitoring.stage_metrics import emit_stage
from harvest.pipeline import run_partition
from harvest_demo import DemoSite, SiteConfig

SITE = SiteConfig(seed=5, listings_per_day=200, page_size=25, outlier_fraction=0.05)


def cpu(function: Any) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, help="on/off pairs (default 7, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 pairs: checks it works")
    args = parser.parse_args()
    pairs = args.pairs or (3 if args.quick else 7)
    print(f"== stage metrics overhead: {pairs} on/off pairs, order alternating; {load_average()}")

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # a real UDP port; nobody reads it (statsd never waits)
    spec = demo_spec().model_copy(
        update={"start_urls": ["{base_url}/listings/{date}"]}  # dated: a past day can be crawled
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {"HARVEST_HOME": tmp, "HARVEST_STATSD_HOST": "127.0.0.1"}
        env["HARVEST_STATSD_PORT"] = str(sink.getsockname()[1])
        on = Settings.from_env(env)
        off = replace(on, statsd_on=False)
        with DemoSite(SITE) as site:
            reports = run_partition(spec, DAY, on, base_url=site.base_url)
        counted: dict[bool, list[tuple[int, ...]]] = {True: [], False: []}

        def stages(settings: Settings) -> None:
            done = run_partition(spec, DAY, settings, scrape=False)
            counted[settings.statsd_on].append(
                (done["validate"]["scraped"], done["validate"]["valid"],
                 done["validate"]["quarantined"], done["load"]["loaded"])
            )  # fmt: skip

        stages(off)  # warm-up: imports, GX context, the warehouse's tables
        ratios, on_times, off_times = [], [], []
        for i in range(pairs):
            order = (on, off) if i % 2 else (off, on)
            times = {settings.statsd_on: cpu(lambda s=settings: stages(s)) for settings in order}
            if counted[True][-1] != counted[False][-1]:
                raise RuntimeError(
                    f"on and off disagree: {counted[True][-1]} vs {counted[False][-1]}"
                )
            on_times.append(times[True])
            off_times.append(times[False])
            ratios.append(times[True] / times[False])

    def emit_all() -> None:
        for stage in ("scrape", "validate", "clean", "load"):
            emit_stage(client_for(on), stage, reports[stage], 1.0)

    emission = median([cpu(emit_all) for _ in range(200)])
    sink.close()
    stage_cpu = median(off_times)
    lines = sum(
        emit_stage(client_for(on), s, reports[s], 1.0)
        for s in ("scrape", "validate", "clean", "load")
    )
    print(f"partition: {reports['validate']['scraped']} records, {lines} metric lines per run")
    print(
        f"validate+clean+load CPU: on {median(on_times) * 1000:.0f} ms, "
        f"off {stage_cpu * 1000:.0f} ms (median of {pairs} pairs)"
    )
    ratio = median(ratios) - 1
    print(ratio_line("stage metrics on / off, CPU time", ratios, ratio < 0.02, "< 1.02", fmt=".3f"))
    share = emission / stage_cpu
    print(goal_line("emission of the 4 stages' metrics vs their CPU time", share < 0.02, "< 2 %",
                    f"{share:.4%} ({emission * 1e6:.0f} us CPU)"))  # fmt: skip
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
