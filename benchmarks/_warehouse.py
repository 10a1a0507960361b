"""Helpers shared by the warehouse benchmarks (``bench_load.py``, ``bench_reload.py``).

Realistic processed listing rows of the demo spec, a PostgreSQL database of the benchmark's own
(created for the run, dropped after), and a digest of a table's contents, so that every side of
a comparison is checked to hold the same rows before its time counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import resource
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from harvest.config.spec import SourceSpec, load_spec
from harvest.storage.warehouse.schema import processed_columns

SPEC_PATH = Path(__file__).resolve().parent.parent / "include/harvest/sources/demo.yaml"
DEFAULT_URL = os.environ.get("HARVEST_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Leipzig"]
WORDS = ["Bright", "Quiet", "Spacious", "Cosy", "Modern", "Renovated", "Sunny", "Charming"]
KINDS = ["flat", "apartment", "loft", "studio", "penthouse", "maisonette"]
USD_TO_EUR = 0.92


def demo_spec() -> SourceSpec:
    return load_spec(SPEC_PATH)


def listings(n: int, day: dt.date, seed: int = 7, spec: SourceSpec | None = None) -> pd.DataFrame:
    """``n`` processed listing rows of one partition (``day``), shaped like the cleaning stage's
    output for the demo spec. Raises ``SystemExit`` naming the columns when the spec and this
    generator disagree (a spec change must be mirrored here, or the benchmark measures nothing).
    """
    rng = np.random.default_rng(seed)
    ids = np.char.add(f"L-{day:%Y%m%d}-", np.char.zfill(np.arange(n).astype(str), 7))

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
    currency = np.where(rng.random(n) < 0.97, "EUR", "USD")
    price_eur = np.round(np.where(currency == "USD", price * USD_TO_EUR, price), 2)
    imputed_choices = [[], [], [], [], [], [], ["area"], ["rooms"], ["area", "rooms"]]
    duplicates = np.full(n, None, dtype=object)
    relisted = rng.random(n) < 0.02
    duplicates[relisted] = np.roll(ids, 1)[relisted]
    frame = pd.DataFrame(
        {
            "source": "demo",
            "logical_date": day,
            "url": pd.array(np.char.add("http://127.0.0.1:8000/listing/", ids), dtype="string"),
            "listing_id": pd.array(ids, dtype="string"),
            "title": pd.array(np.char.add(np.char.add(titles, " in "), city), dtype="string"),
            "price": pd.array(price, dtype="Float64"),
            "price_currency": pd.array(currency, dtype="string"),
            "price_eur": pd.array(price_eur, dtype="Float64"),
            "area": nulls(pd.array(area, dtype="Float64"), 0.05),
            "rooms": pd.array(rooms, dtype="Int64"),
            "floor": nulls(pd.array(rng.integers(-1, 20, n), dtype="Int64"), 0.1),
            "city": pd.array(city, dtype="string"),
            "district": nulls(pd.array(district, dtype="string"), 0.1),
            "balcony": pd.array(rng.random(n) < 0.4, dtype="boolean"),
            "built_year": nulls(pd.array(rng.integers(1880, 2026, n), dtype="Int64"), 0.15),
            "available_from": [
                day + dt.timedelta(days=int(d)) if d < 90 else None for d in rng.integers(0, 120, n)
            ],
            "is_duplicate_of": pd.array(duplicates, dtype="string"),
            "imputed": [imputed_choices[i] for i in rng.integers(0, len(imputed_choices), n)],
        }
    )
    wanted = set(processed_columns(spec or demo_spec())) - {"record_key"}
    if wanted != set(frame.columns):
        raise SystemExit(
            f"benchmarks/_warehouse.py listings(): the demo spec's processed columns changed; "
            f"missing here {sorted(wanted - set(frame.columns))}, "
            f"not in the spec {sorted(set(frame.columns) - wanted)}: update the generator"
        )
    return frame


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def scratch_database(url: str = DEFAULT_URL) -> Iterator[sa.URL]:
    """A new PostgreSQL database on ``url``'s server for the benchmark; dropped on exit."""
    server = sa.make_url(url)
    name = f"harvest_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(drivername="postgresql+psycopg2", database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def settle(engine: sa.Engine, *truncate: str) -> None:
    """Empty the given tables and flush dirty buffers, so the next timed step starts clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in truncate:
            conn.exec_driver_sql(f"TRUNCATE {table}")
        # CHECKPOINT needs superuser or pg_checkpoint; without it the timings are noisier
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.exec_driver_sql("CHECKPOINT")


def digest(
    engine: sa.Engine, table: str, columns: list[str], where: str = "true"
) -> tuple[int, str]:
    """(rows, a hash of their contents in ``columns``): equal for tables holding the same rows
    whatever their order. ``table``, ``columns`` and ``where`` are the benchmark's own text."""
    row = ", ".join(f'"{c}"' for c in columns)
    # a sum of per-row 64-bit hashes: order-independent, exact in numeric
    sql = (
        f"SELECT count(*), coalesce(sum(hashtextextended(ROW({row})::text, 0)::numeric), 0)"  # noqa: S608
        f" FROM {table} WHERE {where}"
    )
    with engine.connect() as conn:
        count, total = conn.exec_driver_sql(sql).one()
    return int(count), str(total)
