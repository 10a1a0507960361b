"""Loading a partition into PostgreSQL: Harvest's load path against ``psql \\copy`` and ``to_sql``.

    python benchmarks/bench_load.py                # 1M rows (about a minute)
    python benchmarks/bench_load.py --rows 100000  # quick check

Generates realistic processed listing rows once, then, in the same database (created for the run
and dropped after): (a) ``Warehouse.load_partition`` (COPY into a staging table, upsert, delete
what left the partition, one transaction, into a table with its primary key and index);
(b) ``psql \\copy`` of the same rows from a CSV file into a plain table with the same columns and
no keys (the practical limit); (c) ``pandas.DataFrame.to_sql`` with its defaults, on a subsample
scaled linearly. Prints rows/s, the ratios and peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
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
from harvest.storage.warehouse import Warehouse, engine_for, processed_arrow, processed_table

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--to-sql-rows", type=int, default=100_000, help="subsample for to_sql")
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

        warehouse = Warehouse.from_url(url.render_as_string(hide_password=False))
        warehouse.migrate([spec])
        started = time.perf_counter()
        result = warehouse.load_partition(spec, DAY, frame)
        ours = len(frame) / (time.perf_counter() - started)
        started = time.perf_counter()
        again = warehouse.load_partition(spec, DAY, frame)
        rerun = len(frame) / (time.perf_counter() - started)
        if not (result.rows == again.rows == len(frame) and again.written == 0):
            raise SystemExit(f"unexpected load results: {result} then {again}")
        print(
            f"(a) load_partition          {ours:>12,.0f} rows/s  (re-run, nothing changed: "
            f"{rerun:,.0f} rows/s)"
        )

        # (b) psql \copy of the same rows into a plain table with the same columns and types
        engine = engine_for(url.render_as_string(hide_password=False))
        plain = processed_table(spec)
        columns = [c for c in plain.columns if c.name != "loaded_at"]
        bare = sa.Table("bench_copy", sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns))
        bare.create(engine)
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "listings.csv"
            pa_csv.write_csv(
                processed_arrow(spec, DAY, frame),
                csv_path,
                pa_csv.WriteOptions(include_header=False),
            )
            command = f"\\copy bench_copy FROM '{csv_path}' WITH (FORMAT csv)"
            psql_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
            started = time.perf_counter()
            subprocess.run(
                ["psql", psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True
            )
            copy = len(frame) / (time.perf_counter() - started)
        print(f"(b) psql \\copy (plain table) {copy:>12,.0f} rows/s")

        # (c) DataFrame.to_sql with pandas' defaults, on a subsample
        sample = frame.head(min(args.to_sql_rows, len(frame))).copy()
        sample["imputed"] = sample["imputed"].map(str)  # to_sql cannot bind lists
        started = time.perf_counter()
        sample.to_sql("bench_to_sql", engine, index=False)
        to_sql = len(sample) / (time.perf_counter() - started)
        scaled = " (scaled linearly from the subsample)" if len(sample) < len(frame) else ""
        print(
            f"(c) DataFrame.to_sql         {to_sql:>12,.0f} rows/s on {len(sample):,} rows"
            f"{scaled}; {len(frame) / to_sql:,.0f}s projected for {len(frame):,}"
        )

        print(f"ours / \\copy  = {ours / copy:.2f}   (aim >= 0.5)")
        print(f"ours / to_sql = {ours / to_sql:.1f}   (aim >= 5)")
        print(f"peak RSS {peak_rss_mb():.0f} MB")
        engine.dispose()
        warehouse.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
