"""As-of values for every field (issue 18), on PostgreSQL and SQLite: a training row for date D
carries only values observed on or before D, tracked or not. A value planted on the newest night
is found in that night's row and in no earlier one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harvest.config.settings import Settings
from harvest.storage.warehouse import Warehouse
from harvest.training.data import read_training_set
from tests.integration.test_load_modes import DAYS, catalogue_spec, load_catalogue, observed

PLANTED = "PLANTED-ON-THE-NEWEST-NIGHT"


def _cells(frame: pd.DataFrame) -> pd.Series:
    """Per row, whether any of its cells holds the planted value."""
    return frame.astype("string").apply(lambda row: row.str.contains(PLANTED).any(), axis=1)


@pytest.mark.parametrize("mode", ["catalogue", "listings"])
def test_a_value_planted_on_the_newest_night_is_in_no_earlier_row(
    warehouse: Warehouse, tmp_path: Path, mode: str
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    # the planted field is untracked: a catalogue version overwrites it in place
    spec = catalogue_spec(
        target="price", mode=mode, tracked_fields=["price"] if mode == "catalogue" else None
    )
    warehouse.migrate([spec])
    newest = DAYS[-1]
    for day in DAYS:
        frame = observed(day)
        if day == newest:
            frame.loc[frame.index[:3], "badge"] = PLANTED  # three products seen every night
            frame.loc[frame.index[:3], "title"] = PLANTED
        if mode == "catalogue":
            load_catalogue(warehouse, settings, spec, day, frame)
        else:
            warehouse.load_partition(spec, day, frame)
    rows = read_training_set(warehouse, spec)
    planted = rows[_cells(rows)]
    assert len(planted) == 3, planted
    assert set(planted["logical_date"].dt.date) == {newest}
    earlier = rows[rows["logical_date"].dt.date < newest]
    assert len(earlier) > 0 and not _cells(earlier).any()
    if mode == "catalogue":  # the same products do have rows on every earlier night
        keys = set(planted["record_key"])
        for day in DAYS[:-1]:
            on_day = earlier[earlier["logical_date"].dt.date == day]
            assert keys <= set(on_day["record_key"]), day
            assert (
                on_day[on_day["record_key"].isin(keys)]["last_seen"].map(pd.Timestamp).dt.date
                == day
            ).all()
