"""Loading a partition into PostgreSQL: Harvest's load path against ``psql \\copy`` and ``to_sql``.

    python benchmarks/bench_load.py                # 1M rows (about two minutes)
    python benchmarks/bench_load.py --repeat 3     # median of 3 (a)/(a0)/(b)/(b2) rounds, interleaved
    python benchmarks/bench_load.py --rows 100000  # quick check

Generates realistic processed listing rows once, then, in the same database (created for the run
and dropped after): (a) ``Warehouse.load_partition`` of a new partition into a table with its
primary key and index (one transaction; a first load COPYs straight into the table, the
strategy taken is printed), then the same partition again (the re-run: staging table + upsert,
nothing changes); (a0) the same first load forced through the staging table + upsert, the
baseline the direct COPY must beat by >= 1.3x to be worth keeping; (b) ``psql \\copy`` of the same rows from a CSV file into a plain table with the same
columns and no keys (the practical limit, the headline goal); (b2) the same ``\\copy`` into a
table with the processed table's primary key and ``logical_date`` index (the limit for a keyed
table); (c) ``pandas.DataFrame.to_sql`` with its defaults, on a subsample scaled linearly. Each
timed step starts right after a ``CHECKPOINT`` (when the role may run one), so that one step's
WAL does not slow the next. Prints rows/s, the ratios and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import resource
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from harvest.config.spec import load_spec
from harvest.storage.warehouse import (
    load,
    open_warehouse,
    processed_arrow,
    processed_table,
)
from harvest.storage.warehouse.engine import engine_for

SPEC_PATH = Path(__file__).resolve().parent.parent / "include/harvest/sources/demo.yaml"
DAY = dt.date(2026, 1, 5)
CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Leipzig"]
WORDS = ["Bright", "Quiet", "Spacious", "Cosy", "Modern", "Renovated", "Sunny", "Charming"]
KINDS = ["flat", "apartment", "loft", "studio", "penthouse", "maisonette"]


def listings(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` processed listing rows of one partition, shaped like the cleaning stage's output."""
    rng = np.random.default_rng(seed)
    ids = np.char.add(f"L-{DAY:%Y%m%d}-", np.char.zfill(np.arange(n).astype(str), 7))

    def nulls(values: pd.api.extensions.ExtensionArray, rate: float) -> pd.Series:
        series = pd.Series(values)
        series[rng.random(n) < rate] = pd.NA
        return series

    rooms = rng.integers(1, 6, n)
    city = np.array(CITIES)[rng.integers(0, len(CITIES), n)]
    district = np.char.add("District ", rng.integers(1, 25, n).astype(str))
    titles = np.char.add(
        np.char.add(np.array(WORDS)[rng.integers(0, len(WORDS), n)], " "),
        np.char.add(
            np.char.add(rooms.astype(str), "-room "), np.array(KINDS)[rng.integers(0, 6, n)]
        ),
    )
    area = np.round(rng.normal(25 * rooms + 20, 12).clip(12, 400), 1)
    price = np.round(area * rng.normal(15, 3, n).clip(6, 40), 2)
    imputed_choices = [[], [], [], [], [], [], ["area"], ["rooms"], ["area", "rooms"]]
    duplicates = np.full(n, None, dtype=object)
    relisted = rng.random(n) < 0.02
    duplicates[relisted] = np.roll(ids, 1)[relisted]
    return pd.DataFrame(
        {
            "source": "demo",
            "logical_date": DAY,
            "url": pd.array(np.char.add("http://127.0.0.1:8000/listing/", ids), dtype="string"),
            "listing_id": pd.array(ids, dtype="string"),
            "title": pd.array(np.char.add(np.char.add(titles, " in "), city), dtype="string"),
            "price": pd.array(price, dtype="Float64"),
            "price_currency": pd.array(
                np.where(rng.random(n) < 0.97, "EUR", "USD"), dtype="string"
            ),
            "area": nulls(pd.array(area, dtype="Float64"), 0.05),
            "rooms": pd.array(rooms, dtype="Int64"),
            "floor": nulls(pd.array(rng.integers(-1, 20, n), dtype="Int64"), 0.1),
            "city": pd.array(city, dtype="string"),
            "district": nulls(pd.array(district, dtype="string"), 0.1),
            "balcony": pd.array(rng.random(n) < 0.4, dtype="boolean"),
            "built_year": nulls(pd.array(rng.integers(1880, 2026, n), dtype="Int64"), 0.15),
            "available_from": [
                DAY + dt.timedelta(days=int(d)) if d < 90 else None for d in rng.integers(0, 120, n)
            ],
            "is_duplicate_of": pd.array(duplicates, dtype="string"),
            "imputed": [imputed_choices[i] for i in rng.integers(0, len(imputed_choices), n)],
        }
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settle(engine: sa.Engine, *truncate: str) -> None:
    """Empty the given tables and flush dirty buffers, so the next timed step starts clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in truncate:
            conn.exec_driver_sql(f"TRUNCATE {table}")
        # CHECKPOINT needs superuser or pg_checkpoint; without it the timings are noisier
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.exec_driver_sql("CHECKPOINT")


def rates(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--to-sql-rows", type=int, default=100_000, help="subsample for to_sql")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of (a), (b), (b2); the median is reported"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "HARVEST_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"
        ),
        help="any database on the server; the benchmark creates and drops its own",
    )
    args = parser.parse_args()

    server = sa.make_url(args.url)
    name = f"harvest_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = server.set(drivername="postgresql+psycopg2", database=name)
    spec = load_spec(SPEC_PATH)
    try:
        started = time.perf_counter()
        frame = listings(args.rows)
        print(
            f"generated {len(frame):,} rows in {time.perf_counter() - started:.1f}s "
            f"(peak RSS {peak_rss_mb():.0f} MB)"
        )

        warehouse = open_warehouse(url.render_as_string(hide_password=False))
        warehouse.migrate([spec])
        engine = engine_for(url.render_as_string(hide_password=False))
        # (b) a plain table with the same columns and types; (b2) the same with the processed
        # table's primary key and logical_date index
        columns = [c for c in processed_table(spec).columns if c.name != "loaded_at"]
        bare = sa.Table("bench_copy", sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns))
        bare.create(engine)
        keyed = sa.Table(
            "bench_keyed",
            sa.MetaData(),
            *(sa.Column(c.name, c.type, primary_key=c.primary_key) for c in columns),
            sa.Index("ix_bench_keyed_logical_date", "logical_date"),
        )
        keyed.create(engine)
        psql_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        ours: list[float] = []
        staged: list[float] = []
        reruns: list[float] = []
        copies: list[float] = []
        keyed_copies: list[float] = []
        strategies: set[str] = set()
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "listings.csv"
            pa_csv.write_csv(
                processed_arrow(spec, DAY, frame),
                csv_path,
                pa_csv.WriteOptions(include_header=False),
            )

            def psql_copy(table: str) -> float:
                command = f"\\copy {table} FROM '{csv_path}' WITH (FORMAT csv)"
                settle(engine, table)
                started = time.perf_counter()
                subprocess.run(
                    ["psql", psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True
                )
                return len(frame) / (time.perf_counter() - started)

            for _ in range(args.repeat):
                settle(engine, "processed_demo")
                started = time.perf_counter()
                result = warehouse.load_partition(spec, DAY, frame)
                ours.append(len(frame) / (time.perf_counter() - started))
                settle(engine)
                started = time.perf_counter()
                again = warehouse.load_partition(spec, DAY, frame)
                reruns.append(len(frame) / (time.perf_counter() - started))
                if not (result.rows == again.rows == len(frame) and again.written == 0):
                    raise SystemExit(f"unexpected load results: {result} then {again}")
                strategies.add(f"first load by {result.strategy}, re-run by {again.strategy}")
                settle(engine, "processed_demo")
                started = time.perf_counter()
                # the baseline: the same first load through the staging table and the upsert
                baseline = load.load_partition(engine, spec, DAY, frame, {}, direct_copy=False)
                staged.append(len(frame) / (time.perf_counter() - started))
                if (baseline.rows, baseline.written, baseline.strategy) != (
                    len(frame),
                    len(frame),
                    "upsert",
                ):
                    raise SystemExit(f"unexpected staging-only first load: {baseline}")
                copies.append(psql_copy("bench_copy"))
                keyed_copies.append(psql_copy("bench_keyed"))

        median = statistics.median
        each = args.repeat > 1
        print(
            f"(a) load_partition            {median(ours):>12,.0f} rows/s  ({'; '.join(strategies)})"
            + (f"  [{rates(ours)}]" if each else "")
        )
        print(
            f"(a0) first load, staging+upsert {median(staged):>10,.0f} rows/s"
            + (f"  [{rates(staged)}]" if each else "")
        )
        print(
            f"    re-run, nothing changed   {median(reruns):>12,.0f} rows/s"
            + (f"  [{rates(reruns)}]" if each else "")
        )
        print(
            f"(b) psql \\copy, plain table   {median(copies):>12,.0f} rows/s"
            + (f"  [{rates(copies)}]" if each else "")
        )
        print(
            f"(b2) psql \\copy, key + index {median(keyed_copies):>12,.0f} rows/s"
            + (f"  [{rates(keyed_copies)}]" if each else "")
        )
        copy, keyed_copy = median(copies), median(keyed_copies)
        ours_rate = median(ours)

        # (c) DataFrame.to_sql with pandas' defaults, on a subsample
        sample = frame.head(min(args.to_sql_rows, len(frame))).copy()
        sample["imputed"] = sample["imputed"].map(str)  # to_sql cannot bind lists
        started = time.perf_counter()
        sample.to_sql("bench_to_sql", engine, index=False)
        to_sql = len(sample) / (time.perf_counter() - started)
        scaled = " (scaled linearly from the subsample)" if len(sample) < len(frame) else ""
        print(
            f"(c) DataFrame.to_sql          {to_sql:>12,.0f} rows/s on {len(sample):,} rows"
            f"{scaled}; {len(frame) / to_sql:,.0f}s projected for {len(frame):,}"
        )

        print(
            f"direct COPY / staging+upsert, first load = {ours_rate / median(staged):.2f}   (keep >= 1.3)"
        )
        print(f"ours / \\copy (plain)       = {ours_rate / copy:.2f}   (aim >= 0.5)")
        print(f"ours / \\copy (key + index) = {ours_rate / keyed_copy:.2f}")
        print(f"ours / to_sql               = {ours_rate / to_sql:.1f}   (aim >= 5)")
        print(f"peak RSS {peak_rss_mb():.0f} MB")
        engine.dispose()
        warehouse.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
