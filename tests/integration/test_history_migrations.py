"""History that only the site can change (issue 18), on PostgreSQL and SQLite, with loads of
cleaned frames: derived and imputed values are no observations, and schema changes (a field
added, a field retyped, the mode switched) are migrations with a plan, never item changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import DetailSpec, FieldSpec, SourceSpec
from harvest.storage.warehouse import Warehouse, WarehouseError
from tests.integration.test_load_modes import (
    DAYS,
    catalogue_spec,
    load_catalogue,
    observed,
    version_counts,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(tmp_path)})


def every_field_tracked(**changes: Any) -> SourceSpec:
    """The test shop with every field tracked (the default) and prices converted to EUR."""
    spec = catalogue_spec(**changes)
    fields = dict(spec.detail.fields)
    fields["price"] = FieldSpec(css="span", kind="price", convert_to="EUR")
    detail = DetailSpec(key="product_id", fields=fields)
    data = spec.model_dump(by_alias=True) | {
        "detail": detail.model_dump(by_alias=True),
        "tracked_fields": None,
        "currency_rates": "rates.csv",
    }
    data.update(changes)
    return SourceSpec.model_validate(data)


def with_eur(frame: pd.DataFrame, rate: float) -> pd.DataFrame:
    return frame.assign(price_eur=pd.array(frame["price"] * rate, "Float64"))


def opened(warehouse: Warehouse, day: dt.date) -> int:
    return int(version_counts(warehouse, "shop")[day][0])


def test_a_rate_update_opens_no_version(warehouse: Warehouse, settings: Settings) -> None:
    """The same prices on a night the EUR rate changed: every converted amount differs, no
    version opens; the versions keep each night's conversion as of its date."""
    spec = every_field_tracked()
    warehouse.migrate([spec])
    first = with_eur(observed(DAYS[0]), 0.90)
    load_catalogue(warehouse, settings, spec, DAYS[0], first)
    second = with_eur(first.assign(logical_date=DAYS[1]), 0.95)
    assert (second["price_eur"].dropna() != first["price_eur"].dropna()).all()
    report = load_catalogue(warehouse, settings, spec, DAYS[1], second)
    assert (report["versions_opened"], report["versions_closed"]) == (0, 0)
    assert report["versions_unchanged"] == len(second)
    history = warehouse.read_history("shop", DAYS[0], DAYS[1], ["logical_date", "price_eur"])
    by_day = history.groupby("logical_date")["price_eur"].sum()
    assert by_day[DAYS[1]] == pytest.approx(by_day[DAYS[0]] / 0.90 * 0.95)


def test_an_imputed_value_opens_no_version(warehouse: Warehouse, settings: Settings) -> None:
    spec = every_field_tracked()
    warehouse.migrate([spec])
    first = with_eur(observed(DAYS[0]).head(4), 0.9)
    load_catalogue(warehouse, settings, spec, DAYS[0], first)
    second = first.assign(logical_date=DAYS[1], badge="imputed badge")
    second["imputed"] = [["badge"]] * len(second)
    report = load_catalogue(warehouse, settings, spec, DAYS[1], second)
    assert (report["versions_opened"], report["versions_unchanged"]) == (0, 4)
    third = first.assign(logical_date=DAYS[2], badge="a real new badge")  # observed: a change
    assert load_catalogue(warehouse, settings, spec, DAYS[2], third)["versions_opened"] == 4


def test_adding_a_field_opens_no_version(warehouse: Warehouse, settings: Settings) -> None:
    spec = every_field_tracked()
    warehouse.migrate([spec])
    for day in DAYS[:2]:
        frame = with_eur(observed(day), 0.9)
        load_catalogue(warehouse, settings, spec, day, frame)
    before = warehouse.read_versions("shop")
    with warehouse.engine.begin() as conn:  # as a warehouse loaded before issue 18 has them
        conn.execute(sa.text("UPDATE catalogue_partitions SET columns = NULL"))

    grown_fields = {**spec.detail.fields, "colour": FieldSpec(css="i")}
    grown = spec.model_copy(update={"detail": DetailSpec(key="product_id", fields=grown_fields)})
    report = warehouse.migrate([grown])
    assert "processed_shop.colour" in report.added_columns
    assert report.recorded == ["shop: 2 date(s) loaded before the new columns (no item changes)"]
    same = with_eur(observed(DAYS[1]), 0.9).assign(logical_date=DAYS[2], colour="red")
    load = load_catalogue(warehouse, settings, grown, DAYS[2], same)
    assert (load["versions_opened"], load["versions_closed"]) == (0, 0)
    after = warehouse.read_versions("shop")
    assert len(after) == len(before)
    assert set(after["colour"]) == {"red"}  # the current version holds the value now seen
    changed = same.assign(logical_date=DAYS[3], colour="blue")  # then it is a tracked field
    assert load_catalogue(warehouse, settings, grown, DAYS[3], changed)["versions_opened"] == len(
        same
    )


def test_a_retyped_field_is_migrated_with_its_plan(
    warehouse: Warehouse, settings: Settings
) -> None:
    spec = every_field_tracked()
    warehouse.migrate([spec])
    first = with_eur(observed(DAYS[0]), 0.9).assign(badge="3")
    load_catalogue(warehouse, settings, spec, DAYS[0], first)
    fields = {**spec.detail.fields, "badge": FieldSpec(css="span", kind="int")}
    retyped = spec.model_copy(update={"detail": DetailSpec(key="product_id", fields=fields)})

    pending = warehouse.migrate([retyped])
    assert not pending.ok
    assert pending.type_mismatches[0].startswith(
        "processed_shop.badge is text in the database but int in the spec: its values are kept "
        "in processed_shop.badge__text"
    )
    second = first.assign(logical_date=DAYS[1], badge=pd.array([3] * len(first), "Int64"))
    with pytest.raises(WarehouseError, match=r"python -m harvest warehouse migrate"):
        load_catalogue(warehouse, settings, retyped, DAYS[1], second)

    applied = warehouse.migrate([retyped], apply=True)
    assert applied.ok and [s.kind for s in applied.applied] == ["retype", "retype"]
    load = load_catalogue(warehouse, settings, retyped, DAYS[1], second)
    assert (load["versions_opened"], load["versions_closed"]) == (0, 0)
    with warehouse.engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT DISTINCT badge__text FROM processed_shop")).all()
    assert [tuple(r) for r in kept] in ([("3",), (None,)], [(None,), ("3",)])


def test_a_mode_switch_migrates_with_its_plan(
    warehouse: Warehouse, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listings source switched to catalogue: the load stops naming the command (not "ON
    CONFLICT ... re-run the load"), the command says what it will do and keeps every row, and
    the next night counts only what the site changed."""
    listings = catalogue_spec(mode="listings", tracked_fields=None)
    warehouse.migrate([listings])
    for day in DAYS[:2]:
        warehouse.load_partition(listings, day, observed(day))
    rows = len(warehouse.read_history("shop", DAYS[0], DAYS[1]))
    switched = catalogue_spec(tracked_fields=None)
    with pytest.raises(WarehouseError) as refused:
        warehouse.migrate([switched])  # what every stage does: the safe steps only
        load_catalogue(warehouse, settings, switched, DAYS[2], observed(DAYS[2]))
    message = str(refused.value)
    assert "was loaded as mode listings, the spec says mode: catalogue" in message
    assert "run `python -m harvest warehouse migrate`" in message and "ON CONFLICT" not in message

    plan = warehouse.migrate([switched])
    assert [step.kind for step in plan.pending] == ["mode"]
    assert f"processed_shop's {rows} rows become observations on their dates" in str(
        plan.pending[0]
    )
    applied = warehouse.migrate([switched], apply=True)
    assert [step.kind for step in applied.applied] == ["mode"] and applied.ok
    assert len(warehouse.read_history("shop", DAYS[0], DAYS[1])) == rows  # every row kept
    versions = warehouse.read_versions("shop")
    assert set(versions["record_key"]) == set(
        warehouse.read_history("shop", DAYS[0], DAYS[1])["record_key"]
    )
    load = load_catalogue(warehouse, settings, switched, DAYS[2], observed(DAYS[2]))
    assert load["versions_opened"] < len(observed(DAYS[2])) / 4  # the site's changes only
    assert not warehouse.migrate([switched]).pending  # done once


def test_the_command_prints_the_plan_and_changes_nothing_with_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest.__main__ import main
    from harvest.storage.warehouse import open_warehouse

    sources = tmp_path / "sources"
    sources.mkdir()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    listings = catalogue_spec(mode="listings", tracked_fields=None)
    spec_text = listings.model_dump_json(by_alias=True, exclude_none=True)
    (sources / "shop.yaml").write_text(spec_text)  # JSON is YAML
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path / "home"))
    with open_warehouse(url) as warehouse:
        warehouse.migrate([listings])
        warehouse.load_partition(listings, DAYS[0], observed(DAYS[0]))
    switched = catalogue_spec(tracked_fields=None).model_dump_json(by_alias=True, exclude_none=True)
    (sources / "shop.yaml").write_text(switched)

    assert main(["warehouse", "migrate", "--url", url, "--plan"]) == 0
    out = capsys.readouterr().out
    assert "would: migrated      shop: mode listings -> catalogue" in out
    assert "nothing was changed (--plan)" in out
    with open_warehouse(url) as warehouse:
        assert warehouse.migrate([catalogue_spec(tracked_fields=None)]).pending  # still to do
    assert main(["warehouse", "migrate", "--url", url, "--source", "shop"]) == 0
    assert "migrated      shop: mode listings -> catalogue" in capsys.readouterr().out
    with open_warehouse(url) as warehouse:
        assert not warehouse.migrate([catalogue_spec(tracked_fields=None)]).pending
