"""What the load reads besides the cleaned records, never whole (issue 23), on SQLite and
PostgreSQL: ``dedup_matches`` written from clean's staged ``duplicates`` and ``dedup_kept``
frames batch by batch (the same rows in any batch size, nothing changed when the frames cannot
be stored), the counts of a load run on its own from the staged files' footers, and the later
partitions a listings load re-checks read in parts above the Dask threshold."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import load_spec
from harvest.loading.staged import record_dedup_matches, staged_counts
from harvest.storage.staging import StagedDataset, stage_uri, write_frame
from harvest.storage.warehouse import Warehouse
from harvest.storage.warehouse.errors import FrameError
from harvest.storage.warehouse.schema import DEDUP_MATCHES

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
DAY = dt.date(2026, 3, 2)


def matches(n: int, start: int, action: str) -> pd.DataFrame:
    """``n`` rows as clean stages them (its columns and dtypes): unicode, quotes and commas in
    the records' JSON, and a missing url, matched date, score and record here and there."""
    rng = range(start, start + n)
    records = [
        None if i % 6 == 5 else json.dumps({"title": f'Flat "{i}", Köln', "rooms": i % 4},
                                          sort_keys=True, ensure_ascii=False)
        for i in rng
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "record_key": pd.array([f"L-{i:05d}" for i in rng], "string"),
            "url": pd.array([None if i % 7 == 3 else f"http://x.test/{i}" for i in rng], "string"),
            "logical_date": pd.array([DAY.isoformat()] * n, "string"),
            "is_duplicate_of": pd.array([f"L-{i + 1000:05d}" for i in rng], "string"),
            "matched_date": pd.array(
                [None if i % 5 == 2 else f"2026-03-0{1 + i % 2}" for i in rng], "string"
            ),
            "kind": pd.array(["near"] * n, "string"),
            "scope": pd.array([("batch", "history")[i % 2] for i in rng], "string"),
            "rule": pd.array([("near", "content", "key")[i % 3] for i in rng], "string"),
            "score": pd.array([None if i % 4 == 1 else 0.5 + i / 1000 for i in rng], "Float64"),
            "action": pd.array([action] * n, "string"),
            "record": pd.array(records, "string"),
            "matched_record": pd.array(list(reversed(records)), "string"),
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(tmp_path)})


def stage(settings: Settings, dataset: StagedDataset, frame: pd.DataFrame) -> str:
    return write_frame(frame, stage_uri(settings.staging_url, dataset, SPEC.name, DAY))


def stored(warehouse: Warehouse) -> list[tuple]:
    """The ``dedup_matches`` rows as the database holds them, in order (NULL as ``None``)."""
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.select(DEDUP_MATCHES).order_by(DEDUP_MATCHES.c.position)).all()
    return [tuple(row) for row in rows]


def test_several_batches_store_the_rows_one_batch_stores(
    warehouse: Warehouse, settings: Settings
) -> None:
    dropped, kept = matches(23, 0, "dropped"), matches(9, 500, "kept")
    stage(settings, StagedDataset.DUPLICATES, dropped)
    stage(settings, StagedDataset.DEDUP_KEPT, kept)
    warehouse.migrate([SPEC])

    assert record_dedup_matches(SPEC, DAY, settings, warehouse) == 32  # one batch
    whole = stored(warehouse)
    assert record_dedup_matches(SPEC, DAY, settings, warehouse, batch_rows=5) == 32
    assert stored(warehouse) == whole  # 5 + 2 batches: replaced, the same rows

    frame = warehouse.read_dedup_matches(SPEC.name)
    assert frame["position"].tolist() == list(range(32))
    both = pd.concat([dropped, kept], ignore_index=True)  # duplicates first, then kept
    assert frame["record_key"].tolist() == both["record_key"].tolist()
    assert frame["matched_key"].tolist() == both["is_duplicate_of"].tolist()
    assert frame["action"].tolist() == ["dropped"] * 23 + ["kept"] * 9
    assert frame["url"].isna().tolist() == both["url"].isna().tolist()
    dates = [None if pd.isna(d) else dt.date.fromisoformat(d) for d in both["matched_date"]]
    assert [None if pd.isna(d) else d for d in frame["matched_date"]] == dates
    scores = [None if pd.isna(s) else s for s in both["score"]]
    assert [None if pd.isna(s) else s for s in frame["score"]] == pytest.approx(scores)
    records = [None if pd.isna(r) else json.loads(r) for r in both["record"]]
    assert frame["record"].tolist() == records
    assert frame.loc[0, "record"] == {"rooms": 0, "title": 'Flat "0", Köln'}


@pytest.fixture
def recorded(warehouse: Warehouse, settings: Settings) -> list[tuple]:
    """A partition's matches staged (4 dropped, 3 kept) and stored; the rows stored."""
    stage(settings, StagedDataset.DUPLICATES, matches(4, 0, "dropped"))
    stage(settings, StagedDataset.DEDUP_KEPT, matches(3, 10, "kept"))
    warehouse.migrate([SPEC])
    assert record_dedup_matches(SPEC, DAY, settings, warehouse) == 7
    return stored(warehouse)


def test_a_frame_lacking_a_column_changes_nothing_and_names_the_partition(
    warehouse: Warehouse, settings: Settings, recorded: list[tuple]
) -> None:
    stage(settings, StagedDataset.DEDUP_KEPT, matches(3, 10, "kept").drop(columns="score"))
    with pytest.raises(FrameError, match=f"source demo, logical date {DAY}: the frame lacks score"):
        record_dedup_matches(SPEC, DAY, settings, warehouse, batch_rows=2)
    assert stored(warehouse) == recorded


def test_a_partition_cleaned_before_the_frames_existed_is_said_and_left_alone(
    warehouse: Warehouse,
    settings: Settings,
    recorded: list[tuple],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = Path(stage_uri(settings.staging_url, StagedDataset.DEDUP_KEPT, SPEC.name, DAY)[7:])
    kept.unlink()

    with caplog.at_level(logging.WARNING):
        assert record_dedup_matches(SPEC, DAY, settings, warehouse) is None
    assert stored(warehouse) == recorded
    assert (
        "no staged dedup_kept frame" in caplog.text and "clean the partition again" in caplog.text
    )


def test_staged_counts_come_from_the_footers_and_the_imputed_column(
    warehouse: Warehouse, settings: Settings
) -> None:
    imputed = [["area"], [], None, ["area", "rooms"], []] * 3
    cleaned = pd.DataFrame({"record_key": [f"k{i}" for i in range(15)], "imputed": imputed})
    stage(settings, StagedDataset.VALIDATED, pd.DataFrame({"record_key": range(17)}))
    stage(settings, StagedDataset.DUPLICATES, matches(2, 0, "dropped"))
    stage(settings, StagedDataset.CLEANED, cleaned)
    warehouse.migrate([SPEC])
    url = warehouse.engine.url.render_as_string(hide_password=False)
    settings = Settings.from_env({"HARVEST_HOME": str(settings.home), "HARVEST_WAREHOUSE_URL": url})

    assert staged_counts(SPEC, DAY, settings) == {
        "scraped": 17, "valid": 17, "quarantined": 0, "duplicates": 2, "imputed": 9,
    }  # fmt: skip
    stage(settings, StagedDataset.CLEANED, cleaned.drop(columns="imputed"))
    assert staged_counts(SPEC, DAY, settings)["imputed"] == 0
    duplicates = stage_uri(settings.staging_url, StagedDataset.DUPLICATES, SPEC.name, DAY)
    Path(duplicates[7:]).unlink()
    with pytest.raises(FileNotFoundError, match=f"staged partition {duplicates} does not exist"):
        staged_counts(SPEC, DAY, settings)


def test_a_later_partition_re_checked_above_the_threshold_is_read_in_parts(
    warehouse: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """D2 loaded first, then D1 (a backfill): D2 is cleaned again and re-loaded, its cleaned
    frame read in parts of 50 records (the threshold 100, as a partition on Dask), and the
    warehouse then holds exactly D2's records as cleaned again."""
    from harvest.cleaning import reclean
    from harvest.cleaning.stage import clean_partition
    from harvest.loading import counts_from, load_cleaned_partition
    from harvest.storage.staging import read_frame
    from tests.integration.test_cleaning_partition import stage_validated
    from tests.unit.test_dedup_demo import demo_spec

    home = {"HARVEST_HOME": str(tmp_path)}
    whole = Settings.from_env({**home, "HARVEST_DASK_THRESHOLD_ROWS": "0"})
    parts = Settings.from_env(
        {**home, "HARVEST_DASK_THRESHOLD_ROWS": "100", "HARVEST_DASK_PART_ROWS": "50"}
    )
    spec, earlier_day = demo_spec(), DAY - dt.timedelta(days=1)
    warehouse.migrate([spec])
    stage_validated(whole, earlier_day)
    stage_validated(whole, DAY)

    def clean_on_pandas(spec: Any, day: dt.date, _: Settings, wh: Warehouse) -> Any:
        return reclean(spec, day, whole, wh)  # cleaned on pandas, loaded in parts

    def clean_and_load(day: dt.date) -> Any:
        cleaned = clean_partition(spec, day, whole, warehouse=warehouse)
        valid = {"scraped": cleaned.input_rows, "valid": cleaned.input_rows, "quarantined": 0}
        return load_cleaned_partition(
            spec, day, parts, cleaned_uri=cleaned.cleaned_uri, warehouse=warehouse,
            counts=counts_from(valid, cleaned.to_dict()), cleaned_at=cleaned.cleaned_at,
            clean=clean_on_pandas,
        )  # fmt: skip

    clean_and_load(DAY)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        earlier = clean_and_load(earlier_day)
    assert earlier.rechecked == [DAY.isoformat()]
    later = stage_uri(whole.staging_url, StagedDataset.CLEANED, spec.name, DAY)
    rechecked = read_frame(later)
    assert f"{later}: {len(rechecked)} rows, read in parts of 50" in caplog.text
    loaded = warehouse.read_history(spec.name, DAY, DAY, ["record_key"])
    assert sorted(loaded["record_key"]) == sorted(rechecked["record_key"])
    summary = warehouse.partition_summary(spec.name, DAY)
    assert summary is not None and summary.loaded == len(rechecked) > 100


@pytest.mark.redis
def test_the_http_cache_purge_unlinks_a_partitions_redis_keys_as_it_finds_them(
    clean_redis: str, tmp_path: Path
) -> None:
    """More keys than one unlink takes (1,000), removed as SCAN returns them, none left over
    and none of another date touched."""
    import redis

    from harvest.storage.http_cache_entries import DEFAULT_PREFIX, purge_partition

    other = DAY + dt.timedelta(days=1)
    with redis.Redis.from_url(clean_redis) as client:
        pipe = client.pipeline(transaction=False)
        for day, n in ((DAY, 2345), (other, 10)):
            for i in range(n):
                pipe.hset(f"{DEFAULT_PREFIX}:demo:{day}:{i:040x}", mapping={"status": 200})
        pipe.execute()
        settings = Settings.from_env(
            {"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": clean_redis}
        )

        assert purge_partition(settings, "demo", DAY) == 2345
        assert not list(client.scan_iter(match=f"{DEFAULT_PREFIX}:demo:{DAY}:*"))
        assert len(list(client.scan_iter(match=f"{DEFAULT_PREFIX}:demo:{other}:*"))) == 10
        assert purge_partition(settings, "demo", DAY) == 0
