"""Re-running a date with other start URLs, forced to crawl again (``recrawl``: by default a
loaded date re-processes its stored pages): the raw partition and the warehouse hold only the
re-run's pages. The real demo site on localhost, a crawl in its own process, all four stages
(``harvest.pipeline.run_partition``) into the SQLite warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvest.config import Settings, SourceSpec, load_spec
from harvest.pipeline import run_partition
from harvest.storage.raw import FileRawStore, RawDocument
from harvest_demo.generator import SiteConfig
from harvest_demo.server import DemoSite

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 14)
OTHER_DAY = dt.date(2026, 3, 13)
SITE = SiteConfig(seed=11, listings_per_day=16, page_size=8)


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(SITE) as demo:
        yield demo


def spec_starting_at(listings_day: dt.date) -> SourceSpec:
    """The demo spec, crawling the listings pages of ``listings_day`` whatever the partition."""
    spec = load_spec(REPO / "include/harvest/sources/demo.yaml")
    return spec.model_copy(
        update={"start_urls": [f"{{base_url}}/listings/{listings_day.isoformat()}"]}
    )


def raw_partition(settings: Settings) -> list[RawDocument]:
    return FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition("demo", DAY)


def warehouse_ids(settings: Settings) -> set[str]:
    engine = sa.create_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            table = sa.Table("processed_demo", sa.MetaData(), autoload_with=conn)
            query = sa.select(table.c.listing_id).where(table.c.logical_date == DAY)
            return {str(row[0]) for row in conn.execute(query)}
    finally:
        engine.dispose()


def test_a_rerun_with_other_start_urls_replaces_the_partition_and_its_rows(
    tmp_path: Path, site: DemoSite
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})
    night = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(3), dt.UTC)  # its night
    first = run_partition(spec_starting_at(DAY), DAY, settings, base_url=site.base_url, now=night)
    first_docs = raw_partition(settings)
    first_ids = warehouse_ids(settings)
    assert first["scrape"]["documents"] == len(first_docs) and first_ids

    # the date is loaded: a re-run re-processes its stored pages unless a re-crawl is forced
    reused = run_partition(spec_starting_at(OTHER_DAY), DAY, settings, base_url=site.base_url)
    assert reused["scrape"]["reused"] and reused["scrape"]["requests_to_site"] == 0
    assert raw_partition(settings) == first_docs and warehouse_ids(settings) == first_ids
    rerun = run_partition(
        spec_starting_at(OTHER_DAY), DAY, settings, base_url=site.base_url, recrawl=True
    )
    docs = raw_partition(settings)
    index_urls = [d.url for d in docs if d.page_type == "index"]
    assert index_urls and all(f"/listings/{OTHER_DAY.isoformat()}" in u for u in index_urls)
    assert rerun["scrape"]["documents"] == len(docs)
    assert not {d.url for d in first_docs if d.page_type == "index"} & set(index_urls)

    rerun_ids = {d.fields.get("listing_id") for d in docs if d.page_type == "detail"}
    ids = warehouse_ids(settings)
    assert ids and ids <= rerun_ids  # only the re-run's records...
    assert first_ids - rerun_ids  # ...and the first run had others, now gone
    assert not (first_ids - rerun_ids) & ids
