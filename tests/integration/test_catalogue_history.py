"""History that only the site can change (issue 18), through the real pipeline on PostgreSQL and
SQLite: the catalogue demo crawled over consecutive dates, one of them with a failed list page.

An item is closed as gone only when the crawl read where it was listed and it was not there; an
item whose list page failed is *unobserved* that night: its version stays open, ``last_seen``
does not move, and the load says how many and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.observation import LIST_PAGE_UNREAD
from harvest.pipeline import run_partition
from harvest.storage.warehouse import open_warehouse
from harvest_demo import CatalogueConfig, DemoSite, Faults, SiteConfig
from harvest_demo.catalogue import catalogue_for_day, category_products
from harvest_demo.catalogue_kinds import CATEGORY_BY_SLUG

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include/harvest/sources/catalogue.yaml")
CONFIG = CatalogueConfig(
    seed=3, products=90, lifetime_days=(6, 16), gap_days=(1, 3), price_days=(2, 4)
)
DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(4)]
FAILED_DAY = DAYS[2]
FAILED_PAGE = "/catalogue/category/books/?page=2"  # and so every later page of books unread
BOOKS = CATEGORY_BY_SLUG["books"]


def _settings(home: Path, warehouse_url: str | None) -> Settings:
    env = {"HARVEST_HOME": str(home)}
    if warehouse_url:
        env["HARVEST_WAREHOUSE_URL"] = warehouse_url
    return Settings.from_env(env)


def unread_books(day: dt.date) -> set[str]:
    """The books a crawl of ``day`` cannot see with page 2 of books failing (pages 2, 3...)."""
    books = category_products(CONFIG, day, BOOKS)
    return {p.product_id for p in books[CONFIG.page_size :]}


def unobserved() -> set[str]:
    """The products the failed night cannot say anything of: listed on books the night before
    (wherever), and not on the one books page read that night (moved on, or gone: it cannot
    tell)."""
    listed_before = {p.product_id for p in category_products(CONFIG, DAYS[1], BOOKS)}
    read = {p.product_id for p in category_products(CONFIG, FAILED_DAY, BOOKS)[: CONFIG.page_size]}
    return listed_before - read


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The four dates in order, the third with books' page 2 answering 503 all night."""
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    if url:
        with open_warehouse(url) as warehouse:  # a clean database for this run
            meta = sa.MetaData()
            meta.reflect(warehouse.engine)
            meta.drop_all(warehouse.engine)
    settings = _settings(tmp_path_factory.mktemp(f"history_{request.param}"), url)
    reports = {}
    with DemoSite(SiteConfig(seed=3), catalogue=CONFIG, day=DAYS[0]) as site:
        for day in DAYS:
            site.set_day(day)
            site.set_faults(Faults(fail_paths=(FAILED_PAGE,)) if day == FAILED_DAY else Faults())
            night = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3, 30), dt.UTC)
            reports[day] = run_partition(SPEC, day, settings, base_url=site.base_url, now=night)
    engine = sa.create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        versions = pd.read_sql_table(f"versions_{SPEC.name}", conn)
        branches = pd.read_sql_table("crawl_branches", conn)
    engine.dispose()
    for column in ("valid_from", "valid_to", "last_seen"):
        versions[column] = versions[column].map(
            lambda v: None if pd.isna(v) else pd.Timestamp(v).date()
        )
    branches["logical_date"] = branches["logical_date"].map(lambda v: pd.Timestamp(v).date())
    yield {"reports": reports, "versions": versions, "branches": branches}


def test_the_failed_page_leaves_its_branch_unread_and_the_rest_whole(
    history: dict[str, Any],
) -> None:
    branches = history["branches"]
    failed = branches[branches["logical_date"] == FAILED_DAY]
    unread = failed[~failed["complete"].astype(bool)]
    assert unread["branch"].tolist() == ["http://127.0.0.1:8000/catalogue/category/books/"]
    assert "HTTP 503" in unread["reason"].iloc[0] and FAILED_PAGE in unread["reason"].iloc[0]
    whole = branches[branches["logical_date"] != FAILED_DAY]
    assert whole["complete"].astype(bool).all()
    assert len(whole) == 3 * len(failed)  # the same branches every night


def test_a_failed_list_page_closes_nothing(history: dict[str, Any]) -> None:
    """No version is closed on the failed night for a product the site still showed; the
    products its unread pages listed stay open with ``last_seen`` the night before."""
    versions = history["versions"]
    shown = {p.product_id for p in catalogue_for_day(CONFIG, FAILED_DAY)}
    closed = versions[versions["valid_to"] == FAILED_DAY]
    false_closings = [
        key
        for key in closed["record_key"]
        if key in shown
        and not (versions[(versions["record_key"] == key)]["valid_from"] == FAILED_DAY).any()
    ]
    assert false_closings == []
    unseen = unobserved()
    assert unseen, "the fixture must leave products on the unread pages"
    for key in unseen:
        spanning = versions[
            (versions["record_key"] == key)
            & (versions["valid_from"] <= FAILED_DAY)
            & versions["valid_to"].map(lambda d: d is None or d > FAILED_DAY)
        ]
        assert len(spanning) == 1, key  # still open across the failed night
        seen_after = spanning["last_seen"].iloc[0]
        assert seen_after != FAILED_DAY, key


def test_the_load_says_how_many_were_unobserved_and_why(history: dict[str, Any]) -> None:
    load = history["reports"][FAILED_DAY]["load"]
    unseen = unobserved()
    assert unseen > unread_books(FAILED_DAY) & {
        p.product_id for p in catalogue_for_day(CONFIG, DAYS[1])
    }
    assert load["versions_unobserved"] == len(unseen)
    warning = load["warnings"]["unobserved_items"]
    assert warning == {
        "severity": "warning",
        "items": len(unseen),
        "reasons": {LIST_PAGE_UNREAD: len(unseen)},
    }
    for day in (DAYS[1], DAYS[3]):
        assert history["reports"][day]["load"]["versions_unobserved"] == 0
        assert "unobserved_items" not in history["reports"][day]["load"]["warnings"]


def test_the_night_after_closes_what_really_went(history: dict[str, Any]) -> None:
    """What disappeared from the unread pages on the failed night is closed the next night the
    crawl looks (not on a night it did not look), and what the site still shows stays open."""
    versions = history["versions"]
    before = {p.product_id for p in catalogue_for_day(CONFIG, DAYS[1])}
    failed = {p.product_id for p in catalogue_for_day(CONFIG, FAILED_DAY)}
    after = {p.product_id for p in catalogue_for_day(CONFIG, DAYS[3])}
    went_unseen = (before - failed) & unobserved()
    assert went_unseen, "the fixture must have a product going unseen on the failed night"
    for key in went_unseen - after:
        closed = versions[(versions["record_key"] == key) & versions["valid_to"].notna()]
        assert closed["valid_to"].max() == DAYS[3], key
    current = set(versions[versions["valid_to"].isna()]["record_key"])
    assert current == after
