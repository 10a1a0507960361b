"""Load modes on real PostgreSQL and SQLite: catalogue versions, listings updates and order,
re-runs, and the partition warnings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.cleaning import reclean
from harvest.cleaning.stage import clean_partition
from harvest.config.settings import Settings
from harvest.config.spec import DetailSpec, FieldSpec, IndexSpec, SourceSpec
from harvest.loading import LoadError, load_cleaned_partition
from harvest.loading.warnings import CriticalWarning
from harvest.storage.staging import StagedDataset, stage_uri, write_frame
from harvest.storage.warehouse import PARTITION_LOADS, Warehouse, open_warehouse
from harvest_demo import SiteConfig
from harvest_demo.catalogue import CatalogueConfig, catalogue_for_day
from harvest_demo.catalogue_truth import catalogue_changes
from tests.integration import test_warehouse as base
from tests.integration.test_cleaning_partition import stage_validated
from tests.unit.test_dedup_demo import demo_spec

dump = base.dump

CONFIG = CatalogueConfig(seed=7, products=150)
DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(5)]
TRACKED = ["price", "price_min", "price_max", "availability"]
COUNTS = {"scraped": 0, "valid": 0, "quarantined": 0, "duplicates": 0, "imputed": 0}


def catalogue_spec(**changes: Any) -> SourceSpec:
    def field(kind: str = "text", **kw: Any) -> FieldSpec:
        return FieldSpec(css="span", kind=kind, **kw)

    data: dict[str, Any] = {
        "name": "shop",
        "base_url": "http://127.0.0.1:8000",
        "start_urls": ["{base_url}/catalogue/"],
        "index": IndexSpec(detail_links="a"),
        "detail": DetailSpec(
            key="product_id",
            fields={
                "product_id": field(required=True),
                "title": field(),
                "category": field(),
                "price": field("price"),
                "price_min": field("float"),
                "price_max": field("float"),
                "availability": field("int"),
                "badge": field(),
            },
        ),
        "mode": "catalogue",
        "tracked_fields": TRACKED,
    }
    data.update(changes)
    return SourceSpec.model_validate(data)


def observed(day: dt.date, drop: int = 0) -> pd.DataFrame:
    """The catalogue as a cleaned frame of ``day`` (the first ``drop`` products left out)."""
    products = catalogue_for_day(CONFIG, day)[drop:]

    def amount(cents: int | None) -> float | None:
        return None if cents is None else cents / 100

    frame = pd.DataFrame(
        {
            "source": "shop",
            "logical_date": day,
            "url": [f"http://127.0.0.1:8000{p.path}" for p in products],
            "product_id": pd.array([p.product_id for p in products], "string"),
            "record_key": pd.array([p.product_id for p in products], "string"),
            "title": pd.array([p.title for p in products], "string"),
            "category": pd.array([p.category.name for p in products], "string"),
            "price": pd.array([amount(p.price_cents) for p in products], "Float64"),
            "price_currency": pd.array([p.currency for p in products], "string"),
            "price_min": pd.array([amount(p.price_min_cents) for p in products], "Float64"),
            "price_max": pd.array([amount(p.price_max_cents) for p in products], "Float64"),
            "availability": pd.array([p.availability for p in products], "Int64"),
            "badge": pd.array([p.badge for p in products], "string"),
        }
    )
    return frame.sort_values("record_key", ignore_index=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(tmp_path)})


def load_catalogue(
    warehouse: Warehouse, settings: Settings, spec: SourceSpec, day: dt.date, frame: pd.DataFrame
) -> dict[str, Any]:
    uri = write_frame(frame, stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", day))
    report = load_cleaned_partition(
        spec, day, settings, cleaned_uri=uri, counts=COUNTS, warehouse=warehouse
    )
    return report.to_dict()


def version_counts(warehouse: Warehouse, source: str) -> dict[dt.date, tuple[Any, ...]]:
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                PARTITION_LOADS.c.logical_date,
                PARTITION_LOADS.c.versions_opened,
                PARTITION_LOADS.c.versions_closed,
                PARTITION_LOADS.c.versions_unchanged,
            ).where(PARTITION_LOADS.c.source == source)
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


# --- catalogue ----------------------------------------------------------------------------------


def test_catalogue_versions_follow_the_ground_truth(
    warehouse: Warehouse, settings: Settings
) -> None:
    spec = catalogue_spec()
    warehouse.migrate([spec])
    reports = [load_catalogue(warehouse, settings, spec, d, observed(d)) for d in DAYS]
    first = len(catalogue_for_day(CONFIG, DAYS[0]))
    assert reports[0]["versions_opened"] == first
    assert (reports[0]["versions_closed"], reports[0]["versions_unchanged"]) == (0, 0)
    changed_any = 0
    for before, after, report in zip(DAYS, DAYS[1:], reports[1:], strict=False):
        changes = catalogue_changes(CONFIG, before, after)
        kinds = {
            k: [c for c in changes if c.kind == k] for k in ("appeared", "disappeared", "changed")
        }
        changed_any += len(kinds["changed"])
        visible = len(catalogue_for_day(CONFIG, after))
        assert report["versions_opened"] == len(kinds["appeared"]) + len(kinds["changed"]), after
        assert report["versions_closed"] == len(kinds["disappeared"]) + len(kinds["changed"])
        assert report["versions_unchanged"] == visible - report["versions_opened"]
        assert report["loaded"] == visible  # nothing seen before is dropped as a duplicate
    assert changed_any > 0  # the days do change prices or stock
    versions = warehouse.read_versions("shop")
    current = versions[versions["valid_to"].isna()]
    last = {p.product_id: p for p in catalogue_for_day(CONFIG, DAYS[-1])}
    assert sorted(current["record_key"]) == sorted(last)
    assert set(current["last_seen"]) == {DAYS[-1]}
    for row in current.itertuples():
        cents = last[row.record_key].price_cents
        assert (None if pd.isna(row.price) else round(row.price * 100)) == cents
    # each change closes the old version on the day the new one opens
    for change in catalogue_changes(CONFIG, DAYS[-2], DAYS[-1]):
        mine = versions[versions["record_key"] == change.product_id]
        if change.kind == "changed":
            assert mine["valid_to"].iloc[-2] == mine["valid_from"].iloc[-1] == DAYS[-1]
        if change.kind == "disappeared":
            assert mine["valid_to"].iloc[-1] == DAYS[-1]
            assert mine["last_seen"].iloc[-1] == DAYS[-2]
    assert version_counts(warehouse, "shop")[DAYS[2]] == (
        reports[2]["versions_opened"],
        reports[2]["versions_closed"],
        reports[2]["versions_unchanged"],
    )


def test_catalogue_out_of_order_and_reruns_give_the_same_warehouse(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    spec = catalogue_spec()
    warehouse.migrate([spec])
    for day in DAYS:
        load_catalogue(warehouse, settings, spec, day, observed(day))
    in_order = dump(warehouse, "versions_shop", with_loaded_at=False)
    counts = version_counts(warehouse, "shop")

    other = open_warehouse(f"sqlite:///{tmp_path / 'other.db'}")
    other.migrate([spec])
    shuffled = [DAYS[3], DAYS[0], DAYS[4], DAYS[2], DAYS[1]]
    for day in shuffled:
        load_catalogue(other, settings, spec, day, observed(day))
    assert dump(other, "versions_shop", with_loaded_at=False) == in_order
    assert version_counts(other, "shop") == counts
    other.close()

    # a re-run with other data replaces that date's observations; the first data again restores
    rerun = load_catalogue(warehouse, settings, spec, DAYS[2], observed(DAYS[2], drop=5))
    assert rerun["loaded"] == len(observed(DAYS[2])) - 5
    assert dump(warehouse, "versions_shop", with_loaded_at=False) != in_order
    load_catalogue(warehouse, settings, spec, DAYS[2], observed(DAYS[2]))
    assert dump(warehouse, "versions_shop", with_loaded_at=False) == in_order
    assert version_counts(warehouse, "shop") == counts
    with warehouse.engine.connect() as conn:
        observations = conn.execute(
            sa.text("SELECT count(*) FROM processed_shop WHERE logical_date = :d"), {"d": DAYS[2]}
        ).scalar_one()
    assert observations == len(observed(DAYS[2]))


def test_untracked_changes_do_not_open_versions(warehouse: Warehouse, settings: Settings) -> None:
    spec = catalogue_spec(tracked_fields=["price"])
    warehouse.migrate([spec])
    first = observed(DAYS[0]).head(3)
    load_catalogue(warehouse, settings, spec, DAYS[0], first)
    second = first.assign(logical_date=DAYS[1], badge="sale")
    report = load_catalogue(warehouse, settings, spec, DAYS[1], second)
    assert (report["versions_opened"], report["versions_unchanged"]) == (0, 3)
    versions = warehouse.read_versions("shop")
    assert len(versions) == 3 and set(versions["badge"]) == {"sale"}  # the latest values
    assert set(versions["last_seen"]) == {DAYS[1]}


# --- listings -----------------------------------------------------------------------------------


LISTINGS = SiteConfig(seed=5, listings_per_day=300)


def clean_and_load(spec: SourceSpec, day: dt.date, settings: Settings, wh: Warehouse) -> Any:
    cleaned = clean_partition(spec, day, settings, warehouse=wh)
    counts = {**COUNTS, "duplicates": cleaned.duplicates, "updated": cleaned.updated}
    return load_cleaned_partition(
        spec, day, settings, cleaned_uri=cleaned.cleaned_uri, counts=counts, warehouse=wh,
        cleaned_at=cleaned.cleaned_at, clean=reclean,
    )  # fmt: skip


def listings_warehouse(
    tmp_path: Path, order: list[dt.date], name: str
) -> tuple[list[tuple[Any, ...]], Warehouse]:
    spec = demo_spec()
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / name)})
    wh = open_warehouse(f"sqlite:///{tmp_path / name / 'warehouse.db'}")
    wh.migrate([spec])
    for day in sorted(order):
        stage_validated(settings, day)
    for day in order:
        clean_and_load(spec, day, settings, wh)
    return dump(wh, "processed_demo", with_loaded_at=False), wh


def test_listings_loaded_out_of_order_give_the_in_order_warehouse(tmp_path: Path) -> None:
    d1, d2, d3 = (dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(3))
    in_order, first = listings_warehouse(tmp_path, [d1, d2, d3], "in_order")
    backwards, second = listings_warehouse(tmp_path, [d3, d2, d1], "backwards")
    assert len(backwards) == len(in_order)
    assert backwards == in_order
    first.close()
    second.close()


def test_a_stale_clean_is_cleaned_again_before_loading(tmp_path: Path) -> None:
    """D2 cleaned, then D1 cleaned and loaded, then D2 loaded: two runs at the same time."""
    d1, d2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    in_order, first = listings_warehouse(tmp_path, [d1, d2], "in_order")
    spec = demo_spec()
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "racing")})
    wh = open_warehouse(f"sqlite:///{tmp_path / 'racing' / 'warehouse.db'}")
    wh.migrate([spec])
    stage_validated(settings, d1)
    stage_validated(settings, d2)
    early = clean_partition(spec, d2, settings, warehouse=wh)
    clean_and_load(spec, d1, settings, wh)
    report = load_cleaned_partition(
        spec, d2, settings, cleaned_uri=early.cleaned_uri,
        counts={**COUNTS, "duplicates": early.duplicates}, warehouse=wh,
        cleaned_at=early.cleaned_at, clean=reclean,
    )  # fmt: skip
    assert report.recleaned
    assert dump(wh, "processed_demo", with_loaded_at=False) == in_order
    first.close()
    wh.close()


def test_a_listings_load_without_the_clean_stage_is_refused(tmp_path: Path) -> None:
    """Its order checks need the clean stage handed in: without it nothing is loaded."""
    spec = demo_spec()
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    wh = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    wh.migrate([spec])
    day = dt.date(2026, 3, 1)
    stage_validated(settings, day)
    cleaned = clean_partition(spec, day, settings, warehouse=wh)
    with pytest.raises(
        LoadError, match=r"source=demo date=2026-03-01: .*clean=harvest\.cleaning\.reclean"
    ):
        load_cleaned_partition(
            spec, day, settings, cleaned_uri=cleaned.cleaned_uri, counts=COUNTS, warehouse=wh
        )
    assert wh.partition_summary("demo", day) is None
    wh.close()


def test_a_changed_listing_is_stored_as_an_update(warehouse: Warehouse, settings: Settings) -> None:
    spec = demo_spec()
    warehouse.migrate([spec])
    d1, d2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    uri, _ = stage_validated(settings, d1)
    clean_and_load(spec, d1, settings, warehouse)
    day_one = pd.read_parquet(uri.removeprefix("file://"))
    loaded = warehouse.read_history("demo", d1, d1)
    key = loaded["listing_id"].iloc[0]
    changed = day_one[day_one["listing_id"] == key].assign(logical_date=d2.isoformat())
    changed["price"] = changed["price"] + 100
    write_frame(changed, stage_uri(settings.staging_url, StagedDataset.VALIDATED, "demo", d2))
    report = clean_and_load(spec, d2, settings, warehouse)
    assert (report.updated, report.loaded, report.duplicates) == (1, 1, 0)
    row = warehouse.read_history("demo", d1, d2).set_index("listing_id").loc[key]
    assert row["price"] == loaded.set_index("listing_id").loc[key, "price"] + 100
    assert row["logical_date"] == d2
    assert warehouse.partition_summary("demo", d2).updated == 1


def test_a_load_removes_the_http_cache_of_its_partition_only(
    warehouse: Warehouse, settings: Settings
) -> None:
    """The entries only served re-runs of the stages before the load (files backend here; Redis:
    ``test_scraping_stable_site.py``)."""
    spec = catalogue_spec()
    warehouse.migrate([spec])
    for day in DAYS[:2]:
        folder = settings.http_cache_dir / "shop" / day.isoformat()
        folder.mkdir(parents=True)
        for n in range(3):
            (folder / f"fingerprint{n}.gz").write_bytes(b"x")
    uri = write_frame(
        observed(DAYS[0]), stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", DAYS[0])
    )
    report = load_cleaned_partition(
        spec, DAYS[0], settings, cleaned_uri=uri, counts=COUNTS, warehouse=warehouse
    )
    assert report.http_cache_purged == 3
    assert not (settings.http_cache_dir / "shop" / DAYS[0].isoformat()).exists()
    assert len(list((settings.http_cache_dir / "shop" / DAYS[1].isoformat()).iterdir())) == 3


# --- warnings -----------------------------------------------------------------------------------


def test_warnings_are_stored_with_their_counts(warehouse: Warehouse, settings: Settings) -> None:
    spec = catalogue_spec()
    warehouse.migrate([spec])
    frame = observed(DAYS[0]).assign(badge=pd.array([None] * len(observed(DAYS[0])), "string"))
    uri = write_frame(
        frame, stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", DAYS[0])
    )
    crawl = {"cached_responses": 40, "requests_to_site": 0, "pages": 40}
    counts = {**COUNTS, "scraped": len(frame), "valid": len(frame)}  # the records add up
    report = load_cleaned_partition(
        spec, DAYS[0], settings, cleaned_uri=uri, counts=counts, warehouse=warehouse, crawl=crawl
    )
    assert report.warnings == {
        "all_cached": {"severity": "warning", "cached_responses": 40, "requests_to_site": 0},
        "empty_field": {"severity": "warning", "fields": ["badge"], "rows": len(frame)},
    }
    assert warehouse.partition_summary("shop", DAYS[0]).warnings == report.warnings

    empty = write_frame(
        frame.head(0), stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", DAYS[1])
    )
    report = load_cleaned_partition(
        spec, DAYS[1], settings, cleaned_uri=empty, counts=COUNTS, warehouse=warehouse
    )
    assert report.warnings == {"zero_rows": {"severity": "warning", "rows": 0}}
    assert warehouse.partition_summary("shop", DAYS[1]).warnings == report.warnings


@pytest.mark.parametrize(
    ("name", "crawl", "rows"),
    [("zero_rows", None, 0), ("all_cached", {"cached_responses": 9, "requests_to_site": 0}, 5)],
)
def test_a_critical_warning_fails_the_load_and_changes_nothing(
    warehouse: Warehouse,
    settings: Settings,
    name: str,
    crawl: dict[str, int] | None,
    rows: int,
) -> None:
    spec = catalogue_spec(warnings={name: "critical"})
    warehouse.migrate([spec])
    load_catalogue(warehouse, settings, spec, DAYS[0], observed(DAYS[0]))
    before = dump(warehouse, "versions_shop")
    uri = write_frame(
        observed(DAYS[1]).head(rows),
        stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", DAYS[1]),
    )
    with pytest.raises(
        CriticalWarning, match=f"source=shop date={DAYS[1]}: critical warning {name}"
    ):
        load_cleaned_partition(
            spec, DAYS[1], settings, cleaned_uri=uri, counts=COUNTS, warehouse=warehouse,
            crawl=crawl,
        )  # fmt: skip
    assert dump(warehouse, "versions_shop") == before
    assert warehouse.partition_summary("shop", DAYS[1]) is None


def test_old_partition_loads_rows_read_back_after_the_migration(warehouse: Warehouse) -> None:
    spec = demo_spec()
    warehouse.migrate([spec])
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.insert(PARTITION_LOADS).values(
                source="demo", logical_date=DAYS[0], scraped=1, valid=1, quarantined=0,
                duplicates=0, imputed=0, loaded=1, validation_passed=True,
                loaded_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            )
        )  # fmt: skip
    summary = warehouse.partition_summary("demo", DAYS[0])
    assert summary is not None and summary.warnings is None and summary.updated is None


def test_migrate_adds_the_new_partition_loads_columns_to_an_old_table(
    warehouse: Warehouse,
) -> None:
    old = sa.Table(
        "partition_loads",
        sa.MetaData(),
        *(c.copy() for c in PARTITION_LOADS.columns if c.name in base_columns()),
    )
    old.create(warehouse.engine)
    report = warehouse.migrate([demo_spec(), catalogue_spec()])
    added = {
        "partition_loads.updated",
        "partition_loads.versions_opened",
        "partition_loads.versions_closed",
        "partition_loads.versions_unchanged",
        "partition_loads.warnings",
    }
    assert added <= set(report.added_columns)
    assert {"versions_shop", "catalogue_partitions"} <= set(report.created_tables)
    assert not warehouse.migrate([demo_spec(), catalogue_spec()]).changed


def base_columns() -> set[str]:
    """The columns ``partition_loads`` had before the modes."""
    return {
        "source", "logical_date", "scraped", "valid", "quarantined", "duplicates", "imputed",
        "loaded", "validation_passed", "loaded_at",
    }  # fmt: skip


def test_a_cached_rerun_of_a_loaded_date_is_not_a_warning(
    warehouse: Warehouse, settings: Settings
) -> None:
    spec = catalogue_spec()
    warehouse.migrate([spec])
    uri = write_frame(
        observed(DAYS[0]), stage_uri(settings.staging_url, StagedDataset.CLEANED, "shop", DAYS[0])
    )
    fetched = {"cached_responses": 0, "requests_to_site": 40}
    cached = {"cached_responses": 40, "requests_to_site": 0}
    rows = len(observed(DAYS[0]))
    counts = {**COUNTS, "scraped": rows, "valid": rows}  # the records add up
    for crawl in (fetched, cached):
        report = load_cleaned_partition(
            spec, DAYS[0], settings, cleaned_uri=uri, counts=counts, warehouse=warehouse,
            crawl=crawl,
        )  # fmt: skip
        assert report.warnings == {}
