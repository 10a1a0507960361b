"""The catalogue demo source end to end: its spec (three levels, cards merged with product
pages, values from the URL, regex + map, many) crawls one day of the catalogue demo site into the
raw store, and every product's fields parse to the day's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.partitions import Partition
from harvest.records import extract_records, parse_records
from harvest.scraping import run_crawl
from harvest.scraping.checks import CrawlCheckFailed, check_crawl
from harvest.scraping.health import monitored_crawl
from harvest.storage.raw import FileRawStore
from harvest.storage.warehouse import open_warehouse
from harvest_demo import CatalogueConfig, DemoSite, SiteConfig, catalogue_truth

DAY = dt.date(2026, 11, 26)
CONFIG = CatalogueConfig(seed=5, products=150)
SPEC = load_spec(Path(__file__).resolve().parents[2] / "include/harvest/sources/catalogue.yaml")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("catalogue")
    settings = Settings.from_env({"HARVEST_HOME": str(home)})
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=DAY) as site:
        result = run_crawl(SPEC, DAY, settings, base_url=site.base_url)
        truth = catalogue_truth(CONFIG, DAY, SPEC.base_url)  # raw URLs use the canonical base
    docs = FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition(
        SPEC.name, DAY
    )
    raw = extract_records(docs, SPEC)
    yield {"result": result, "truth": truth, "raw": raw, "parsed": parse_records(raw, SPEC)}


def test_the_crawl_reaches_every_product_once(crawled: dict[str, Any]) -> None:
    result = crawled["result"]
    frame = crawled["parsed"].frame
    assert result.failed_pages == 0 and result.empty_levels == 0
    assert result.item_pages == len(crawled["truth"])
    assert sorted(frame["product_id"]) == sorted(t["product_id"] for t in crawled["truth"])
    warnings = check_crawl(
        SPEC, Partition(SPEC.name, DAY), result.to_dict()
    )  # a crawl that reached its item pages passes
    # price and pay split one element's text by their regexes: no value lost, nothing said
    assert result.fields_regex_unmatched == {}
    assert not [w for w in warnings if "fields_regex_unmatched" in w]


def test_every_field_of_every_product_matches_the_truth(crawled: dict[str, Any]) -> None:
    frame = crawled["parsed"].frame.set_index("product_id")
    raw = crawled["raw"].set_index("product_id")
    issues = crawled["parsed"].issues
    for truth in crawled["truth"]:
        row = frame.loc[truth["product_id"]]
        where = f"product {truth['product_id']}"
        assert row["url"] == truth["url"], where
        assert row["title"] == truth["title"], where
        assert row["category"] == truth["category"], where
        assert _none(row["rating"]) == truth["rating"], where
        assert _none(row["badge"]) == truth["badge"], where
        assert _none(row["availability"]) == truth["availability"], where
        assert row["published"] == truth["published_on"], where
        assert _none(row["city"]) == truth["city"], where
        assert json.loads(row["tags"]) == (truth["tags"].split(";") if truth["tags"] else []), where
        shown = tuple(_none(raw.loc[truth["product_id"], c]) for c in ("price", "pay"))
        if truth["price_min"] is None:  # one amount: price, pay empty
            assert shown == (truth["price_text"], None), where
            assert row["price"] == float(truth["price"]), where
            assert row["price_currency"] == truth["price_currency"], where
            assert row[["pay", "pay_min", "pay_max"]].isna().all(), where
        else:  # a pay range: pay, price empty
            assert shown == (None, truth["price_text"]), where
            assert pd.isna(row["price"]), where
            assert row["pay"] == truth["price_text"], where
            assert (row["pay_min"], row["pay_max"]) == (truth["price_min"], truth["price_max"])
            assert row["pay_currency"] == truth["price_currency"], where
            assert row["pay_period"] == truth["price_period"], where
    assert issues.empty, issues


def test_a_level_that_matches_nothing_is_named_with_its_selector_and_url(
    tmp_path: Path,
) -> None:
    broken = SPEC.model_copy(
        update={
            "levels": [
                SPEC.levels[0].model_copy(update={"links": "ul.kategorien a"}),
                SPEC.levels[1],
            ]
        }
    )
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=DAY) as site:
        result = run_crawl(broken, DAY, settings, base_url=site.base_url)
        home = f"{site.base_url}/catalogue/"
    assert result.item_pages == 0
    expected = f"level 'categories': links selector 'ul.kategorien a' matched nothing on {home}"
    assert result.first_empty_level == expected
    with pytest.raises(CrawlCheckFailed, match="reached no item page") as error:
        check_crawl(broken, Partition(broken.name, DAY), result.to_dict())
    assert expected in str(error.value)


def test_a_regex_matching_none_of_a_text_is_counted_and_said(tmp_path: Path) -> None:
    """The availability regex ``harvest init`` drafted from a sample of in-stock pages: every
    out-of-stock page (``Out of stock``) is counted, and said with an example."""
    fields = dict(SPEC.detail.fields)
    drafted = r"In stock \((\d+) available\)"
    fields["availability"] = fields["availability"].model_copy(update={"regex": drafted, "map": {}})
    spec = SPEC.model_copy(update={"detail": SPEC.detail.model_copy(update={"fields": fields})})
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with DemoSite(SiteConfig(seed=5), catalogue=CONFIG, day=DAY) as site:
        result = monitored_crawl(spec, DAY, settings, base_url=site.base_url)
        home = f"{site.base_url}/catalogue/"
    truth = catalogue_truth(CONFIG, DAY, SPEC.base_url)
    out = sum(t["availability"] == 0 for t in truth)
    assert out > 0 and result.fields_regex_unmatched == {"availability": out}
    warnings = check_crawl(spec, Partition(spec.name, DAY), result.to_dict())
    (said,) = [w for w in warnings if "fields_regex_unmatched" in w]
    assert f"field 'availability': its regex '{drafted}'" in said
    assert f"in {out} item page(s) or card(s) read (" in said
    example = said.split("e.g. 'Out of stock' on ", 1)[1].split(";", 1)[0]
    assert example.startswith(home)
    assert said.endswith(f"(python -m harvest preview --source catalogue --url {example} shows it)")
    # stored with the crawl's figures (crawl_stats), where the supervisor and the app read them
    with open_warehouse(settings, read_only=True) as warehouse:
        stats = warehouse.crawl_stats(spec.name, DAY)
    assert stats["fields_regex_unmatched"].tolist() == [{"availability": out}]


def _none(value: Any) -> Any:
    return None if pd.isna(value) else value
