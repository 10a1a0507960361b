"""The catalogue demo source through the real pipeline over consecutive dates, against the truth.

Each date D is served by the demo site as day D and run by :func:`harvest.pipeline.run_partition`
(crawl, validate, clean, load) with the bundled ``catalogue.yaml``. A small catalogue whose
products change often (seed 1: every pair of days has products that appear, disappear and
change price) keeps the module under a few minutes. Checked:

- every field of every loaded observation equals :func:`catalogue_truth` of its date;
- the versions: every price (pay, stock) change opens a new version and closes the old one on
  that date, an unchanged product keeps one version, a removed one is closed on the date it was
  gone; the per-date counts equal :func:`catalogue_changes`;
- the crawl of a new date fetches every page from the site (the site's request counter), never
  from the cache of another date, while a retry of the same date is served from its cache;
- a re-run of a date leaves every warehouse table identical (load times aside);
- dates loaded out of order (D3, D1, D4, D2), on PostgreSQL, give the same tables as in order
  on SQLite (all but ``validation_results`` and ``crawl_monitors``, whose row-count floor and
  item count vs the median follow the dates validated
  before).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.pipeline import run_partition
from harvest.scraping import run_crawl
from harvest.storage.warehouse import open_warehouse
from harvest_demo import CatalogueConfig, DemoSite, SiteConfig, catalogue_truth
from harvest_demo.catalogue_truth import TRACKED_FIELDS, catalogue_changes

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include/harvest/sources/catalogue.yaml")
CONFIG = CatalogueConfig(
    seed=1, products=40, lifetime_days=(6, 16), gap_days=(1, 3), price_days=(2, 4)
)
DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(4)]
OUT_OF_ORDER = [DAYS[2], DAYS[0], DAYS[3], DAYS[1]]
TIME_COLUMNS = {
    "loaded_at", "seconds", "validated_at", "run_at", "created_at", "checked_at",
    "crawled_at", "duration_seconds",
}  # fmt: skip
"""Columns that record when (or how long) something ran: a re-run changes them by design."""


def _settings(home: Path, warehouse_url: str | None = None) -> Settings:
    env = {"HARVEST_HOME": str(home)}
    if warehouse_url:
        env["HARVEST_WAREHOUSE_URL"] = warehouse_url
    return Settings.from_env(env)


def night(day: dt.date) -> dt.datetime:
    """The night after ``day`` (03:30 UTC): when its run crawls the site showing ``day``."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3, 30), dt.UTC)


def _run(site: DemoSite, day: dt.date, settings: Settings) -> dict[str, Any]:
    """Serve ``day``, run its partition in its night; the stage reports plus the site's request
    count."""
    site.set_day(day)
    site.reset_stats()
    reports = run_partition(SPEC, day, settings, base_url=site.base_url, now=night(day))
    reports["site_requests"] = site.stats()["total"]
    return reports


def dump_all(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the warehouse, rows sorted, time columns left out, values made comparable
    across backends (dates as ISO text, numbers as rounded floats, JSON text parsed)."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                columns = [c for c in table.c if c.name not in TIME_COLUMNS]
                rows = conn.execute(sa.select(*columns)).all()
                out[name] = sorted((tuple(_comparable(v) for v in row) for row in rows), key=repr)
        return out
    finally:
        engine.dispose()


def _comparable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return round(float(value), 6)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(SiteConfig(seed=1), catalogue=CONFIG, day=DAYS[0]) as served:
        yield served


@pytest.fixture(scope="module")
def in_order(site: DemoSite, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The four dates in order on SQLite: reports per date and the warehouse dump."""
    home = tmp_path_factory.mktemp("in_order")
    settings = _settings(home)
    reports = {day: _run(site, day, settings) for day in DAYS}
    return {"settings": settings, "reports": reports, "dump": dump_all(settings.warehouse_url)}


def _frame(settings: Settings, table: str) -> pd.DataFrame:
    engine = sa.create_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_table(table, conn)
    finally:
        engine.dispose()


def _none(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value
    return None if pd.isna(value) else value


def _day(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _tags(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value)


def _matches_truth(row: pd.Series, truth: dict[str, Any], where: str) -> None:
    assert row["url"] == truth["url"], where
    assert row["title"] == truth["title"], where
    assert row["category"] == truth["category"], where
    assert _none(row["city"]) == truth["city"], where
    assert _none(row["rating"]) == truth["rating"], where
    assert _none(row["badge"]) == truth["badge"], where
    assert _none(row["availability"]) == truth["availability"], where
    assert _day(row["published"]) == truth["published_on"], where
    assert _tags(row["tags"]) == (truth["tags"].split(";") if truth["tags"] else []), where
    if truth["price_min"] is None:
        assert Decimal(str(row["price"])) == truth["price"], where
        assert row["price_currency"] == truth["price_currency"], where
        assert all(_none(row[c]) is None for c in ("pay", "pay_min", "pay_max")), where
    else:
        assert _none(row["price"]) is None, where
        assert row["pay"] == truth["price_text"], where
        assert Decimal(str(row["pay_min"])) == truth["price_min"], where
        assert Decimal(str(row["pay_max"])) == truth["price_max"], where
        assert row["pay_currency"] == truth["price_currency"], where
        assert row["pay_period"] == truth["price_period"], where


def test_the_chosen_days_change_in_every_way() -> None:
    """The fixture catalogue really appears, disappears and changes between every two dates."""
    for before, after in itertools.pairwise(DAYS):
        kinds = {c.kind for c in catalogue_changes(CONFIG, before, after)}
        assert kinds == {"appeared", "disappeared", "changed"}, (before, after, kinds)


def test_every_loaded_field_matches_the_truth_of_its_date(in_order: dict[str, Any]) -> None:
    observations = _frame(in_order["settings"], f"processed_{SPEC.name}")
    for day in DAYS:
        truth = catalogue_truth(CONFIG, day, SPEC.base_url)
        rows = observations[observations["logical_date"].map(_day) == day]
        assert sorted(rows["record_key"]) == sorted(t["product_id"] for t in truth), day
        by_key = rows.set_index("record_key")
        for product in truth:
            key = product["product_id"]
            _matches_truth(by_key.loc[key], product, f"{day} product {key}")
        report = in_order["reports"][day]
        assert report["validate"]["quarantined"] == 0, report["validate"]
        assert report["load"]["loaded"] == len(truth)
        assert report["load"]["warnings"] == {}, report["load"]["warnings"]


def _expected_versions() -> dict[str, list[tuple[dt.date, dt.date | None, dt.date]]]:
    """Per product, its versions (valid_from, valid_to, last_seen) as the truth implies them."""
    seen: dict[str, list[tuple[dt.date, Any]]] = {}
    for day in DAYS:
        for product in catalogue_truth(CONFIG, day, SPEC.base_url):
            state = tuple(product[f] for f in TRACKED_FIELDS)
            seen.setdefault(product["product_id"], []).append((day, state))
    expected: dict[str, list[tuple[dt.date, dt.date | None, dt.date]]] = {}
    for key, days in seen.items():
        present = dict(days)
        versions: list[list[Any]] = []
        open_state: Any = None
        for day in DAYS:
            if day not in present:
                if open_state is not None:
                    versions[-1][1] = day  # gone on this date
                    open_state = None
                continue
            if open_state is not None and present[day] != open_state:
                versions[-1][1] = day  # a tracked field changed: closed, and a new one opens
                open_state = None
            if open_state is None:
                versions.append([day, None, day])
                open_state = present[day]
            versions[-1][2] = day
        expected[key] = [(a, b, c) for a, b, c in versions]
    return expected


def test_versions_follow_every_change_and_nothing_else(in_order: dict[str, Any]) -> None:
    versions = _frame(in_order["settings"], f"versions_{SPEC.name}")
    got: dict[str, list[tuple[dt.date, dt.date | None, dt.date]]] = {}
    for row in versions.sort_values(["record_key", "valid_from"]).itertuples():
        valid_to = None if pd.isna(row.valid_to) else _day(row.valid_to)
        got.setdefault(row.record_key, []).append(
            (_day(row.valid_from), valid_to, _day(row.last_seen))
        )
    expected = _expected_versions()
    assert got == expected
    # unchanged products are not duplicated; every price change is a version of its own
    unchanged = [k for k, v in expected.items() if v == [(DAYS[0], None, DAYS[-1])]]
    changed = [k for k, v in expected.items() if len(v) > 1]
    assert unchanged and changed
    # the current version holds the last observed values
    last = versions[versions["valid_to"].isna()].set_index("record_key")
    truth = {t["product_id"]: t for t in catalogue_truth(CONFIG, DAYS[-1], SPEC.base_url)}
    assert sorted(last.index) == sorted(truth)
    for key, product in truth.items():
        _matches_truth(last.loc[key], product, f"current version of {key}")


def test_per_date_counts_are_the_truths_changes(in_order: dict[str, Any]) -> None:
    for previous, day in zip([None, *DAYS], DAYS, strict=False):
        load = in_order["reports"][day]["load"]
        visible = len(catalogue_truth(CONFIG, day))
        if previous is None:
            assert (load["versions_opened"], load["versions_closed"]) == (visible, 0)
            continue
        kinds = [c.kind for c in catalogue_changes(CONFIG, previous, day)]
        changed, gone = kinds.count("changed"), kinds.count("disappeared")
        assert load["versions_opened"] == kinds.count("appeared") + changed, day
        assert load["versions_closed"] == gone + changed, day
        assert load["versions_unchanged"] == visible - load["versions_opened"], day


def test_each_new_date_is_fetched_from_the_site(in_order: dict[str, Any]) -> None:
    """No date is served from the cache of another: every page of every date reaches the site."""
    for day in DAYS:
        scrape = in_order["reports"][day]["scrape"]
        assert scrape["cached_responses"] == 0, (day, scrape)
        assert scrape["requests_to_site"] >= scrape["pages"] > 0, (day, scrape)  # + robots.txt
        assert in_order["reports"][day]["site_requests"] >= scrape["pages"], day


def test_the_cache_serves_a_retry_of_its_own_date_only(site: DemoSite, tmp_path: Path) -> None:
    """With a date's cache entries still there (its load has not run), the next date's crawl
    fetches every page from the site, and a retry of the date itself fetches nothing."""
    settings = _settings(tmp_path)
    first, second = DAYS[0], DAYS[1]
    site.set_day(first)
    cold = run_crawl(SPEC, first, settings, base_url=site.base_url)
    assert cold.cached_responses == 0 and cold.requests_to_site > 0
    site.set_day(second)
    site.reset_stats()
    other = run_crawl(SPEC, second, settings, base_url=site.base_url)
    assert other.cached_responses == 0
    assert site.stats()["total"] >= other.pages > 0
    assert other.item_pages == len(catalogue_truth(CONFIG, second))
    site.reset_stats()
    retry = run_crawl(SPEC, second, settings, base_url=site.base_url)
    assert retry.cached_responses > 0 and retry.requests_to_site == 0
    assert site.stats()["total"] == 0


@pytest.mark.parametrize("day", [DAYS[1], DAYS[3]], ids=["middle date", "last date"])
def test_a_rerun_leaves_every_table_identical(
    in_order: dict[str, Any], site: DemoSite, day: dt.date
) -> None:
    settings = in_order["settings"]
    before = dump_all(settings.warehouse_url)
    again = _run(site, day, settings)
    # a loaded date is re-processed from its stored pages (harvest.scraping.past): no request
    assert again["scrape"]["reused"] and again["scrape"]["requests_to_site"] == 0
    assert again["site_requests"] == 0
    assert dump_all(settings.warehouse_url) == before


@pytest.mark.postgres
def test_out_of_order_on_postgresql_gives_the_same_warehouse(
    in_order: dict[str, Any],
    site: DemoSite,
    pg_database: str,
    tmp_path: Path,
) -> None:
    open_warehouse(pg_database).close()
    settings = _settings(tmp_path, pg_database)
    reports = {day: _run(site, day, settings) for day in OUT_OF_ORDER}
    assert all(r["load"]["loaded"] > 0 for r in reports.values())
    got, want = dump_all(pg_database), in_order["dump"]
    assert sorted(got) == sorted(want)
    # validation_results and crawl_monitors record each check as it ran: the row-count floor and
    # item_count_vs_median compare with the partitions before, so they depend on the order by
    # design; the data does not
    for table in sorted(set(want) - {"validation_results", "crawl_monitors"}):
        assert got[table] == want[table], table


def test_the_training_set_is_each_dates_valid_versions(in_order: dict[str, Any]) -> None:
    """Through the real crawl: one row per product and observed date, with that date's values."""
    from harvest.training.data import read_training_set

    with open_warehouse(in_order["settings"]) as warehouse:
        frame = read_training_set(warehouse, SPEC)
    for day in DAYS:
        rows = frame[frame["logical_date"].dt.date == day].set_index("record_key")
        truth = catalogue_truth(CONFIG, day, SPEC.base_url)
        assert sorted(rows.index) == sorted(t["product_id"] for t in truth), day
        for product in truth:
            _matches_truth(rows.loc[product["product_id"]], product, f"{day} {product['title']}")


def test_the_catalogue_trains_a_champion_and_scores_its_latest_date(
    in_order: dict[str, Any],
) -> None:
    """The bundled spec's target (price, in EUR) trains and scores like a listings source."""
    from harvest.training import TrainingSettings
    from harvest.training.run import train_source
    from harvest.training.scoring import score_partition

    settings = in_order["settings"]
    fast = TrainingSettings(
        trials=2, shap_sample=40, min_rows=20, min_window_rows=5, models=("lightgbm",)
    )
    report = train_source(SPEC, settings, fast)
    # 40 products over 4 dates: the model (2 trials) does not beat the median per category on
    # the 25 holdout rows with any confidence, so it is registered but not promoted (a first
    # model used to become champion whatever it scored); made champion by hand to score with it
    assert report.version == "1"
    if not report.promoted:
        assert report.reason.startswith("not promoted: not better than the naive baseline")
        import mlflow

        from harvest.training.tracking import CHAMPION

        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.MlflowClient().set_registered_model_alias(report.model_name, CHAMPION, "1")
    assert report.split["split_holdout_dates"] == f"{DAYS[-1]}..{DAYS[-1]}"
    priced = [t for t in catalogue_truth(CONFIG, DAYS[-1]) if t["price"] is not None]
    assert report.split["split_holdout_rows"] + report.split["target_outliers_dropped"] >= 1
    assert report.split["split_holdout_rows"] <= len(priced)
    scored = score_partition(SPEC, settings)
    assert (scored.logical_date, scored.rows) == (
        DAYS[-1].isoformat(),
        len(catalogue_truth(CONFIG, DAYS[-1])),
    )
    predictions = _frame(settings, "predictions_catalogue")
    assert predictions["prediction"].notna().all() and len(predictions) == scored.rows
