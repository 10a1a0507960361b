"""Warehouse schema and frame checks, on small frames and a SQLite file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import DetailSpec, FieldSpec, load_spec
from harvest.storage import warehouse as wh
from harvest.storage.read_cache import (
    NullReadCache,
    ReadCache,
    cache_key,
    decode,
    encode,
    key_covers,
)
from harvest.storage.warehouse import FrameError, Warehouse, WarehouseError, open_warehouse

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
DAY = dt.date(2026, 1, 5)


def frame(n: int = 3) -> pd.DataFrame:
    data: dict[str, object] = {"url": [f"http://x/{i}" for i in range(n)]}
    for name, field in SPEC.detail.fields.items():
        data[name] = [None] * n
        for column, kind in field.columns(name).items():
            if column != name:  # a price's currency, a converted price
                data[column] = ["EUR"] * n if kind == "text" else [1000.0] * n
    data["listing_id"] = [f"L-20260105-{i:04d}" for i in range(n)]
    return pd.DataFrame(data)


def test_processed_columns_follow_the_spec() -> None:
    columns = wh.processed_columns(SPEC)
    assert list(columns)[:4] == ["source", "record_key", "logical_date", "url"]
    assert columns["price"] == "price" and columns["price_currency"] == "text"
    assert columns["rooms"] == "int" and columns["available_from"] == "date"
    assert list(columns)[-2:] == ["is_duplicate_of", "imputed"]
    table = wh.processed_table(SPEC)
    assert [c.name for c in table.primary_key.columns] == ["source", "record_key"]
    assert str(table.c.rooms.type) == "BIGINT"


def test_a_field_that_clashes_with_a_column_is_refused() -> None:
    fields = {**SPEC.detail.fields, "url": FieldSpec(css=".u")}
    spec = SPEC.model_copy(update={"detail": DetailSpec(key="listing_id", fields=fields)})
    with pytest.raises(WarehouseError, match=r"field 'url'.*rename"):
        wh.processed_columns(spec)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    warehouse = open_warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.migrate([SPEC])
    return warehouse


def test_missing_column_names_column_source_and_date(warehouse: Warehouse) -> None:
    with pytest.raises(FrameError, match=r"source demo, logical date 2026-01-05.*no column 'area'"):
        warehouse.load_partition(SPEC, DAY, frame().drop(columns="area"))


def test_duplicate_and_missing_keys_are_refused(warehouse: Warehouse) -> None:
    twice = pd.concat([frame(2), frame(1)], ignore_index=True)
    with pytest.raises(FrameError, match=r"'listing_id' value.*more than once.*L-20260105-0000"):
        warehouse.load_partition(SPEC, DAY, twice)
    no_key = frame().assign(listing_id=[None, "a", "b"])
    with pytest.raises(FrameError, match=r"1 row.*no 'listing_id'"):
        warehouse.load_partition(SPEC, DAY, no_key)


def test_rows_of_another_partition_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(FrameError, match=r"logical_date.*2026-01-06"):
        warehouse.load_partition(SPEC, DAY, frame().assign(logical_date="2026-01-06"))
    with pytest.raises(FrameError, match="'source' holds 'other'"):
        warehouse.load_partition(SPEC, DAY, frame().assign(source="other"))


def test_a_value_of_the_wrong_type_names_the_column(warehouse: Warehouse) -> None:
    with pytest.raises(FrameError, match="column 'rooms' cannot be stored as int"):
        warehouse.load_partition(SPEC, DAY, frame().assign(rooms=[1.5, 2, 3]))


def test_strings_and_timestamps_are_accepted_for_dates(warehouse: Warehouse) -> None:
    data = frame().assign(available_from=["2026-02-01", None, "2026-03-01"])
    warehouse.load_partition(SPEC, pd.Timestamp(DAY).date(), data.assign(logical_date=DAY))
    history = warehouse.read_history("demo", DAY, DAY, ["available_from"])
    assert list(history.available_from) == [dt.date(2026, 2, 1), None, dt.date(2026, 3, 1)]


def test_load_without_migrate_says_what_to_run(tmp_path: Path) -> None:
    warehouse = open_warehouse(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(WarehouseError, match="python -m harvest warehouse migrate"):
        warehouse.load_partition(SPEC, DAY, frame())


def test_unsupported_url() -> None:
    with pytest.raises(WarehouseError, match="unsupported database 'mysql'"):
        open_warehouse("mysql://u@h/db")


def test_cache_keys_and_coverage() -> None:
    key = cache_key("demo", "history", dt.date(2026, 1, 1), dt.date(2026, 1, 31), "abc")
    assert key == "harvest:demo:history:2026-01-01:2026-01-31:abc"
    assert key_covers(key, "demo", dt.date(2026, 1, 31))
    assert not key_covers(key, "demo", dt.date(2026, 2, 1))
    assert not key_covers(key, "other", dt.date(2026, 1, 5))
    assert key_covers(cache_key("demo", "row_counts", None, DAY, "7"), "demo", dt.date(2020, 1, 1))


def test_frames_round_trip_through_the_cache_encoding() -> None:
    original = pd.DataFrame(
        {
            "a": pd.array([1, None], "Int64"),
            "b": pd.array(["x", None], "string"),
            "d": [DAY, None],
            "f": pd.array([0.1, None], "Float64"),
        }
    )
    pd.testing.assert_frame_equal(decode(encode(original)), original)
    assert decode(encode({"n": [1, 2]})) == {"n": [1, 2]}
    assert NullReadCache().get_or_compute("k", 1, lambda: 42) == 42


def test_load_result_says_which_strategy_ran(warehouse: Warehouse) -> None:
    result = warehouse.load_partition(SPEC, DAY, frame())
    assert (
        result.strategy == "upsert"
    )  # SQLite always stages and upserts; the direct COPY is PG only
    assert (
        result.to_dict()["strategy"] == "upsert"
        and result.to_dict()["logical_date"] == "2026-01-05"
    )
    direct = wh.LoadResult("demo", DAY, 3, 3, 0, 0.1, strategy="copy")
    assert direct.to_dict()["strategy"] == "copy"


def test_unsupported_urls_are_named_without_their_password() -> None:
    with pytest.raises(
        ValueError, match=r"cache URL 'memcached://u:\*\*\*@host/0' is not supported"
    ):
        ReadCache.from_url("memcached://u:s3cret@host/0")
    with pytest.raises(
        WarehouseError, match=r"warehouse URL 'mysql://u:\*\*\*@host/db': unsupported"
    ):
        open_warehouse("mysql://u:s3cret@host/db")
