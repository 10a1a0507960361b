"""The warehouse on real PostgreSQL (a fresh database for this module) and on SQLite."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import DetailSpec, FieldSpec, SourceSpec, load_spec
from harvest.storage import warehouse as wh
from harvest.storage.warehouse import (
    CRAWL_MONITORS,
    PartitionSummary,
    Warehouse,
    WarehouseError,
    WarehouseUnavailable,
    open_warehouse,
)
from harvest.storage.warehouse import copy as wh_copy
from harvest.storage.warehouse import load as wh_load

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)


def listings(day: dt.date, n: int, start: int = 0) -> pd.DataFrame:
    """``n`` cleaned demo records of one partition (nulls, imputed lists and a duplicate)."""
    ids = [f"L-{day:%Y%m%d}-{i:04d}" for i in range(start, start + n)]
    rng = range(start, start + n)
    return pd.DataFrame(
        {
            "source": "demo",
            "logical_date": day,
            "url": [f"http://127.0.0.1:8000/listing/{i}" for i in ids],
            "listing_id": ids,
            "title": pd.array([f"Flat {i} with 'quotes', \"commas\"" for i in rng], "string"),
            "price": pd.array([None if i % 7 == 3 else 500.25 + i for i in rng], "Float64"),
            "price_currency": pd.array([None if i % 7 == 3 else "EUR" for i in rng], "string"),
            "price_eur": pd.array([None if i % 7 == 3 else 500.25 + i for i in rng], "Float64"),
            "area": pd.array([None if i % 5 == 1 else 20.5 + i / 3 for i in rng], "Float64"),
            "rooms": pd.array([1 + i % 4 for i in rng], "Int64"),
            "floor": pd.array([None if i % 3 == 0 else i % 9 - 1 for i in rng], "Int64"),
            "city": pd.array([("Berlin", "Hamburg", "Munich")[i % 3] for i in rng], "string"),
            "district": pd.array([("", None, "Mitte", "Nord")[i % 4] for i in rng], "string"),
            "balcony": pd.array([None if i % 4 == 2 else i % 2 == 0 for i in rng], "boolean"),
            "built_year": pd.array([1900 + i % 120 for i in rng], "Int64"),
            "available_from": [day + dt.timedelta(days=i % 30) if i % 2 else None for i in rng],
            "is_duplicate_of": pd.array(
                [f"L-{day:%Y%m%d}-{i - 1:04d}" if i % 50 == 1 else None for i in rng], "string"
            ),
            "imputed": [["area"] if i % 5 == 1 else [] for i in rng],
        }
    )


def dump(warehouse: Warehouse, table: str, with_loaded_at: bool = True) -> list[tuple]:
    """Every row of a table, ordered, as comparable tuples."""
    with warehouse.engine.connect() as conn:
        t = sa.Table(table, sa.MetaData(), autoload_with=conn)
        columns = [c for c in t.c if with_loaded_at or c.name != "loaded_at"]
        rows = conn.execute(sa.select(*columns).order_by(*t.primary_key.columns)).all()
    return [tuple(r) for r in rows]


@pytest.fixture(scope="module")
def pg_database(postgres_url: str) -> Iterator[str]:
    """A database of its own for this module, dropped at the end."""
    name = f"harvest_test_wh_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        sa.make_url(postgres_url).set(drivername="postgresql+psycopg2"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


def _empty(warehouse: Warehouse) -> None:
    meta = sa.MetaData()
    meta.reflect(warehouse.engine)
    meta.drop_all(warehouse.engine)


@pytest.fixture
def pg_warehouse(pg_database: str) -> Iterator[Warehouse]:
    warehouse = open_warehouse(pg_database)
    _empty(warehouse)
    yield warehouse
    _empty(warehouse)
    warehouse.close()


@pytest.fixture
def sqlite_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    yield warehouse
    warehouse.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    name = "pg_warehouse" if request.param == "postgresql" else "sqlite_warehouse"
    return request.getfixturevalue(name)


# --- migrations ---------------------------------------------------------------------------------


def test_migrate_creates_every_table_and_twice_is_a_no_op(warehouse: Warehouse) -> None:
    first = warehouse.migrate([SPEC])
    assert sorted(first.created_tables) == [
        "crawl_monitors",
        "crawl_stats",
        "dedup_matches",
        "partition_loads",
        "processed_demo",
        "quarantine",
        "validation_results",
    ]
    second = warehouse.migrate([SPEC])
    assert not second.changed and second.ok


def with_fields(spec: SourceSpec, **fields: FieldSpec) -> SourceSpec:
    detail = DetailSpec(key=spec.detail.key, fields={**spec.detail.fields, **fields})
    return spec.model_copy(update={"detail": detail})


def test_migrate_adds_columns_for_new_fields(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    warehouse.load_partition(SPEC, D1, listings(D1, 4))
    grown = with_fields(
        SPEC,
        deposit=FieldSpec(css=".deposit", kind="price"),
        parking=FieldSpec(css=".parking", kind="bool"),
    )
    frame = listings(D2, 3).assign(deposit=1500.0, deposit_currency="EUR", parking=True)
    with pytest.raises(WarehouseError, match="warehouse migrate"):
        warehouse.load_partition(grown, D2, frame)

    report = warehouse.migrate([grown])
    assert report.added_columns == [
        "processed_demo.deposit",
        "processed_demo.deposit_currency",
        "processed_demo.parking",
    ]
    assert not warehouse.migrate([grown]).changed
    warehouse.load_partition(grown, D2, frame)
    history = warehouse.read_history("demo", D1, D2, ["logical_date", "deposit", "parking"])
    old, new = history[history.logical_date == D1], history[history.logical_date == D2]
    assert old.deposit.isna().all() and old.parking.isna().all()
    assert (new.deposit == 1500.0).all() and new.parking.all()


def test_migrate_reports_a_changed_type(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    changed = with_fields(SPEC, floor=FieldSpec(css=".floor", kind="text"))
    report = warehouse.migrate([changed])
    assert not report.ok
    assert "processed_demo.floor is int in the database but text" in report.type_mismatches[0]


def test_migrate_command_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harvest.__main__ import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["warehouse", "migrate", "--url", url]) == 0
    assert "created table processed_demo" in capsys.readouterr().out
    assert main(["warehouse", "migrate", "--url", url]) == 0
    assert "up to date" in capsys.readouterr().out


# --- loading ------------------------------------------------------------------------------------


def test_load_is_idempotent(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    first = warehouse.load_partition(SPEC, D1, listings(D1, 30))
    before = dump(warehouse, "processed_demo")
    again = warehouse.load_partition(SPEC, D1, listings(D1, 30))
    assert (first.rows, first.written, first.deleted) == (30, 30, 0)
    assert (again.rows, again.written, again.deleted) == (30, 0, 0)
    assert dump(warehouse, "processed_demo") == before  # loaded_at included: nothing rewritten


def test_reload_removes_what_left_the_partition_only(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    warehouse.load_partition(SPEC, D1, listings(D1, 10))
    warehouse.load_partition(SPEC, D2, listings(D2, 10))
    before = {r[1]: r for r in dump(warehouse, "processed_demo")}

    frame = listings(D1, 10)
    removed = frame.listing_id[4]
    changed = frame.listing_id[5]
    frame = frame.drop(index=4)
    frame.loc[5, "price"] = 9999.0
    result = warehouse.load_partition(SPEC, D1, frame)
    after = {r[1]: r for r in dump(warehouse, "processed_demo")}

    assert (result.rows, result.written, result.deleted) == (9, 1, 1)
    assert removed not in after
    assert after[changed][SPEC_COLUMNS.index("price")] == 9999.0
    untouched = set(before) - {removed, changed}
    assert all(after[key] == before[key] for key in untouched)  # incl. D2 and loaded_at


SPEC_COLUMNS = [c.name for c in wh.processed_table(SPEC).columns]


def test_failure_inside_the_transaction_leaves_the_table_as_it_was(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.migrate([SPEC])
    warehouse.load_partition(SPEC, D1, listings(D1, 20))
    before = dump(warehouse, "processed_demo")
    upsert = wh_load._upsert_partition

    def upsert_then_crash(*args: Any) -> tuple[int, int]:
        upsert(*args)
        raise RuntimeError("worker died after the upsert")

    monkeypatch.setattr(wh_load, "_upsert_partition", upsert_then_crash)
    with pytest.raises(RuntimeError, match="worker died"):
        warehouse.load_partition(SPEC, D1, listings(D1, 15, start=10))
    assert dump(warehouse, "processed_demo") == before
    monkeypatch.undo()
    result = warehouse.load_partition(SPEC, D1, listings(D1, 15, start=10))
    assert (result.rows, result.deleted) == (15, 10)
    assert len(dump(warehouse, "processed_demo")) == 15


@pytest.mark.postgres
def test_bad_row_in_the_middle_of_the_copy_stream_rolls_back(
    pg_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_warehouse.migrate([SPEC])
    pg_warehouse.load_partition(SPEC, D1, listings(D1, 500))
    before = dump(pg_warehouse, "processed_demo")
    chunks = wh.csv_chunks

    def corrupted(table: object, chunk_rows: int = 0) -> Iterator[bytes]:
        for i, chunk in enumerate(chunks(table, chunk_rows=100)):
            yield chunk
            if i == 2:  # after 300 good rows: a date that is not a date
                yield b'"demo","L-x","not-a-date","http://x",,,,,,,,,,,,,,"[]"\n'

    monkeypatch.setattr(wh_copy, "csv_chunks", corrupted)
    with pytest.raises(WarehouseError, match=r"rolled back.*not-a-date"):
        pg_warehouse.load_partition(SPEC, D1, listings(D1, 600, start=100))
    assert dump(pg_warehouse, "processed_demo") == before

    monkeypatch.undo()
    result = pg_warehouse.load_partition(SPEC, D1, listings(D1, 600, start=100))
    assert (result.rows, result.written, result.deleted) == (600, 200, 100)
    assert sorted(r[1] for r in dump(pg_warehouse, "processed_demo")) == sorted(
        listings(D1, 600, start=100).listing_id
    )


def kill_when_copying(database_url: str, table: str, killed: list[int]) -> None:
    """Terminate the backend that runs ``COPY <table>`` as soon as it shows up (within 4 s)."""
    admin = sa.create_engine(  # autocommit: pg_stat_activity is a per-transaction snapshot
        sa.make_url(database_url).set(drivername="postgresql+psycopg2"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        for _ in range(200):
            pids = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND query LIKE :copy"
                ),
                {"copy": f"COPY {table} %"},
            ).scalars()
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                killed.append(pid)
            if killed:
                break
            time.sleep(0.02)
    admin.dispose()


@pytest.mark.postgres
def test_connection_killed_during_the_copy_rolls_back(
    pg_warehouse: Warehouse, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_warehouse.migrate([SPEC])
    pg_warehouse.load_partition(SPEC, D1, listings(D1, 50))
    pg_warehouse.load_partition(SPEC, D2, listings(D2, 50))
    before = dump(pg_warehouse, "processed_demo")
    chunks = wh.csv_chunks

    def slow(table: object, chunk_rows: int = 0) -> Iterator[bytes]:
        for chunk in chunks(table, chunk_rows=200):
            yield chunk
            time.sleep(0.05)

    monkeypatch.setattr(wh_copy, "csv_chunks", slow)
    killed: list[int] = []

    killer = threading.Thread(target=kill_when_copying, args=(pg_database, "harvest_stage", killed))
    killer.start()
    with pytest.raises(WarehouseError):
        pg_warehouse.load_partition(SPEC, D1, listings(D1, 4000, start=20))
    killer.join()
    assert killed, "the loader was never seen in COPY"
    assert dump(pg_warehouse, "processed_demo") == before

    monkeypatch.undo()
    result = pg_warehouse.load_partition(SPEC, D1, listings(D1, 4000, start=20))
    assert (result.rows, result.deleted) == (4000, 20)
    rows = dump(pg_warehouse, "processed_demo")
    assert len(rows) == 4050 and len({r[1] for r in rows}) == 4050


# --- the direct COPY of a first load -----------------------------------------------------------


def test_a_first_load_is_copied_straight_in_and_a_rerun_upserts(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    warehouse.load_partition(SPEC, D2, listings(D2, 5))
    first = warehouse.load_partition(SPEC, D1, listings(D1, 30))
    expected = "copy" if warehouse.dialect == "postgresql" else "upsert"
    assert (first.rows, first.written, first.deleted, first.strategy) == (30, 30, 0, expected)
    assert first.to_dict()["strategy"] == expected
    before = dump(warehouse, "processed_demo")
    stamps = {r[-1] for r in before if r[SPEC_COLUMNS.index("logical_date")] == D1}
    assert len(stamps) == 1  # one loaded_at for the whole load
    if warehouse.dialect == "postgresql":  # the right instant, not the server's local time
        age = dt.datetime.now(dt.UTC) - next(iter(stamps))
        assert dt.timedelta(0) <= age < dt.timedelta(minutes=5)

    again = warehouse.load_partition(SPEC, D1, listings(D1, 30))
    assert (again.rows, again.written, again.deleted, again.strategy) == (30, 0, 0, "upsert")
    assert dump(warehouse, "processed_demo") == before  # loaded_at included

    emptied = warehouse.load_partition(SPEC, D1, listings(D1, 0))
    assert (emptied.rows, emptied.deleted, emptied.strategy) == (0, 30, "upsert")
    refilled = warehouse.load_partition(SPEC, D1, listings(D1, 30))
    assert refilled.strategy == expected  # the partition is empty again: a first load
    assert dump(warehouse, "processed_demo", False) == [r[:-1] for r in before]


@pytest.mark.postgres
@pytest.mark.parametrize("sample", [wh.KEY_SAMPLE, 1], ids=["key-sampled", "copy-conflicts"])
def test_a_key_already_under_another_date_falls_back_to_the_upsert(
    pg_warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sample: int,
) -> None:
    """The sample check usually sees the moved key; when it does not (here: only the first key is
    sampled, the moved one is last) the COPY hits the primary key and the savepoint rolls back."""
    pg_warehouse.migrate([SPEC])
    pg_warehouse.load_partition(SPEC, D1, listings(D1, 10))
    monkeypatch.setattr(wh_load, "KEY_SAMPLE", sample)
    moved = listings(D1, 10).listing_id[7]
    frame = pd.concat([listings(D2, 300), listings(D1, 10).iloc[[7]]], ignore_index=True)
    frame["logical_date"] = D2
    with caplog.at_level("INFO", logger=wh.__name__):
        result = pg_warehouse.load_partition(SPEC, D2, frame)
    assert (result.rows, result.written, result.deleted, result.strategy) == (301, 301, 0, "upsert")
    assert ("already in processed_demo" in caplog.text) == (sample == 1)  # the COPY was tried

    rows = dump(pg_warehouse, "processed_demo")
    date = SPEC_COLUMNS.index("logical_date")
    assert len(rows) == 310 and len({r[1] for r in rows}) == 310  # nothing duplicated
    assert [r[date] for r in rows if r[1] == moved] == [D2]  # the key moved
    assert sum(r[date] == D1 for r in rows) == 9 and sum(r[date] == D2 for r in rows) == 301
    history = pg_warehouse.read_history("demo", D2, D2)
    assert len(history) == 301 and history.loaded_at.nunique() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["bad-row", "killed", "after-copy"])
def test_a_failure_on_the_direct_copy_leaves_nothing(
    pg_warehouse: Warehouse, pg_database: str, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    pg_warehouse.migrate([SPEC])
    pg_warehouse.load_partition(SPEC, D2, listings(D2, 50))
    before = dump(pg_warehouse, "processed_demo")
    chunks = wh.csv_chunks
    killed: list[int] = []
    killer = threading.Thread(
        target=kill_when_copying, args=(pg_database, "processed_demo", killed)
    )

    def corrupted(table: object, chunk_rows: int = 0) -> Iterator[bytes]:
        for i, chunk in enumerate(chunks(table, chunk_rows=100)):
            yield chunk
            if i == 2:  # after 300 good rows of the direct COPY: a date that is not a date
                yield b'"demo","L-x","not-a-date","http://x",,,,,,,,,,,,,,"[]",\n'

    def slow(table: object, chunk_rows: int = 0) -> Iterator[bytes]:
        for chunk in chunks(table, chunk_rows=200):
            yield chunk
            time.sleep(0.05)

    copy = wh_load._copy_new_partition

    def copy_then_crash(*args: Any) -> bool:
        assert copy(*args)
        raise RuntimeError("worker died after the COPY")

    if failure == "bad-row":
        monkeypatch.setattr(wh_copy, "csv_chunks", corrupted)
        with pytest.raises(WarehouseError, match=r"rolled back.*not-a-date"):
            pg_warehouse.load_partition(SPEC, D1, listings(D1, 600))
    elif failure == "killed":
        monkeypatch.setattr(wh_copy, "csv_chunks", slow)
        killer.start()
        with pytest.raises(WarehouseError):
            pg_warehouse.load_partition(SPEC, D1, listings(D1, 4000))
        killer.join()
        assert killed, "the loader was never seen in COPY processed_demo"
    else:
        monkeypatch.setattr(wh_load, "_copy_new_partition", copy_then_crash)
        with pytest.raises(RuntimeError, match="worker died"):
            pg_warehouse.load_partition(SPEC, D1, listings(D1, 600))
    assert dump(pg_warehouse, "processed_demo") == before

    monkeypatch.undo()
    result = pg_warehouse.load_partition(SPEC, D1, listings(D1, 600))
    assert (result.rows, result.written, result.deleted, result.strategy) == (600, 600, 0, "copy")
    assert len(dump(pg_warehouse, "processed_demo")) == 650


def test_postgres_unreachable_names_host_and_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends
    warehouse = open_warehouse(f"postgresql://harvest:secret@127.0.0.1:{port}/harvest")
    with pytest.raises(WarehouseUnavailable, match=rf"127\.0\.0\.1:{port}") as info:
        warehouse.migrate([SPEC])
    assert "secret" not in str(info.value)
    warehouse.close()


# --- quarantine, validation results, summaries ----------------------------------------------


def issues(day: dt.date, urls: list[str], check: str = "range") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": "demo",
            "logical_date": day.isoformat(),
            "url": urls,
            "field": "price",
            "check": check,
            "value": [f"{i} EUR" for i in range(len(urls))],
            "reason": "out of range",
        }
    ).astype("string")


def test_replace_quarantine_replaces_one_partition_and_stage(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    warehouse.replace_quarantine("demo", D1, "validate", issues(D1, ["u1", "u2", "u3"]))
    warehouse.replace_quarantine("demo", D1, "clean", issues(D1, ["u9"], check="parse:price"))
    warehouse.replace_quarantine("demo", D2, "validate", issues(D2, ["u1"]))

    crit = issues(D1, ["u2", "u4"]).assign(severity=["critical", "warning"])
    assert warehouse.replace_quarantine("demo", D1, "validate", crit) == 2
    rows = dump(warehouse, "quarantine")
    once = list(rows)
    warehouse.replace_quarantine("demo", D1, "validate", crit)
    assert dump(warehouse, "quarantine") == once  # a re-run gives identical contents

    by_key = {(r[1], r[2], r[5]): r for r in rows}
    assert sorted(by_key) == [(D1, "u2", "validate"), (D1, "u4", "validate"), (D1, "u9", "clean"),
                              (D2, "u1", "validate")]  # fmt: skip
    assert by_key[(D1, "u2", "validate")][-1] == "critical"
    assert by_key[(D1, "u9", "clean")][-1] == "warning"

    warehouse.replace_quarantine("demo", D1, "validate", issues(D1, []))
    assert [r[2] for r in dump(warehouse, "quarantine")] == ["u9", "u1"]


def test_replace_quarantine_rejects_another_partition(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    with pytest.raises(ValueError, match=r"logical_date.*2026-01-06"):
        warehouse.replace_quarantine("demo", D1, "validate", issues(D2, ["u1"]))


def test_replace_validation_results(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    results = pd.DataFrame(
        {
            "expectation": ["expect_column_values_to_be_between", "expect_table_row_count"],
            "column": ["price", None],
            "severity": ["critical", "critical"],
            "success": [False, True],
            "element_count": [100, 100],
            "unexpected_count": [3, 0],
            "pass_rate": [0.97, 1.0],
            "observed_value": [None, 100],
            "details": [{"partial_unexpected_list": [50000.0]}, None],
        }
    )
    assert warehouse.replace_validation_results("demo", D1, results) == 2
    warehouse.replace_validation_results("demo", D2, results.head(1))
    first = dump(warehouse, "validation_results")
    warehouse.replace_validation_results("demo", D1, results)
    assert dump(warehouse, "validation_results") == first
    assert sorted(r[3] for r in first if r[1] == D1) == ["", "price"]
    row = next(r for r in first if r[3] == "price")
    assert row[4:9] == ("critical", False, 100, 3, 0.97)
    assert row[10] == {"partial_unexpected_list": [50000.0]}

    warehouse.replace_validation_results("demo", D1, results.tail(1))
    assert [(r[1], r[3]) for r in dump(warehouse, "validation_results")] == [
        (D1, ""),
        (D2, "price"),
    ]


def test_partition_summary_and_row_counts(warehouse: Warehouse) -> None:
    warehouse.migrate([SPEC])
    assert warehouse.partition_summary("demo", D1) is None
    summary = PartitionSummary("demo", D1, 120, 100, 20, 4, 7, 96, True)
    warehouse.record_partition(summary)
    warehouse.record_partition(summary)
    got = warehouse.partition_summary("demo", D1)
    assert got is not None and got.loaded == 96 and got.validation_passed
    assert got.loaded_at is not None and got.loaded_at.tzinfo is not None

    for i, n in enumerate([5, 8, 6]):
        day = D1 + dt.timedelta(days=i)
        warehouse.load_partition(SPEC, day, listings(day, n))
    assert warehouse.recent_row_counts("demo", D1 + dt.timedelta(days=3), 2) == [8, 6]
    assert warehouse.recent_row_counts("demo", D1 + dt.timedelta(days=2), 7) == [5, 8]


# --- the same answers on both databases ---------------------------------------------------------


@pytest.mark.postgres
def test_sqlite_and_postgres_hold_the_same_contents(
    sqlite_warehouse: Warehouse, pg_warehouse: Warehouse
) -> None:
    frames = {D1: listings(D1, 40), D2: listings(D2, 25)}
    for warehouse in (sqlite_warehouse, pg_warehouse):
        warehouse.migrate([SPEC])
        for day, frame in frames.items():
            warehouse.load_partition(SPEC, day, frame)
        warehouse.load_partition(SPEC, D1, frames[D1].drop(index=[3, 7]))
        warehouse.replace_quarantine("demo", D1, "validate", issues(D1, ["u1", "u2"]))
    for table in ("processed_demo", "quarantine"):
        assert dump(sqlite_warehouse, table, False) == dump(pg_warehouse, table, False)
    a = sqlite_warehouse.read_history("demo", D1, D2).drop(columns="loaded_at")
    b = pg_warehouse.read_history("demo", D1, D2).drop(columns="loaded_at")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 63 and a.imputed.map(len).sum() > 0


def test_history_in_parts_is_the_history_streamed_a_few_rows_at_a_time(
    warehouse: Warehouse,
) -> None:
    """What cleaning on Dask reads: no part larger than asked, together the whole history."""
    warehouse.migrate([SPEC])
    for day, n in ((D1, 40), (D2, 25)):
        warehouse.load_partition(SPEC, day, listings(day, n))
    whole = warehouse.read_history("demo", D1, D2, ["record_key", "logical_date", "price"])
    parts = list(
        warehouse.history_parts("demo", D1, D2, ["record_key", "logical_date", "price"], 7)
    )
    assert [len(p) for p in parts] == [7] * 9 + [2]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert list(warehouse.history_parts("demo", D2 + dt.timedelta(days=1), D2, None, 7)) == []


# --- timestamps: UTC-aware in and out on both databases -----------------------------------------

BERLIN = dt.timezone(dt.timedelta(hours=2))
MONITOR = {"monitor": "item_count", "status": "passed", "severity": "warning"}


def _is_utc(moment: dt.datetime | None) -> bool:
    return moment is not None and moment.utcoffset() == dt.timedelta(0)


def test_timestamps_go_in_in_any_zone_and_come_back_in_utc(warehouse: Warehouse) -> None:
    """One type (``UtcDateTime``) for every timestamp column: SQLite keeps no zone and
    PostgreSQL answers in the session's, yet every read gives the same UTC-aware instant."""
    warehouse.migrate([SPEC])
    at = dt.datetime(2026, 1, 5, 23, 30, 15, 123456, tzinfo=BERLIN)
    summary = PartitionSummary("demo", D1, 3, 3, 0, 0, 0, 3, True, loaded_at=at)
    warehouse.record_partition(summary)
    warehouse.replace_crawl_monitors("demo", D1, [MONITOR], checked_at=at)
    warehouse.load_partition(SPEC, D2, listings(D2, 3))

    got = warehouse.partition_summary("demo", D1)
    assert got is not None and got.loaded_at == at and _is_utc(got.loaded_at)
    (loaded,) = warehouse.load_times("demo", D1, D2).values()
    assert loaded == at and _is_utc(loaded)
    read = warehouse.partition_results(SPEC, D1)
    assert read.partitions[0].loaded_at == at and _is_utc(read.partitions[0].loaded_at)
    with warehouse.engine.connect() as conn:
        checked = conn.execute(sa.select(CRAWL_MONITORS.c.checked_at)).scalar_one()
    assert checked == at and _is_utc(checked)
    history = warehouse.read_history("demo", D2, D2)  # a reflected table: the same type
    assert str(history["loaded_at"].dt.tz) == "UTC"
    assert (dt.datetime.now(dt.UTC) - history["loaded_at"].iloc[0]) < dt.timedelta(minutes=5)


@pytest.mark.postgres
def test_a_postgres_session_in_another_zone_still_reads_utc(
    pg_warehouse: Warehouse, pg_database: str
) -> None:
    tokyo = f"{pg_database}?options=-c%20timezone%3DAsia%2FTokyo"
    with open_warehouse(tokyo) as warehouse:
        with warehouse.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar_one() == "Asia/Tokyo"
        warehouse.migrate([SPEC])
        at = dt.datetime(2026, 1, 5, 23, 30, tzinfo=BERLIN)
        warehouse.record_partition(PartitionSummary("demo", D1, 1, 1, 0, 0, 0, 1, True, at))
        got = warehouse.partition_summary("demo", D1)
    assert got is not None and got.loaded_at == at and _is_utc(got.loaded_at)
    assert got.to_dict()["loaded_at"] == "2026-01-05T21:30:00+00:00"


# --- the supervisor's reads ---------------------------------------------------------------------


def test_the_supervisor_read_looks_missing_tables_up(warehouse: Warehouse) -> None:
    """No processed table yet and a warehouse from before ``crawl_monitors``: no coverage, no
    monitors, found by looking the tables up (not by catching the query's error)."""
    warehouse.migrate([])
    with warehouse.engine.begin() as conn:
        CRAWL_MONITORS.drop(conn)
    warehouse.record_partition(PartitionSummary("demo", D1, 3, 3, 0, 0, 0, 3, True))
    read = warehouse.partition_results(SPEC, D1)
    assert [p.logical_date for p in read.partitions] == [D1]
    assert read.crawl_monitors == {} and read.crawl_monitors_date is None
    assert read.field_coverage == {} and read.validation_pass_rate is None


@pytest.mark.postgres
def test_a_connection_dropped_during_the_supervisor_read_is_an_error(
    pg_warehouse: Warehouse,
) -> None:
    """The connection is killed by the server just as the crawl monitors are queried: that is
    an error naming the warehouse, never "no crawl monitors"."""
    warehouse = pg_warehouse
    warehouse.migrate([SPEC])
    warehouse.record_partition(PartitionSummary("demo", D1, 3, 3, 0, 0, 0, 3, True))
    warehouse.replace_crawl_monitors("demo", D1, [MONITOR])
    assert warehouse.partition_results(SPEC, D1).crawl_monitors == {"item_count": "passed"}
    killer = sa.create_engine(warehouse.engine.url, isolation_level="AUTOCOMMIT")

    def kill(conn: sa.Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "crawl_monitors" in statement:
            pid = conn.connection.dbapi_connection.get_backend_pid()  # type: ignore[union-attr]
            with killer.connect() as admin:
                admin.execute(sa.select(sa.func.pg_terminate_backend(pid)))

    sa.event.listen(warehouse.engine, "before_cursor_execute", kill)
    try:
        with pytest.raises(WarehouseError, match=r"terminat|closed the connection") as err:
            warehouse.partition_results(SPEC, D1)
    finally:
        sa.event.remove(warehouse.engine, "before_cursor_execute", kill)
        killer.dispose()
    assert warehouse.where.split(" ")[0] in str(err.value)
