"""Page shapes that need a browser, a form or a login (issue 17, shapes 6 and 7), and pages a
spec cannot read, crawled end to end into the warehouse with exact counts.

Each test writes a spec as a user would from docs/cookbook/page-shapes.md and runs the partition
through :func:`harvest.pipeline.run_partition` (crawl in a child process, validate, clean, load
into SQLite) against :mod:`browser_site`, our own fixture site on 127.0.0.1; the browser shapes
use headless Chromium (skipped without it, failed under ``CI=true``).
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
from harvest.config.spec import SourceSpec
from harvest.pipeline import PipelineError, run_partition
from harvest.storage.warehouse import processed_table_name
from tests.integration.browser_site import BrowserSite

DAY = dt.date(2026, 3, 1)
FAST = {"concurrency_per_domain": 4, "download_delay_seconds": 0, "autothrottle": False}
CARD_DETAIL = {"key": "id", "fields": {
    "id": {"from": "card", "css": "::attr(data-id)", "required": True},
    "title": {"from": "card", "css": "h3"},
}}  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Iterator[BrowserSite]:
    served = BrowserSite()
    yield served
    served.stop()


def source(spec: dict[str, Any], site: BrowserSite) -> SourceSpec:
    spec = {"crawl": FAST, "monitors": {"min_share_of_median": None}, **spec}
    return SourceSpec.model_validate({"base_url": site.base_url, **spec})


def run(spec: dict[str, Any], site: BrowserSite, home: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run one partition of ``spec``; the rows now in its warehouse table and the reports."""
    source_spec = source(spec, site)
    settings = Settings.from_env({"HARVEST_HOME": str(home)})
    reports = run_partition(source_spec, DAY, settings, base_url=site.base_url)
    engine = sa.create_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_table(processed_table_name(source_spec.name), conn)
    finally:
        engine.dispose()
    return frame, reports


def cards_at(path: str, name: str = "unreadable") -> dict[str, Any]:
    return {
        "name": name,
        "start_urls": [f"{{base_url}}{path}"],
        "levels": [{"name": "list", "cards": "div.card"}],
        "detail": CARD_DETAIL,
    }


# -- pages a spec cannot read say so ----------------------------------------------------------


def test_robots_txt_forbidding_the_start_url_says_so(site: BrowserSite, tmp_path: Path) -> None:
    url = f"{site.base_url}/private/list"
    host = site.base_url.removeprefix("http://")
    with pytest.raises(PipelineError) as caught:
        run(cards_at("/private/list"), site, tmp_path)
    assert str(caught.value) == (
        f"crawl of source 'unreadable' for {DAY} fetched no page (0 failed, 1 not fetched): "
        f"robots.txt of {host} forbids {url} to Harvest (Forbidden by robots.txt; the spec's "
        "crawl.obey_robots_txt is on: ask the site's owner, or turn it off only for a site you own)"
    )
    assert "is " not in str(caught.value).split("):", 1)[0]  # no "is the site up?"
    assert site.requests.get("/private/list") is None


def test_a_json_page_to_a_spec_that_reads_html_says_so(site: BrowserSite, tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as caught:
        run(cards_at("/feed.json"), site, tmp_path)
    assert str(caught.value) == (
        f"crawl of source 'unreadable' for {DAY} fetched no page (1 failed, 0 not fetched): "
        f"{site.base_url}/feed.json failed: not an HTML page (Content-Type: application/json); "
        "the spec reads HTML (css/xpath): read JSON with 'jmespath:' selectors"
    )


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/feed", "the page is JSON (served as text/html; charset=utf-8), and the spec reads "
                  "HTML (css/xpath): read JSON with 'jmespath:' selectors"),
        ("/members/", "the page is a login form (it has a password field): the site wants a "
                      "login (give the spec a login:, whose credentials come from an Airflow "
                      "Connection or the environment)"),
    ],
)  # fmt: skip
def test_a_page_the_spec_cannot_read_says_what_it_is(
    site: BrowserSite, tmp_path: Path, path: str, what: str
) -> None:
    with pytest.raises(PipelineError) as caught:
        run(cards_at(path), site, tmp_path)
    assert str(caught.value).startswith(
        f"crawl of source 'unreadable' for {DAY} reached no item page (1 page(s) fetched, "
        f"0 failed): level 'list': cards selector 'div.card' matched nothing on "
        f"{site.base_url}{path}: {what}; check that selector"
    )
