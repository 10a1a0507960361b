"""clean_partition from staging to staging, with history from a real (SQLite) warehouse."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harvest.cleaning import reclean
from harvest.cleaning.stage import clean_partition
from harvest.config.settings import Settings
from harvest.loading import load_cleaned_partition
from harvest.storage.staging import StagedDataset, read_frame, stage_uri, write_frame
from harvest.storage.warehouse import WarehouseUnavailable, open_warehouse
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records
from tests.unit.test_dedup_demo import demo_spec

DAY_1 = dt.date(2026, 3, 1)
DAY_2 = dt.date(2026, 3, 2)
CONFIG = SiteConfig(seed=5, listings_per_day=300)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(tmp_path)})


def stage_validated(settings: Settings, day: dt.date) -> tuple[str, dict[str, Any]]:
    """Stage a demo day as validation would: typed records, no ``record_key`` yet."""
    spec = demo_spec()
    frame, truth = demo_records(CONFIG, day, spec)
    frame = frame.drop(columns="record_key")
    uri = write_frame(
        frame, stage_uri(settings.staging_url, StagedDataset.VALIDATED, spec.name, day)
    )
    return uri, truth


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_clean_load_and_clean_the_next_day_against_history(settings: Settings) -> None:
    spec = demo_spec()
    warehouse = open_warehouse(settings, spec)
    stage_validated(settings, DAY_1)
    stage_validated(settings, DAY_2)

    first = clean_partition(spec, DAY_1, settings, warehouse=warehouse)
    assert first.history_status == "used" and first.history_rows == 0
    cleaned = read_frame(first.cleaned_uri)
    assert len(cleaned) == first.output_rows == first.input_rows - first.duplicates
    assert cleaned["record_key"].is_unique
    assert cleaned["record_key"].tolist() == sorted(cleaned["record_key"])
    assert set(first.imputed) <= {"area", "rooms", "balcony"}
    flagged = cleaned[cleaned["imputed"].map(len) > 0]
    assert len(flagged) == sum(first.imputed.values()) - _multi(flagged)
    warehouse.load_partition(spec, DAY_1, cleaned)

    second = clean_partition(spec, DAY_2, settings, warehouse=warehouse)
    assert second.history_rows == first.output_rows
    assert second.near_duplicates_history > 0
    duplicates = read_frame(second.duplicates_uri)
    assert len(duplicates) == second.duplicates
    assert set(duplicates.loc[duplicates["scope"] == "history", "is_duplicate_of"]) <= set(
        cleaned["record_key"]
    )
    report = second.to_dict()
    assert report["duplicates"] == second.duplicates
    assert report["cleaned_uri"] == stage_uri(
        settings.staging_url, StagedDataset.CLEANED, "demo", DAY_2
    )

    assert second.dropped == {
        "duplicate_key": 0,
        "content_identical": 0,
        "near_duplicate": second.near_duplicates_batch + second.near_duplicates_history,
    }
    assert "trained on 50 match and 50 distinct pairs" in second.near_status

    # idempotent: the same input and history give byte-identical files, also after loading
    before = local_path(second.cleaned_uri).read_bytes()
    dropped_before = local_path(second.duplicates_uri).read_bytes()
    warehouse.load_partition(spec, DAY_2, read_frame(second.cleaned_uri))
    again = clean_partition(spec, DAY_2, settings, warehouse=warehouse)
    assert local_path(again.cleaned_uri).read_bytes() == before
    assert local_path(again.duplicates_uri).read_bytes() == dropped_before  # the same drops
    # the same report, but for when it was cleaned (a timestamp the order-independent load reads)
    assert {**again.to_dict(), "cleaned_at": None} == {**report, "cleaned_at": None}
    warehouse.close()


def test_every_dropped_record_stays_queryable_after_the_load(settings: Settings) -> None:
    """The load writes clean's decisions to ``dedup_matches``: each dropped record with the one
    it matched, the rule and the score; a re-run replaces them."""
    spec = demo_spec()
    stage_validated(settings, DAY_1)
    counts = {"scraped": 300, "valid": 300, "quarantined": 0, "imputed": 0}
    with open_warehouse(settings, spec) as warehouse:
        for _ in range(2):
            report = clean_partition(spec, DAY_1, settings, warehouse=warehouse)
            load_cleaned_partition(
                spec, DAY_1, settings, cleaned_uri=report.cleaned_uri, warehouse=warehouse,
                counts={**counts, "duplicates": report.duplicates}, clean=reclean,
            )  # fmt: skip
        matches = warehouse.read_dedup_matches(spec.name, actions=("dropped",))
        loaded = warehouse.read_history(spec.name, DAY_1, DAY_1, ["record_key"])
    assert len(matches) == report.duplicates > 0  # once, though loaded twice
    assert set(matches["rule"]) == {"near"}
    assert (matches["score"] >= spec.dedup.threshold).all()
    assert set(matches["matched_key"]) <= set(loaded["record_key"])
    assert not set(matches["record_key"]) & set(loaded["record_key"])
    first = matches.iloc[0]
    assert first["record"]["district"] and first["matched_record"]["district"]


def test_on_its_own_it_opens_and_migrates_the_warehouse_for_history(settings: Settings) -> None:
    spec = demo_spec()
    stage_validated(settings, DAY_1)
    report = clean_partition(spec, DAY_1, settings)  # a SQLite file without tables yet
    assert report.history_status == "used" and report.history_rows == 0
    assert report.output_rows > 0


def test_an_unreachable_warehouse_fails_the_clean_naming_url_source_and_date(
    settings: Settings,
) -> None:
    """Like the Airflow task: no silent de-duplication without the history the spec asks for."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = Settings.from_env(
        {
            "HARVEST_HOME": str(settings.home),
            "HARVEST_WAREHOUSE_URL": f"postgresql://harvest:s3cret@127.0.0.1:{port}/warehouse",
        }
    )
    stage_validated(down, DAY_1)
    with pytest.raises(WarehouseUnavailable) as info:
        clean_partition(demo_spec(), DAY_1, down)
    message = str(info.value)
    assert "source demo, logical date 2026-03-01" in message
    assert f"127.0.0.1:{port}" in message and "***" in message
    assert "s3cret" not in message
    assert not local_path(
        stage_uri(down.staging_url, StagedDataset.CLEANED, "demo", DAY_1)
    ).exists()


def test_a_missing_validated_partition_names_the_uri(settings: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="validated/demo/2026-03-01"):
        clean_partition(demo_spec(), DAY_1, settings)


def _multi(flagged: pd.DataFrame) -> int:
    """Records with more than one imputed field count once per field in the report."""
    return int(sum(len(flags) - 1 for flags in flagged["imputed"]))
