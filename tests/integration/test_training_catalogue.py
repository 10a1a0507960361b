"""The training set of a catalogue source on PostgreSQL and SQLite: the versions valid on each
observed date, one row per product and date, equal to the catalogue's ground truth of that date
(the real load builds the versions; the frames loaded are the truth as cleaning would hold it).
Training and scoring of the bundled catalogue spec through the real crawl are in
``test_catalogue_source.py``."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pandas as pd
import pytest

from harvest.config.settings import Settings
from harvest.storage.warehouse import Warehouse
from harvest.training.data import read_training_set
from harvest_demo.catalogue import catalogue_for_day
from tests.integration.test_load_modes import CONFIG, DAYS, catalogue_spec, load_catalogue, observed

SPEC = catalogue_spec(target="price")


def _truth(day: dt.date) -> dict[str, tuple[int | None, int | None]]:
    """Per product visible on ``day``: (price in cents, stock) as the site showed them."""
    return {p.product_id: (p.price_cents, p.availability) for p in catalogue_for_day(CONFIG, day)}


def _rows(frame: pd.DataFrame, day: dt.date) -> dict[str, tuple[int | None, int | None]]:
    rows = frame[frame["logical_date"].dt.date == day]
    assert not rows["record_key"].duplicated().any(), f"{day}: a product twice"
    return {
        row.record_key: (
            None if pd.isna(row.price) else round(row.price * 100),
            None if pd.isna(row.availability) else int(row.availability),
        )
        for row in rows.itertuples()
    }


@pytest.fixture
def loaded(warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    warehouse.migrate([SPEC])
    for day in DAYS:
        load_catalogue(warehouse, settings, SPEC, day, observed(day))
    return warehouse


def test_the_training_set_is_the_truth_of_each_date(loaded: Warehouse) -> None:
    frame = read_training_set(loaded, SPEC)
    assert sorted(frame["logical_date"].dt.date.unique()) == DAYS
    changed = 0
    for day in DAYS:
        assert _rows(frame, day) == _truth(day), day
    for before, after in itertools.pairwise(DAYS):
        both = _truth(before).keys() & _truth(after).keys()
        changed += sum(_truth(before)[k] != _truth(after)[k] for k in both)
    assert changed > 0  # the dates do carry price or stock changes, each at its own date
    # every row is the version valid on its date
    assert (frame["valid_from"].map(pd.Timestamp) <= frame["logical_date"]).all()
    open_to = frame["valid_to"].isna() | (
        frame["valid_to"].map(pd.Timestamp) > frame["logical_date"]
    )
    assert open_to.all()
    assert len(frame) == sum(len(_truth(day)) for day in DAYS)


def test_until_and_on_select_dates_of_the_training_set(loaded: Warehouse) -> None:
    until = read_training_set(loaded, SPEC, until=DAYS[2])
    assert sorted(until["logical_date"].dt.date.unique()) == DAYS[:3]
    on = read_training_set(loaded, SPEC, on=DAYS[3])
    assert _rows(on, DAYS[3]) == _truth(DAYS[3])
    assert set(on["logical_date"].dt.date) == {DAYS[3]}


def test_a_date_without_a_product_leaves_it_out_of_that_date(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A product missing on one night (its version closed then, a new one opened when it is
    back) is no row of that night: the training set never carries a stale version forward."""
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    warehouse.migrate([SPEC])
    gone = catalogue_for_day(CONFIG, DAYS[1])[0].product_id
    for day in DAYS[:3]:
        load_catalogue(
            warehouse, settings, SPEC, day, observed(day, drop=1 if day == DAYS[1] else 0)
        )
    frame = read_training_set(warehouse, SPEC)
    dates = frame[frame["record_key"] == gone]["logical_date"].dt.date.tolist()
    assert DAYS[1] not in dates and DAYS[2] in dates
