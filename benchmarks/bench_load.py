"""Loading a partition into PostgreSQL: Harvest's load path against ``psql \\copy`` and ``to_sql``.

    python benchmarks/bench_load.py             # 1M rows, 3 rounds (a few minutes)
    python benchmarks/bench_load.py --quick     # 20k rows, 3 rounds: checks it works
    python benchmarks/bench_load.py --rows 100000 --rounds 5

Generates realistic processed listing rows once, then, in a database of its own (created for the
run and dropped after), each round runs these in rotated order (no side always first):

* (a) ``Warehouse.load_partition`` (opened with ``open_warehouse``) of a new partition into ``processed_demo`` (primary key and
  ``logical_date`` index; one transaction; a first load COPYs straight into the table), then
  the same partition again (the re-run: staging table + upsert, nothing changes);
* (a0) the same first load forced through the staging table + upsert, the baseline the direct
  COPY must beat by >= 1.3x to be worth keeping;
* (b) ``psql \\copy`` of the same rows from CSV into a plain table with the same columns and no
  keys (the practical limit, the headline goal); (b2) the same into a table with the processed
  table's primary key and ``logical_date`` index (the limit for a keyed table);
* (c) ``pandas.DataFrame.to_sql`` with its defaults, on a subsample, scaled linearly.

Every side must leave the same rows (count and a hash of the contents, ``loaded_at`` aside)
before its time counts. Each timed step starts right after a ``CHECKPOINT`` (when the role may
run one), so one step's WAL does not slow the next. Prints each side's median rate with its
spread, the ratios (median of the per-round ratios, spread), peak RSS and the load average.
Goals: (a) >= 0.5 x (b), (a) >= 5 x (c), direct COPY >= 1.3 x staging + upsert.
The re-load's growth with the partition's size is ``bench_reload.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pa_csv
import sqlalchemy as sa
from _common import load_average, median, ratio_line, rotated, spread
from _warehouse import (
    DEFAULT_URL,
    demo_spec,
    digest,
    listings,
    peak_rss_mb,
    scratch_database,
    settle,
)

from harvest.storage.warehouse import load, open_warehouse, processed_arrow, processed_table
from harvest.storage.warehouse.engine import engine_for

DAY = dt.date(2026, 1, 5)
COPY_GOAL, TO_SQL_GOAL, DIRECT_GOAL = 0.5, 5.0, 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k rows: checks it works")
    parser.add_argument("--rows", type=int, help="rows in the partition (default 1M)")
    parser.add_argument("--to-sql-rows", type=int, help="subsample for to_sql (default 100k)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (>= 3)")
    parser.add_argument("--url", default=DEFAULT_URL, help="any database on the server")
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    to_sql_rows = min(rows, args.to_sql_rows or (5_000 if args.quick else 100_000))
    spec = demo_spec()
    print(f"== warehouse load: {rows:,} rows, {args.rounds} rounds in rotated order; "
          f"{load_average()}")  # fmt: skip
    started = time.perf_counter()
    frame = listings(rows, DAY, spec=spec)
    print(f"  generated in {time.perf_counter() - started:.1f}s (peak RSS {peak_rss_mb():.0f} MB)")

    with scratch_database(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        text_url = url.render_as_string(hide_password=False)
        warehouse = open_warehouse(text_url)
        warehouse.migrate([spec])
        engine = engine_for(text_url)
        # (b) a plain table with the same columns and types; (b2) the same with the processed
        # table's primary key and logical_date index
        columns = [c for c in processed_table(spec).columns if c.name != "loaded_at"]
        names = [c.name for c in columns]
        sa.Table("bench_copy", sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns)).create(
            engine
        )
        sa.Table(
            "bench_keyed",
            sa.MetaData(),
            *(sa.Column(c.name, c.type, primary_key=c.primary_key) for c in columns),
            sa.Index("ix_bench_keyed_logical_date", "logical_date"),
        ).create(engine)
        psql_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        csv_path = Path(tmp) / "listings.csv"
        pa_csv.write_csv(
            processed_arrow(spec, DAY, frame), csv_path, pa_csv.WriteOptions(include_header=False)
        )
        expected: dict[str, tuple[int, str]] = {}

        def check(side: str, table: str) -> None:
            """The side left the same rows as every other side (the first one sets them)."""
            got = digest(engine, table, names)
            want = expected.setdefault("rows", got)
            if got != want or got[0] != rows:
                raise RuntimeError(f"{side} left {got} in {table}, expected {want} ({rows} rows)")

        def ours() -> float:
            settle(engine, "processed_demo")
            started = time.perf_counter()
            result = warehouse.load_partition(spec, DAY, frame)
            rate = rows / (time.perf_counter() - started)
            check("(a) load_partition", "processed_demo")
            settle(engine)
            started = time.perf_counter()
            again = warehouse.load_partition(spec, DAY, frame)
            rates["re-run"].append(rows / (time.perf_counter() - started))
            check("(a) re-run", "processed_demo")
            if (result.strategy, again.strategy, again.written, again.deleted) != (
                "copy", "upsert", 0, 0,
            ):  # fmt: skip
                raise RuntimeError(f"unexpected load results: {result} then {again}")
            return rate

        def staged() -> float:
            settle(engine, "processed_demo")
            started = time.perf_counter()
            result = load.load_partition(engine, spec, DAY, frame, {}, direct_copy=False)
            rate = rows / (time.perf_counter() - started)
            if (result.rows, result.written, result.strategy) != (rows, rows, "upsert"):
                raise RuntimeError(f"unexpected staging-only first load: {result}")
            check("(a0) staging + upsert", "processed_demo")
            return rate

        def psql_copy(table: str) -> Callable[[], float]:
            def run() -> float:
                command = f"\\copy {table} FROM '{csv_path}' WITH (FORMAT csv)"
                settle(engine, table)
                started = time.perf_counter()
                subprocess.run(
                    ["psql", psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True
                )
                rate = rows / (time.perf_counter() - started)
                check(f"psql \\copy into {table}", table)
                return rate

            return run

        def to_sql() -> float:
            sample = frame.head(to_sql_rows).copy()
            sample["imputed"] = sample["imputed"].map(str)  # to_sql cannot bind lists
            settle(engine)
            started = time.perf_counter()
            sample.to_sql("bench_to_sql", engine, index=False, if_exists="replace")
            rate = to_sql_rows / (time.perf_counter() - started)
            with engine.connect() as conn:
                count = conn.exec_driver_sql("SELECT count(*) FROM bench_to_sql").scalar_one()
            if count != to_sql_rows:
                raise RuntimeError(f"to_sql wrote {count} rows, expected {to_sql_rows}")
            return rate

        sides: dict[str, Callable[[], float]] = {
            "(a) load_partition": ours,
            "(a0) staging + upsert": staged,
            "(b) psql \\copy, plain": psql_copy("bench_copy"),
            "(b2) psql \\copy, key + index": psql_copy("bench_keyed"),
            "(c) DataFrame.to_sql": to_sql,
        }
        rates: dict[str, list[float]] = {name: [] for name in [*sides, "re-run"]}
        for n in range(args.rounds):
            for name in rotated(list(sides), n):
                rates[name].append(sides[name]())
            print(f"  round {n + 1}: " + ", ".join(
                f"{name.split()[0]} {rates[name][-1]:,.0f}" for name in sides
            ) + " rows/s")  # fmt: skip
        engine.dispose()
        warehouse.close()

    for name, values in rates.items():
        label = "(a) re-run, nothing changed" if name == "re-run" else name
        extra = f" on {to_sql_rows:,} rows (scaled linearly)" if name.startswith("(c)") else ""
        print(
            f"{label:<32}{median(values):>12,.0f} rows/s (spread {spread(values, ',.0f')}){extra}"
        )

    def ratios(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(rates[a], rates[b], strict=True)]

    direct = ratios("(a) load_partition", "(a0) staging + upsert")
    plain = ratios("(a) load_partition", "(b) psql \\copy, plain")
    keyed = ratios("(a) load_partition", "(b2) psql \\copy, key + index")
    pandas = ratios("(a) load_partition", "(c) DataFrame.to_sql")
    print(ratio_line("direct COPY / staging + upsert (first load)", direct,
                     median(direct) >= DIRECT_GOAL, f">= {DIRECT_GOAL} to keep it"))  # fmt: skip
    print(ratio_line("ours / \\copy into a plain table", plain, median(plain) >= COPY_GOAL,
                     f">= {COPY_GOAL}"))  # fmt: skip
    print(ratio_line("ours / \\copy into the keyed table", keyed, None, ""))
    print(ratio_line("ours / to_sql", pandas, median(pandas) >= TO_SQL_GOAL, f">= {TO_SQL_GOAL}",
                     fmt=".1f"))  # fmt: skip
    print(f"peak RSS {peak_rss_mb():.0f} MB; {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_load failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
