"""Every page shape of issue 17 crawled end to end into the warehouse, with exact counts.

Each test writes a spec as a user would from docs/cookbook/page-shapes.md, runs the partition through
:func:`harvest.pipeline.run_partition` (crawl, validate, clean, load into SQLite) against
:mod:`shape_site` (our own fixture site on 127.0.0.1), and checks: the rows loaded equal the
records the site shows (nothing quarantined, nothing de-duplicated away), the values, and the
crawl's completeness account (per level: links seen, followed, skipped with reason, cards seen,
records). One test crawls with drops on purpose and checks each drop is counted with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fixtures.shape_crawl import run
from tests.integration.shape_site import (
    API_PRODUCTS,
    AUTHORS,
    BOOKS,
    JOBS,
    LD_ITEMS,
    PAGED,
    PAGED_SPEC,
    QUOTES,
    SHOP_ITEMS,
    SHOP_PER_PAGE,
    SHOP_SPEC,
    TABLE_ROWS,
    TABLE_SPEC,
    TRUTH,
    ShapeSite,
    item_name,
)


@pytest.fixture(scope="module")
def site() -> Iterator[ShapeSite]:
    served = ShapeSite()
    yield served
    served.stop()


def assert_all_loaded(frame: pd.DataFrame, reports: dict[str, Any], shape: str) -> None:
    load = reports["load"]
    assert (load["scraped"], load["quarantined"], load["duplicates"]) == (TRUTH[shape], 0, 0)
    assert len(frame) == load["loaded"] == TRUTH[shape]
    assert reports["scrape"]["completeness"]["warnings"] == []
    assert "crawl_incomplete" not in load["warnings"]


def level(reports: dict[str, Any], name: str) -> dict[str, Any]:
    account = reports["scrape"]["completeness"]["levels"]
    return next(entry for entry in account if entry["level"] == name)


QUOTES_SPEC = {
    "name": "shape_quotes",
    "start_urls": ["{base_url}/quotes/"],
    "levels": [{"name": "quotes", "cards": "div.quote", "links": "a.author",
                "next_page": "li.next a"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "card", "css": "::attr(data-id)", "required": True},
        "text": {"from": "card", "css": "span.text"},
        "author": {"css": "h2.name"},
        "born": {"css": "span.born", "kind": "date"},
    }},
}  # fmt: skip


def test_cards_sharing_a_detail_page_each_stay_a_record(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run(QUOTES_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "quotes")
    rows = frame.set_index("id")
    for ident, text, slug in QUOTES:
        assert rows.loc[ident, "text"] == text
        assert rows.loc[ident, "author"] == AUTHORS[slug][0]
        assert str(rows.loc[ident, "born"])[:10] == AUTHORS[slug][1]
    for slug in AUTHORS:  # each detail page fetched once, joined to every card linking it
        assert site.requests[f"/quotes/author/{slug}"] == 1
    quotes = level(reports, "quotes")
    assert quotes["cards_seen"] == quotes["records"] == len(QUOTES)
    assert quotes["skipped"].get("duplicate", 0) == 0  # a shared page is joined, not a drop


SHOP_LEVELS = SHOP_SPEC["levels"]
SHOP_DETAIL = SHOP_SPEC["detail"]


def test_a_category_tree_of_mixed_depth(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run(SHOP_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "shop")
    assert sorted(frame["id"]) == SHOP_ITEMS
    assert site.requests["/shop/item/t1"] >= 1
    category = level(reports, "category")
    # the robots.txt-forbidden and the off-site link are skipped, each with its reason
    assert category["skipped"]["robots"] == 1 and category["skipped"]["off-site"] == 1
    assert category["records"] == len(SHOP_ITEMS)


SHOP_CARDS_SPEC = {
    "name": "shape_shop_cards", "start_urls": ["{base_url}/shop/"],
    "levels": [{"name": "category", "recurse": "a.sub", "cards": "div.product", "links": "a",
                "next_page": "nav.pages a"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "url", "regex": r"/shop/item/(\w+)$", "required": True},
        "label": {"from": "card", "css": "a::text"},
        "price": {"css": "p.price", "kind": "price"},
    }},
}  # fmt: skip


def test_an_item_carded_in_two_categories_is_one_record(site: ShapeSite, tmp_path: Path) -> None:
    # t1 is carded in tools/ and in tools/power/drills/cordless/, and tools/hand/'s first page is
    # read again as ?page=1 (its numbered link): each repeat is a card joined to an item page
    # that gave a record of its key already: the same item, counted as a duplicate card
    frame, reports = run(SHOP_CARDS_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "shop")
    assert sorted(frame["id"]) == SHOP_ITEMS
    assert (frame["label"] == frame["id"]).all()
    category = level(reports, "category")
    repeats = 1 + SHOP_PER_PAGE  # t1's second card, the 3 cards of tools/hand/?page=1
    assert category["cards_seen"] == len(SHOP_ITEMS) + repeats
    assert (category["cards_duplicate"], category["records"]) == (repeats, len(SHOP_ITEMS))
    assert site.requests["/shop/item/t1"] >= 1


def test_a_bounded_recursion_counts_what_it_did_not_follow(site: ShapeSite, tmp_path: Path) -> None:
    levels = [{**SHOP_LEVELS[0], "max_recursion": 2}]
    frame, reports = run({
        "name": "shape_shop_shallow", "start_urls": ["{base_url}/shop/"],
        "levels": levels, "detail": SHOP_DETAIL,
    }, site, tmp_path)  # fmt: skip
    # tools/power/drills (depth 3) is not followed: d1, c1 and c2 are not reached; t1 is
    assert sorted(frame["id"]) == sorted(set(SHOP_ITEMS) - {"d1", "c1", "c2"})
    category = level(reports, "category")
    assert category["skipped"]["depth"] == 1
    completeness = reports["scrape"]["completeness"]
    assert any("max_recursion" in warning for warning in completeness["warnings"])
    # the partition's named warning, stored with the load for the supervisor
    incomplete = reports["load"]["warnings"]["crawl_incomplete"]
    assert incomplete["warnings"] == ["links_skipped_depth"]
    assert incomplete["links_skipped"]["depth"] == 1


def test_numbered_pages_without_a_next_link_stop_at_the_empty_page(
    site: ShapeSite, tmp_path: Path
) -> None:
    frame, reports = run(PAGED_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "paged")
    assert sorted(frame["id"]) == [i for i, _ in PAGED]
    assert site.requests["/paged/"] == 8  # pages 1-7 and the empty page 8, nothing after


def test_numbered_pages_stop_when_no_new_items_appear(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_clamped", "start_urls": ["{base_url}/clamped/"],
        "levels": [{"name": "results", "cards": "div.row",
                    "pages": {"template": "?page={page}", "max": 50}}],
        "detail": {"key": "id", "fields": {
            "id": {"from": "card", "css": "::attr(id)", "required": True},
        }},
    }, site, tmp_path)  # fmt: skip
    # page 4 repeats page 3: its cards are not new, so the crawl stops there, and the repeated
    # cards are counted as duplicates, not loaded twice
    assert len(frame) == TRUTH["clamped"]
    assert site.requests["/clamped/"] == 4
    results = level(reports, "results")
    assert (results["cards_seen"], results["cards_duplicate"], results["records"]) == (14, 2, 12)
    assert reports["scrape"]["completeness"]["warnings"] == []


def test_a_sitemap_index_as_the_index_of_item_pages(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_sitemap",
        "sitemap": {"urls": ["{base_url}/sitemap.xml"], "follow": ["/item/"]},
        "detail": {"key": "id", "fields": {
            "id": {"from": "url", "regex": r"/item/(\d+)$", "required": True},
            "name": {"css": "h1"},
        }},
    }, site, tmp_path)  # fmt: skip
    assert_all_loaded(frame, reports, "sitemap")
    sitemap = level(reports, "sitemap")
    assert sitemap["links_seen"] == 9 and sitemap["skipped"]["not followed"] == 2  # /about x2


def test_start_urls_that_are_item_pages(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_items",
        "start_urls": [f"{{base_url}}/item/{n}" for n in range(1, 8)],
        "detail": {"key": "name", "fields": {
            "name": {"css": "h1", "required": True},
            "photo": {"css": "img.photo::attr(src)", "kind": "url"},
            "tags": {"xpath": "count(//ul[@class='tags']/li)", "kind": "int"},
            "description_length": {
                "xpath": "string-length(normalize-space(//p[@class='desc']))", "kind": "int"},
        }},
    }, site, tmp_path)  # fmt: skip
    assert_all_loaded(frame, reports, "items")
    rows = frame.set_index("name")
    for n in range(1, 8):
        row = rows.loc[item_name(str(n))]
        assert row["photo"] == f"{site.base_url}/img/{n}.jpg"  # made absolute
        assert row["tags"] == n
        assert row["description_length"] == len(" ".join(["word"] * n))


API_SPEC = {
    "name": "shape_api",
    "start_urls": ["{base_url}/api/products"],
    "levels": [{"name": "products", "cards": {"jmespath": "products"},
                "next_page": {"jmespath": "next"}}],
    "detail": {"key": "sku", "fields": {
        "sku": {"from": "card", "jmespath": "sku", "required": True},
        "title": {"from": "card", "jmespath": "title"},
        "price": {"from": "card", "jmespath": "price.amount", "kind": "number"},
        "currency": {"from": "card", "jmespath": "price.currency"},
    }},
}  # fmt: skip


def test_a_json_api_with_a_next_url(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run(API_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "api_products")
    rows = frame.set_index("sku")
    for product in API_PRODUCTS:
        assert rows.loc[product["sku"], "title"] == product["title"]
        assert rows.loc[product["sku"], "price"] == product["price"]["amount"]


def test_a_json_api_with_has_next(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_jobs",
        "start_urls": ["{base_url}/api/jobs?page=1"],
        "levels": [{"name": "jobs", "cards": {"jmespath": "data.jobs"},
                    "pages": {"template": "?page={page}",
                              "has_next": {"jmespath": "data.has_next"}}}],
        "detail": {"key": "id", "fields": {
            "id": {"from": "card", "jmespath": "id", "kind": "int", "required": True},
            "role": {"from": "card", "jmespath": "role"},
            "city": {"from": "card", "jmespath": "city"},
        }},
    }, site, tmp_path)  # fmt: skip
    assert_all_loaded(frame, reports, "api_jobs")
    assert sorted(frame["id"]) == [job["id"] for job in JOBS]
    assert site.requests["/api/jobs"] == 3  # has_next false on page 3: no page 4


def test_json_in_html_pages(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_ld",
        "start_urls": ["{base_url}/api/books/"],
        "levels": [{"name": "books", "links": "a.book"}],
        "detail": {"key": "id", "fields": {
            "id": {"css": "script#__DATA__::text", "jmespath": "props.book.id", "required": True},
            "pages": {"css": "script#__DATA__::text", "jmespath": "props.book.pages",
                      "kind": "int"},
            "name": {"metadata": "json-ld", "jmespath": "Book.name"},
            "price": {"metadata": "json-ld", "jmespath": "Book.offers.price", "kind": "number"},
            "author": {"metadata": "microdata", "jmespath": "Person.name"},
        }},
    }, site, tmp_path)  # fmt: skip
    assert_all_loaded(frame, reports, "ld")
    rows = frame.set_index("id")
    for ident, (name, price) in LD_ITEMS.items():
        assert rows.loc[ident, "name"] == name
        assert rows.loc[ident, "price"] == float(price)
        assert rows.loc[ident, "pages"] == 100 + len(name)
        assert rows.loc[ident, "author"] == f"Author of {name}"


def test_a_table_whose_rows_are_records(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run(TABLE_SPEC, site, tmp_path)
    assert_all_loaded(frame, reports, "table")
    rows = frame.set_index("country")
    for country, population, area in TABLE_ROWS:
        assert rows.loc[country, "population"] == int(population)
        assert rows.loc[country, "area"] == float(area)


def test_label_value_pairs(site: ShapeSite, tmp_path: Path) -> None:
    frame, reports = run({
        "name": "shape_books",
        "start_urls": ["{base_url}/books/"],
        "levels": [{"name": "books", "links": "h3 a"}],
        "detail": {"key": "upc", "fields": {
            "upc": {"label": "UPC", "required": True},
            "title": {"css": "h1"},
            "availability": {"label": "Availability"},
            "published": {"label": "Published", "kind": "date"},
        }},
    }, site, tmp_path)  # fmt: skip
    assert_all_loaded(frame, reports, "books")
    rows = frame.set_index("upc")
    for title, upc, stock, published in BOOKS.values():
        assert rows.loc[upc, "title"] == title
        assert rows.loc[upc, "availability"] == stock
        assert pd.Timestamp(rows.loc[upc, "published"]) == pd.Timestamp(published)
