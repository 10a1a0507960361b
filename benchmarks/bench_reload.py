"""Re-loading a partition right after loading it: time against rows, 1k to 1M, on PostgreSQL.

    python benchmarks/bench_reload.py            # 1k, 10k, 100k, 1M rows; 3 rounds each
    python benchmarks/bench_reload.py --quick    # 1k, 10k, 40k rows; 3 rounds: checks it works
    python benchmarks/bench_reload.py --sizes 1000,5000,10000,20000

A re-run of a date re-loads a partition that was just loaded: right after the load, before
autovacuum has analyzed the table, PostgreSQL's statistics say that date holds about one row
(it was not in the table when it was last analyzed), the plan the upsert's DELETE of gone rows
gets is then chosen for one row, and it must still be linear. Per size, in a database of its own
whose ``processed_demo`` has autovacuum off (so the statistics stay as the load left them):

* set-up, untimed: the table emptied, an older date (10k rows) loaded and ``ANALYZE``d, then the
  partition loaded (``Warehouse.load_partition``, the first load's direct COPY);
* right after: the partition re-loaded at once, 1% of its rows gone and 1% with a new price
  (so the re-load deletes, updates and keeps);
* baseline, analyzed: the same, with ``ANALYZE processed_demo`` between load and re-load (the
  plan the statistics are right for).

Both sides are timed on the re-load alone, rounds alternate in rotated order, and both must
leave the same rows (count and a hash of the contents, ``loaded_at`` aside) and report the same
written/deleted counts. Prints per size the median seconds with spread, the ratio right-after /
analyzed, and the growth exponent between sizes (log time ratio / log size ratio: 1 is linear,
2 quadratic). Goals: right after <= 1.5 x analyzed at every size (median of the rounds' ratios);
growth exponent <= 1.2 between consecutive sizes from 10k rows up (below, fixed costs dominate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import sys
import time
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from _common import goal_line, load_average, median, ratio_line, rotated, spread
from _warehouse import DEFAULT_URL, demo_spec, digest, listings, scratch_database, settle

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse import Warehouse, open_warehouse, processed_table
from harvest.storage.warehouse.engine import engine_for

OLDER, DAY = dt.date(2026, 1, 4), dt.date(2026, 1, 5)
HISTORY_ROWS = 10_000
RATIO_GOAL, EXPONENT_GOAL, EXPONENT_FROM = 1.5, 1.2, 10_000


def rerun_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The re-run's partition: every 100th row gone, every 100th (another) with a new price."""
    kept = frame.iloc[[i for i in range(len(frame)) if i % 100 != 0]].copy()
    changed = kept.index % 100 == 50
    kept.loc[changed, "price"] = kept.loc[changed, "price"] + 1
    kept.loc[changed, "price_eur"] = kept.loc[changed, "price_eur"] + 1
    return kept.reset_index(drop=True)


@dataclass
class Case:
    """One size: the partition, its re-run, and the result every re-load must leave."""

    warehouse: Warehouse
    engine: sa.Engine
    spec: SourceSpec
    history: pd.DataFrame
    frame: pd.DataFrame
    names: list[str]
    expected: tuple[object, ...] | None = None

    def __post_init__(self) -> None:
        self.again = rerun_frame(self.frame)

    def analyze(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE processed_demo")

    def reload(self, analyze: bool) -> float:
        """Seconds of the re-load right after the load (``analyze``: after ANALYZE)."""
        size = len(self.frame)
        settle(self.engine, "processed_demo")
        self.warehouse.load_partition(self.spec, OLDER, self.history)
        self.analyze()
        first = self.warehouse.load_partition(self.spec, DAY, self.frame)
        if first.strategy != "copy" or first.rows != size:
            raise RuntimeError(f"unexpected first load: {first}")
        if analyze:
            self.analyze()
        settle(self.engine)
        started = time.perf_counter()
        result = self.warehouse.load_partition(self.spec, DAY, self.again)
        seconds = time.perf_counter() - started
        got = (
            result.rows, result.written, result.deleted,
            digest(self.engine, "processed_demo", self.names),
        )  # fmt: skip
        self.expected = self.expected or got
        if got != self.expected or result.deleted != size - len(self.again):
            side = "analyzed" if analyze else "right after"
            raise RuntimeError(f"{size:,} rows, {side}: {got}, expected {self.expected}")
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks it works")
    parser.add_argument("--sizes", help="comma-separated partition sizes in rows")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per size (>= 3)")
    parser.add_argument("--url", default=DEFAULT_URL, help="any database on the server")
    args = parser.parse_args()
    default = "1000,10000,40000" if args.quick else "1000,10000,100000,1000000"
    sizes = [int(s) for s in (args.sizes or default).split(",")]
    spec = demo_spec()
    print(f"== re-load right after a load: {', '.join(f'{s:,}' for s in sizes)} rows, "
          f"{args.rounds} rounds each in rotated order; {load_average()}")  # fmt: skip
    history = listings(HISTORY_ROWS, OLDER, seed=3, spec=spec)
    names = [c.name for c in processed_table(spec).columns if c.name != "loaded_at"]
    medians: dict[int, float] = {}
    ratios_met = True
    with scratch_database(args.url) as url:
        text_url = url.render_as_string(hide_password=False)
        warehouse = open_warehouse(text_url)
        warehouse.migrate([spec])
        engine = engine_for(text_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE processed_demo SET (autovacuum_enabled = false)")
        for size in sizes:
            case = Case(warehouse, engine, spec, history, listings(size, DAY, spec=spec), names)
            times: dict[bool, list[float]] = {False: [], True: []}
            for n in range(args.rounds):
                for analyze in rotated([False, True], n):
                    times[analyze].append(case.reload(analyze))
            ratios = [a / b for a, b in zip(times[False], times[True], strict=True)]
            medians[size] = median(times[False])
            met = median(ratios) <= RATIO_GOAL
            ratios_met &= met
            _, written, deleted, _ = case.expected or (0, 0, 0, 0)
            print(f"{size:>9,} rows: right after {medians[size]:.3f} s (spread "
                  f"{spread(times[False], '.3f')}), analyzed {median(times[True]):.3f} s (spread "
                  f"{spread(times[True], '.3f')}); {1e6 * medians[size] / size:.1f} us/row; "
                  f"written {written:,}, deleted {deleted:,}")  # fmt: skip
            print("  " + ratio_line(f"right after / analyzed at {size:,}", ratios, met,
                                    f"<= {RATIO_GOAL}"))  # fmt: skip
        engine.dispose()
        warehouse.close()

    growth_met = True
    for small, large in itertools.pairwise(sizes):
        exponent = math.log(medians[large] / medians[small]) / math.log(large / small)
        judged = small >= EXPONENT_FROM
        growth_met &= exponent <= EXPONENT_GOAL or not judged
        line = f"growth {small:,} -> {large:,} rows: time x{medians[large] / medians[small]:.1f}"
        print(goal_line(line, exponent <= EXPONENT_GOAL, f"exponent <= {EXPONENT_GOAL}",
                        f"exponent {exponent:.2f}") + ("" if judged else " (fixed costs; not judged)"))  # fmt: skip
    if not any(s >= EXPONENT_FROM for s in sizes[:-1]):
        verdict = f"growth not judged (sizes below {EXPONENT_FROM:,} rows)"
    else:
        verdict = "linear" if growth_met else "NOT linear"
    print(f"re-load right after a load: {verdict}; goals "
          f"{'met' if growth_met and ratios_met else 'missed'}; {load_average()}")  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_reload failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
