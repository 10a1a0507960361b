"""Cleaning on Dask (:mod:`harvest.cleaning.partitioned`) against :func:`clean_frame`, on a small
partition cut into many row groups (so that every key, content and near match may cross
buckets), the Dask tasks run in this process by Dask's synchronous scheduler: the same cleaned
records, duplicates, kept matches and counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harvest.cleaning.partitioned import clean_on_dask
from harvest.cleaning.shuffle import Grid, Prepared, grid
from harvest.cleaning.stage import _plain, clean_frame, history_columns
from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest.storage.dask_frames import concat_parts
from harvest.validation.run import validate_records

DAY = dt.date(2026, 11, 26)
CITIES = ["Berlin", "Hamburg", "Berln", "Köln"]


class InProcess:
    """What :func:`clean_on_dask` needs of a ``distributed.Client`` (through
    :func:`harvest.storage.dask_tasks.run_tasks`), each task run in this process when submitted."""

    def submit(self, function: Any, *args: Any, key: str, pure: bool) -> Any:
        return function(*args)

    def gather(self, futures: list[Any]) -> list[Any]:
        return futures

    def cancel(self, futures: list[Any]) -> None:
        pass


def raw_records(day: dt.date, first: int, n: int, seed: int) -> pd.DataFrame:
    """``n`` extracted records of ``day``: some fields missing, some re-listed under a new id
    with the title reworded, some content-identical copies under a new id."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rooms = int(rng.integers(1, 4))
        rows.append(
            {
                "listing_id": f"L-{day:%Y%m%d}-{first + i:04d}",
                "title": f"Flat {i} with {rooms} rooms",
                "price": f"€{int(rng.integers(500, 900))} / month",
                "area": None if i % 17 == 0 else f"{int(rng.integers(30, 40))} m²",
                "rooms": None if i % 23 == 0 else str(rooms),
                "floor": None if i % 31 == 0 else str(int(rng.integers(0, 3))),
                "city": CITIES[int(rng.integers(0, len(CITIES)))],
                "district": "Mitte",
                "balcony": None if i % 5 == 0 else "yes",
                "built_year": str(int(rng.integers(1990, 1993))),
                "available_from": "2026-12-01",
            }
        )
    for j, row in enumerate(rows[: n // 8]):
        rows.append({**row, "listing_id": f"L-{day:%Y%m%d}-{first + n + j:04d}",
                     "title": f"{row['title']}, available now"})  # fmt: skip
    for j, row in enumerate(rows[n // 8 : n // 8 + 4]):
        rows.append({**row, "listing_id": f"L-{day:%Y%m%d}-{first + 2 * n + j:04d}"})
    frame = pd.DataFrame(rows)
    frame.insert(0, "url", [f"http://127.0.0.1:8000/listing/{k}" for k in frame["listing_id"]])
    frame.insert(0, "logical_date", day.isoformat())
    frame.insert(0, "source", "demo")
    return frame.astype("string")


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return load_spec(PACKAGE_DIR / "sources" / "demo.yaml")


@pytest.fixture(scope="module")
def history(spec: SourceSpec) -> pd.DataFrame:
    """Yesterday cleaned: the processed records today is compared with."""
    before = DAY - dt.timedelta(days=1)
    valid = validate_records(raw_records(before, 5000, 120, seed=1), spec, before).valid
    cleaned = clean_frame(valid, spec).cleaned
    return cleaned[[c for c in history_columns(spec) if c in cleaned]]


def today(spec: SourceSpec, history: pd.DataFrame) -> pd.DataFrame:
    """Today's validated records: new ones, yesterday's again (some changed), re-listings."""
    raw = raw_records(DAY, 1000, 160, seed=2)
    yesterday = raw_records(DAY - dt.timedelta(days=1), 5000, 120, seed=1).iloc[:30].copy()
    yesterday["logical_date"] = DAY.isoformat()
    yesterday.loc[yesterday.index[:6], "price"] = "€999 / month"
    relisted = yesterday.iloc[10:20].copy()
    relisted["listing_id"] = [f"L-20261126-{7000 + i:04d}" for i in range(len(relisted))]
    relisted["url"] = [f"http://127.0.0.1:8000/listing/{k}" for k in relisted["listing_id"]]
    relisted["title"] = relisted["title"] + " (again)"
    raw = pd.concat([raw, yesterday, relisted], ignore_index=True)
    return validate_records(raw, spec, DAY).valid


@pytest.mark.parametrize(
    ("content_duplicates", "window"), [("report", 3), ("drop", 3), ("report", 1)]
)
def test_cleaning_on_dask_equals_clean_frame(
    spec: SourceSpec, history: pd.DataFrame, tmp_path: Path, content_duplicates: str, window: int
) -> None:
    """Window 1: the sorted neighbourhood leaves out pairs of the same block, on both paths."""
    update = {"content_duplicates": content_duplicates, "window": window}
    spec = spec.model_copy(update={"dedup": spec.dedup.model_copy(update=update)})
    validated = today(spec, history)
    path = tmp_path / "validated.parquet"
    parts = (validated.iloc[i : i + 25] for i in range(0, len(validated), 25))
    concat_parts(parts, path)
    want = clean_frame(pd.read_parquet(path), spec, history)
    (tmp_path / "work").mkdir()
    got = clean_on_dask(
        path, spec, history, client=InProcess(), folder=tmp_path / "work",
        cleaned=tmp_path / "cleaned.parquet",
    )  # fmt: skip

    counts = want.counts
    assert counts["exact_history"] > 0 and counts["updated"] > 0 and counts["near_batch"] > 0
    assert counts["near_history"] > 0 and counts["imputed"] and counts["corrected"]
    assert counts["reported" if content_duplicates == "report" else "dropped"]
    want.cleaned.to_parquet(tmp_path / "want.parquet", index=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cleaned.parquet"), pd.read_parquet(tmp_path / "want.parquet")
    )
    pd.testing.assert_frame_equal(got.duplicates, want.duplicates)
    pd.testing.assert_frame_equal(got.kept_matches, want.kept_matches)
    plain = {k: _plain(v) for k, v in got.counts["imputed_values"].items()}
    assert {**got.counts, "imputed_values": plain} == counts
    assert (got.input_rows, got.output_rows) == (len(validated), len(want.cleaned))


def test_the_grid_puts_every_comparable_pair_in_exactly_one_bucket() -> None:
    """Rows lacking a grid field are copied along its dimension; a pair equal on the fields
    both have shares a bucket, and the bucket its match is kept in is one of them."""
    cells = Grid(("a", "b"), (3, 2))
    coordinates = np.array([[0, 1], [-1, 1], [2, -1], [-1, -1], [1, 0]])
    held = cells.spread(coordinates)
    assert sum(len(rows) for rows in held) == 1 + 3 + 2 + 6 + 1
    where = {row: {b for b, rows in enumerate(held) if row in rows} for row in range(5)}
    assert where[3] == set(range(6)) and len(where[1]) == 3 and len(where[2]) == 2
    for a, b in [(0, 1), (0, 3), (2, 3), (3, 4), (1, 3)]:  # equal where both have a value
        both = np.where(coordinates[a] >= 0, coordinates[a], coordinates[b])
        home = int(cells.number(np.maximum(both, 0)[None, :])[0])
        assert home in where[a] & where[b]


def test_the_grid_is_over_the_block_fields_no_record_lacks() -> None:
    """The block of a candidate pair must be whole in one bucket (its sorted neighbourhood
    slides over all of it): a field that the batch or the history lacks anywhere is no
    dimension; the most varied field first."""
    values = {"city": {"a", "b", "c", "d"}, "rooms": {"1", "2", "3", "4"}, "floor": {"0", "1"}}
    batch = [Prepared(rows=100, missing={"city": 0, "rooms": 2, "floor": 0}, distinct=values)]
    history = [Prepared(rows=100, missing={"city": 3, "rooms": 0, "floor": 0}, distinct=values)]
    assert grid([*batch, *history], buckets=16) == Grid(("floor",), (2,), (("0", "1"),))
    whole = [Prepared(rows=100, missing=dict.fromkeys(values, 0), distinct=values)]
    every = (("a", "b", "c", "d"), ("1", "2", "3", "4"))
    assert grid(whole, buckets=8) == Grid(("city", "rooms"), (4, 2), every)


class KillsNearBuckets(InProcess):
    """A client whose workers die on every near bucket (as at 10M records: a task holding a
    near bucket of ~1.67M records), as ``distributed`` reports it."""

    def submit(self, function: Any, *args: Any, key: str, pure: bool) -> Any:
        from types import SimpleNamespace

        from distributed.scheduler import KilledWorker

        if function.__name__ == "content_and_pairs":
            worker = SimpleNamespace(address="tcp://127.0.0.1:4242", memory_limit=1536 * 2**20)
            return KilledWorker(key, worker, 3)  # type: ignore[arg-type]
        return function(*args)

    def gather(self, futures: list[Any]) -> list[Any]:
        from distributed.scheduler import KilledWorker

        for future in futures:
            if isinstance(future, KilledWorker):
                raise future
        return futures


def test_a_worker_killed_in_cleaning_names_the_source_date_and_bucket(
    spec: SourceSpec, history: pd.DataFrame, tmp_path: Path
) -> None:
    from harvest.storage.dask_tasks import DaskWorkerKilled

    path = tmp_path / "validated.parquet"
    concat_parts([today(spec, history)], path)
    (tmp_path / "work").mkdir()
    with pytest.raises(DaskWorkerKilled) as raised:
        clean_on_dask(
            path, spec, history, client=KillsNearBuckets(), folder=tmp_path / "work",
            cleaned=tmp_path / "cleaned.parquet", day=DAY,
        )  # fmt: skip
    message = str(raised.value)
    assert "clean source=demo date=2026-11-26" in message
    assert "near bucket 0" in message
    assert "1.50 GiB" in message and "HARVEST_DASK_WORKER_MEMORY" in message
