"""Say what looks wrong (issue 18), on PostgreSQL and SQLite: a listings source whose nights
repeat is told "looks like a catalogue: set mode: catalogue", and a partition a later re-check
empties keeps its zero-rows warning (the supervisor's gauges and alerts read these)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from harvest.cleaning import reclean
from harvest.cleaning.stage import clean_partition
from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.loading import counts_from, load_cleaned_partition
from harvest.storage.staging import StagedDataset, read_frame, stage_uri, write_frame
from harvest.storage.warehouse import Warehouse
from tests.integration.test_cleaning_partition import stage_validated
from tests.unit.test_dedup_demo import demo_spec

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def spec_without_imputation() -> SourceSpec:
    """The demo spec with nothing imputed: a night shown again is then exactly the night before
    (an imputed value in history would differ from the same missing value tonight, which
    de-duplication counts as an update; see the report of issue 18)."""
    spec = demo_spec()
    fields = {
        name: field.model_copy(update={"impute": "none", "impute_value": None})
        for name, field in spec.detail.fields.items()
    }
    detail = spec.detail.model_copy(update={"fields": fields})
    return spec.model_copy(update={"detail": detail})


def same_night_again(settings: Settings, source: str, day: dt.date, again: dt.date) -> None:
    """Stage ``day``'s validated records as ``again``'s: the site showed the same items."""
    frame = read_frame(stage_uri(settings.staging_url, StagedDataset.VALIDATED, source, day))
    frame["logical_date"] = again.isoformat() if frame["logical_date"].dtype == object else again
    write_frame(frame, stage_uri(settings.staging_url, StagedDataset.VALIDATED, source, again))


def clean_and_load(settings: Settings, warehouse: Warehouse, day: dt.date) -> Any:
    spec = spec_without_imputation()
    cleaned = clean_partition(spec, day, settings, warehouse=warehouse)
    valid = cleaned.input_rows
    counts = counts_from({"scraped": valid, "valid": valid, "quarantined": 0}, cleaned.to_dict())
    return load_cleaned_partition(
        spec, day, settings, cleaned_uri=cleaned.cleaned_uri, counts=counts,
        warehouse=warehouse, cleaned_at=cleaned.cleaned_at, clean=reclean,
    )  # fmt: skip


def test_a_listings_source_whose_nights_repeat_looks_like_a_catalogue(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    warehouse.migrate([spec_without_imputation()])
    stage_validated(settings, D1)
    same_night_again(settings, "demo", D1, D2)
    first = clean_and_load(settings, warehouse, D1)
    assert first.loaded > 0 and "looks_like_catalogue" not in first.warnings
    second = clean_and_load(settings, warehouse, D2)
    assert second.loaded == 0
    assert set(second.warnings) >= {"zero_rows", "looks_like_catalogue"}
    repeat = second.warnings["looks_like_catalogue"]
    assert repeat["message"] == "looks like a catalogue: set mode: catalogue"
    assert repeat["share"] == 1.0 and repeat["seen_before"] == repeat["valid"] > 0
    stored = warehouse.partition_summary("demo", D2)
    assert stored is not None and "looks_like_catalogue" in (stored.warnings or {})


def test_a_partition_emptied_by_a_recheck_keeps_its_zero_rows_warning(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """D2 loaded first with rows; D1 (a backfill) shows the same items, so re-checking D2 finds
    every record a duplicate of D1: D2 now loads none, says so, and keeps each dropped record
    in ``dedup_matches`` with the record it matched."""
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    warehouse.migrate([spec_without_imputation()])
    stage_validated(settings, D1)
    same_night_again(settings, "demo", D1, D2)
    later = clean_and_load(settings, warehouse, D2)
    assert later.loaded > 0 and "zero_rows" not in later.warnings

    def history_matches() -> Any:
        matches = warehouse.read_dedup_matches("demo", since=D2, until=D2)
        return matches[matches["scope"] == "history"]

    assert history_matches().empty
    earlier = clean_and_load(settings, warehouse, D1)
    assert earlier.rechecked == [D2.isoformat()]
    # every record the re-check dropped stays queryable with the record of D1 it matched
    dropped = history_matches()
    assert len(dropped) == later.loaded + later.duplicates  # every record D2 showed
    assert set(dropped["action"]) == {"dropped"}
    assert set(dropped["matched_date"].astype(str)) == {D1.isoformat()}
    summary = warehouse.partition_summary("demo", D2)
    assert summary is not None and summary.loaded == 0
    assert "zero_rows" in (summary.warnings or {}), summary.warnings
    assert "looks_like_catalogue" in (summary.warnings or {})


def test_a_recheck_keeps_the_records_account_of_the_partitions_own_load(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A re-checked partition whose re-check drops some records (not all) is not told its
    records do not add up: the account is the load's, and the re-check knows every count
    (found by the Celery backfill, where dates load out of order)."""
    from dataclasses import replace

    from harvest.loading.order import _rechecked_warnings
    from harvest.storage.warehouse import PartitionSummary

    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    spec = spec_without_imputation()
    warehouse.migrate([spec])
    stage_validated(settings, D1)
    cleaned = clean_partition(spec, D1, settings, warehouse=warehouse)
    frame = read_frame(cleaned.cleaned_uri)
    summary = PartitionSummary(
        source="demo", logical_date=D1, scraped=cleaned.input_rows + 3,
        valid=cleaned.input_rows, quarantined=3, duplicates=cleaned.duplicates, imputed=0,
        loaded=len(frame), validation_passed=True, warnings={},
    )  # fmt: skip
    assert "records_unaccounted" not in _rechecked_warnings(spec, D1, summary, frame, cleaned)
    # a frame the re-check emptied still says zero_rows; an account the load recorded is kept
    recorded = {"records_unaccounted": {"severity": "warning", "rows": 1}}
    emptied = _rechecked_warnings(
        spec, D1, replace(summary, warnings=recorded), frame.iloc[:0], cleaned
    )
    assert set(emptied) >= {"zero_rows", "records_unaccounted"}
    assert emptied["records_unaccounted"] == recorded["records_unaccounted"]
