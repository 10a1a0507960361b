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
import pyarrow.parquet as pq
import pytest

from harvest.cleaning.partitioned import clean_on_dask
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
    want = _cleaned_both_ways(validated, spec, history, tmp_path, part_rows=25)
    counts = want.counts
    assert counts["exact_history"] > 0 and counts["updated"] > 0 and counts["near_batch"] > 0
    assert counts["near_history"] > 0 and counts["imputed"] and counts["corrected"]
    assert counts["reported" if content_duplicates == "report" else "dropped"]


def _cleaned_both_ways(
    validated: pd.DataFrame, spec: SourceSpec, history: pd.DataFrame, tmp_path: Path,
    part_rows: int,
) -> Any:  # fmt: skip
    """:func:`clean_frame` of ``validated`` and :func:`clean_on_dask` of it staged in parts of
    ``part_rows``: asserts the same cleaned rows, duplicates, kept matches, counts and row
    numbers; returns the pandas path's result (for what the caller checks it exercised)."""
    path = tmp_path / "validated.parquet"
    parts = (validated.iloc[i : i + part_rows] for i in range(0, len(validated), part_rows))
    concat_parts(parts, path)
    want = clean_frame(pd.read_parquet(path), spec, history)
    (tmp_path / "work").mkdir()
    got = clean_on_dask(
        path, spec, history, client=InProcess(), folder=tmp_path / "work",
        cleaned=tmp_path / "cleaned.parquet", duplicates=tmp_path / "duplicates.parquet",
        kept_matches=tmp_path / "kept.parquet",
    )  # fmt: skip
    want.cleaned.to_parquet(tmp_path / "want.parquet", index=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cleaned.parquet"), pd.read_parquet(tmp_path / "want.parquet")
    )
    for name, frame in (("duplicates", want.duplicates), ("kept_matches", want.kept_matches)):
        frame.to_parquet(tmp_path / f"want-{name}.parquet", index=False)
        written = pq.read_schema(getattr(got, name))
        assert written.equals(
            pq.read_schema(tmp_path / f"want-{name}.parquet"), check_metadata=True
        )
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(got, name)), frame)
    plain = {k: _plain(v) for k, v in got.counts["imputed_values"].items()}
    assert {**got.counts, "imputed_values": plain} == want.counts
    assert (got.input_rows, got.output_rows) == (len(validated), len(want.cleaned))
    return want


BLOCK = ["rooms", "floor", "city", "district", "balcony", "built_year", "available_from"]


def gappy_records(day: dt.date, first: int, n: int, seed: int) -> pd.DataFrame:
    """:func:`raw_records` with every block field missing at random (some records lacking more
    than ``max_missing`` of them), re-listings lacking a field their original has, and
    content-identical copies of records lacking fields."""
    rng = np.random.default_rng(seed)
    frame = raw_records(day, first, n, seed).astype("object")
    for name in BLOCK:
        frame.loc[rng.random(len(frame)) < 0.12, name] = None
    frame.loc[rng.random(len(frame)) < 0.05, ["rooms", "floor", "balcony", "district"]] = None
    relisted = frame.sample(n // 6, random_state=seed).copy()
    for i, name in enumerate(rng.choice(BLOCK, len(relisted))):
        relisted.iloc[i, relisted.columns.get_loc(name)] = None
    relisted["title"] = relisted["title"] + " (again)"
    copies = frame[frame[BLOCK].isna().any(axis=1)].head(12).copy()
    extra = pd.concat([relisted, copies], ignore_index=True)
    extra["listing_id"] = [f"L-{day:%Y%m%d}-{first + 3 * n + i:04d}" for i in range(len(extra))]
    extra["url"] = [f"http://127.0.0.1:8000/listing/{k}" for k in extra["listing_id"]]
    return pd.concat([frame, extra], ignore_index=True).astype("string")


@pytest.mark.parametrize(("content_duplicates", "seed"), [("report", 3), ("drop", 4)])
def test_near_groups_of_tiny_buckets_equal_clean_frame(
    spec: SourceSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content_duplicates: str,
    seed: int,
) -> None:  # fmt: skip
    """Missing values in every block field, history and batch, content duplicates, records
    lacking more than ``max_missing`` fields, and buckets of a few rows (many per group): the
    same frames as :func:`clean_frame`."""
    from harvest.cleaning import groups

    monkeypatch.setattr(groups, "NEAR_ROWS", 9)
    update = {"content_duplicates": content_duplicates}
    spec = spec.model_copy(update={"dedup": spec.dedup.model_copy(update=update)})
    before = DAY - dt.timedelta(days=1)
    old = validate_records(gappy_records(before, 5000, 150, seed), spec, before).valid
    old.loc[old.index[::9], "city"] = None  # validation requires it; cleaning does not
    cleaned = clean_frame(old, spec).cleaned
    history = cleaned[[c for c in history_columns(spec) if c in cleaned]]
    raw = gappy_records(DAY, 1000, 200, seed + 10)
    again = gappy_records(before, 5000, 150, seed).iloc[20:60].copy()  # re-listed today
    again["listing_id"] = [f"L-20261126-{8000 + i:04d}" for i in range(len(again))]
    again["url"] = [f"http://127.0.0.1:8000/listing/{k}" for k in again["listing_id"]]
    again["logical_date"] = DAY.isoformat()
    validated = validate_records(pd.concat([raw, again], ignore_index=True), spec, DAY).valid
    validated.loc[validated.index[::11], "city"] = None
    lacking = validated[BLOCK].isna().sum(axis=1)
    assert (lacking > spec.dedup.max_missing).any()
    assert validated[BLOCK].isna().any().all()  # every block field missing somewhere
    counts = _cleaned_both_ways(validated, spec, history, tmp_path, part_rows=40).counts
    assert counts["near_batch"] > 0 and counts["near_history"] > 0
    assert counts["reported" if content_duplicates == "report" else "dropped"]
    near_buckets = len(list((tmp_path / "work" / "near").iterdir()))
    assert near_buckets > 10


def test_the_layout_puts_each_union_in_one_group_split_by_fields_it_never_lacks(
    spec: SourceSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group 1: the unions without the most varied field (city); the next group the unions
    left without the most varied field left; a record lacking more than ``max_missing``
    fields goes to a rest bucket, once; every other record to at most ``max_missing + 1``
    buckets, one of its copies reporting its content match."""
    from harvest.cleaning import groups

    monkeypatch.setattr(groups, "NEAR_ROWS", 10)
    bit = {name: 1 << i for i, name in enumerate(BLOCK)}
    counts = {0: 50, bit["rooms"]: 10, bit["city"]: 10, bit["city"] | bit["floor"]: 5,
              bit["rooms"] | bit["floor"] | bit["balcony"]: 3}  # fmt: skip
    distinct = {"city": 6, "rooms": 4, "floor": 3, "balcony": 2, "district": 1}
    plan = groups.layout(counts, distinct, spec, buckets=2)
    first, second, third = plan.groups  # unions: {0, rooms}, {city, city+floor}, {rooms+city}
    assert "city" in first.split and all(not u & bit["city"] for u in first.unions)
    assert "rooms" in second.split and all(u & bit["city"] for u in second.unions)
    assert "floor" in third.split and third.unions == (bit["rooms"] | bit["city"],)
    unions = {a | b for a in counts for b in counts if (a | b).bit_count() <= 2}
    assert sorted(u for g in plan.groups for u in g.unions) == sorted(unions)
    for group in plan.groups:
        assert not any(u & bit[name] for u in group.unions for name in group.split)
    assert [g.buckets for g in plan.groups] == [6, 7, 7] and plan.rest == 1  # rows / 10
    assert [g.first for g in plan.groups] == [0, 6, 13] and plan.buckets == 21
    frame = pd.DataFrame({name: ["x"] * 6 for name in spec.detail.fields})
    frame.loc[1, "rooms"] = frame.loc[2, "city"] = None
    frame.loc[3, ["city", "floor"]] = frame.loc[4, ["rooms", "floor", "balcony"]] = None
    frame["_seq"] = range(len(frame))
    copies = pd.concat(groups.split(frame, spec, plan).values(), ignore_index=True)
    held = copies.groupby("_seq")[groups.REPORT].agg(["size", "sum"])
    assert held["sum"].tolist() == [1] * 6  # one reporting copy each
    assert held["size"].tolist() == [3, 2, 2, 1, 1, 3]  # row 4 in a rest bucket


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
            cleaned=tmp_path / "cleaned.parquet", duplicates=tmp_path / "duplicates.parquet",
            kept_matches=tmp_path / "kept.parquet", day=DAY,
        )  # fmt: skip
    message = str(raised.value)
    assert "clean source=demo date=2026-11-26" in message
    assert "near bucket 0" in message
    assert "1.50 GiB" in message and "HARVEST_DASK_WORKER_MEMORY" in message
