"""Of two cards of one item that carry different card values, the record keeps the values of the
card first in (level, list page URL, position) order, whatever order the crawl met them in.

The spider is driven by hand on small pages, its requests answered in several orders (first
asked first, last asked first, by URL backwards), the way a Scrapy crawl and a cache replay can
differ; each order's pages become raw documents and records as the pipeline and the validate
stage make them, and every order must give the same records and the same counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from harvest.config.spec import SourceSpec
from harvest.crawler.completeness import account_from_stats, regex_unmatched
from harvest.crawler.items import PageItem
from harvest.crawler.pipelines import to_raw_document
from harvest.crawler.spiders import GenericSpider
from harvest.partitions import Partition
from harvest.records import extract_records

DAY = dt.date(2026, 3, 1)
BASE = "http://cards.test"


def _cards(*cards: tuple[str, str]) -> str:
    return "".join(
        f'<div class="product"><a href="/item/{ident}">{label}</a></div>' for ident, label in cards
    )


# x is carded in two categories with two labels; b/ is listed first, a/ comes first by URL
SHOP = {
    "/shop/": '<a class="cat" href="/shop/b/">b</a><a class="cat" href="/shop/a/">a</a>',
    "/shop/a/": _cards(("y", "y"), ("x", "x as carded in a")),
    "/shop/b/": _cards(("x", "x as carded in b"), ("z", "z")),
    **{f"/item/{i}": f'<p class="price">{n} EUR</p>' for n, i in enumerate("xyz", start=10)},
}
SHOP_SPEC = {
    "name": "cards_shop", "start_urls": ["{base_url}/shop/"],
    "levels": [{"name": "categories", "links": "a.cat"},
               {"name": "lists", "cards": "div.product", "links": "a"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "url", "regex": r"/item/(\w+)$", "required": True},
        "label": {"from": "card", "css": "a::text"},
        "price": {"css": "p.price"},
    }},
}  # fmt: skip

# quotes keyed on the card: q1 is on both pages with two texts; q0 and q1 share the author page
QUOTES = {
    "/quotes/": '<a class="page" href="/quotes/2">2</a><a class="page" href="/quotes/1">1</a>',
    "/quotes/1": '<div class="quote" data-id="q0"><span>zero</span><a href="/author/a">a</a></div>'
    '<div class="quote" data-id="q1"><span>one, first</span><a href="/author/a">a</a></div>',
    "/quotes/2": '<div class="quote" data-id="q1"><span>one, again</span><a href="/author/a">a</a>'
    "</div>",
    "/author/a": '<h2 class="name">A. Author</h2>',
}
QUOTES_SPEC = {
    "name": "cards_quotes", "start_urls": ["{base_url}/quotes/"],
    "levels": [{"name": "pages", "links": "a.page"},
               {"name": "quotes", "cards": "div.quote", "links": "a"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "card", "css": "::attr(data-id)", "required": True},
        "text": {"from": "card", "css": "span"},
        "author": {"css": "h2.name"},
    }},
}  # fmt: skip

# cards that are the items (no item page): r1 is a row of both lists, with two labels
ROWS = {
    "/rows/": '<a class="cat" href="/rows/b/">b</a><a class="cat" href="/rows/a/">a</a>',
    "/rows/a/": '<p class="row" id="r2">two</p><p class="row" id="r1">r1 as listed in a</p>',
    "/rows/b/": '<p class="row" id="r1">r1 as listed in b</p><p class="row" id="r3">three</p>',
}
ROWS_SPEC = {
    "name": "cards_rows", "start_urls": ["{base_url}/rows/"],
    "levels": [{"name": "categories", "links": "a.cat"}, {"name": "rows", "cards": "p.row"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "card", "css": "::attr(id)", "required": True},
        "label": {"from": "card", "css": "::text"},
    }},
}  # fmt: skip

Pick = Callable[[list[Any]], int]
ORDERS: dict[str, Pick] = {
    "first asked first": lambda pending: 0,
    "last asked first": lambda pending: len(pending) - 1,
    "by URL backwards": lambda pending: max(range(len(pending)), key=lambda i: pending[i].url),
    "by URL": lambda pending: min(range(len(pending)), key=lambda i: pending[i].url),
}


def crawl(raw: dict[str, Any], site: dict[str, str], pick: Pick) -> tuple[Any, dict[str, Any]]:
    """The records of ``spec`` on ``site`` with requests answered in ``pick``'s order, and the
    last level's completeness account."""
    records, account, _ = crawl_stats(raw, site, pick)
    return records, account


def crawl_stats(
    raw: dict[str, Any], site: dict[str, str], pick: Pick
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """:func:`crawl`, and the crawl's stats."""
    spec = SourceSpec.model_validate({"base_url": BASE, **raw})
    crawler = get_crawler(GenericSpider, {"HARVEST_SOURCE": spec.name})
    spider = GenericSpider.from_crawler(crawler, spec=spec, logical_date=DAY, base_url=BASE)

    async def first() -> list[Any]:
        return [request async for request in spider.start()]

    pending, asked, items = asyncio.run(first()), set(), []
    while pending:
        request = pending.pop(pick(pending))
        if request.url in asked:
            continue
        asked.add(request.url)
        body = site[urlsplit(request.url).path].encode()
        response = HtmlResponse(request.url, body=body, encoding="utf-8", request=request)
        for out in request.callback(response, **request.cb_kwargs):
            (items if isinstance(out, PageItem) else pending).append(out)
    partition = Partition.of(spec.name, DAY)
    docs = sorted((to_raw_document(item, partition) for item in items), key=lambda d: d.url)
    records = extract_records(docs, spec).drop(columns="url").sort_values(spec.detail.key)
    stats = crawler.stats.get_stats()
    return records.reset_index(drop=True), account_from_stats(stats)[-1], stats


@pytest.mark.parametrize(
    ("raw", "site", "cards"),
    [(SHOP_SPEC, SHOP, 4), (QUOTES_SPEC, QUOTES, 3), (ROWS_SPEC, ROWS, 4)],
    ids=["shop", "quotes", "rows"],
)
def test_every_crawl_order_keeps_the_values_of_the_first_card(
    raw: dict[str, Any], site: dict[str, str], cards: int
) -> None:
    results = {name: crawl(raw, site, pick) for name, pick in ORDERS.items()}
    records, _ = results["first asked first"]
    for name, (other, account) in results.items():
        assert other.to_dict("records") == records.to_dict("records"), name
        assert (account["cards_seen"], account["cards_duplicate"]) == (cards, 1), name
        assert account["records"] == len(records) == cards - 1, name
    if raw is SHOP_SPEC:  # /shop/a/ comes before /shop/b/, whichever was crawled first
        assert records.set_index("id")["label"].to_dict() == {
            "x": "x as carded in a", "y": "y", "z": "z"
        }  # fmt: skip
        assert records.set_index("id").loc["x", "price"] == "10 EUR"
    elif raw is ROWS_SPEC:
        assert records.set_index("id")["label"].to_dict() == {
            "r1": "r1 as listed in a", "r2": "two", "r3": "three"
        }  # fmt: skip
    else:  # /quotes/1 comes before /quotes/2
        assert records.set_index("id")["text"].to_dict() == {
            "q0": "zero", "q1": "one, first"
        }  # fmt: skip
        assert set(records["author"]) == {"A. Author"}


def test_a_card_met_after_its_item_page_was_stored_still_wins_when_it_comes_first() -> None:
    # b/ first, then x's page, then a/: the record is stored with b/'s values, and a/'s card
    # (first by URL) is stored with a/'s page as an earlier card of that record
    order = ["/shop/", "/shop/b/", "/item/x", "/item/z", "/shop/a/", "/item/y"]

    def pick(pending: list[Any]) -> int:
        return min(range(len(pending)), key=lambda i: order.index(urlsplit(pending[i].url).path))

    records, account = crawl(SHOP_SPEC, SHOP, pick)
    assert records.set_index("id").loc["x", "label"] == "x as carded in a"
    assert (account["cards_duplicate"], account["records"]) == (1, 3)


def _stable(
    labels: dict[str, tuple[str, str]], items: dict[str, tuple[str, int]]
) -> dict[str, str]:
    """A shop whose item URLs are stable (``/p/<slot>``) while the item at a URL changes: its
    key (the SKU) and price are on the item page; ``labels``: list page -> (slot, card text)s."""
    return {
        "/shop/": '<a class="cat" href="/shop/b/">b</a><a class="cat" href="/shop/a/">a</a>',
        **{
            f"/shop/{name}/": "".join(
                f'<div class="product"><a href="/p/{slot}">{text}</a></div>' for slot, text in cards
            )
            for name, cards in labels.items()
        },
        **{f"/p/{slot}": f'<h1>{sku}</h1><p class="price">{price} EUR</p>'
           for slot, (sku, price) in items.items()},
    }  # fmt: skip


STABLE_SPEC = {
    "name": "cards_stable", "start_urls": ["{base_url}/shop/"],
    "levels": [{"name": "categories", "links": "a.cat"},
               {"name": "lists", "cards": "div.product", "links": "a"}],
    "detail": {"key": "sku", "fields": {
        "sku": {"css": "h1", "required": True},
        "label": {"from": "card", "css": "a::text", "regex": r"^(\w+) as carded"},
        "price": {"css": "p.price"},
    }},
}  # fmt: skip
# slot 1 holds a lamp on the first night and a sofa on the second; b/ cards it without the
# words the label's regex asks for (a regex miss), and a/ comes first by URL
NIGHTS = {
    "lamp": _stable(
        {"a": [("1", "Lamp as carded in a"), ("2", "Chair as carded in a")],
         "b": [("1", "lamp, carded in b"), ("3", "Desk as carded in b")]},
        {"1": ("SKU-100", 10), "2": ("SKU-2", 20), "3": ("SKU-3", 30)},
    ),
    "sofa": _stable(
        {"a": [("1", "Sofa as carded in a"), ("2", "Chair as carded in a")],
         "b": [("1", "sofa, carded in b"), ("3", "Desk")]},
        {"1": ("SKU-200", 99), "2": ("SKU-2", 20), "3": ("SKU-3", 30)},
    ),
}  # fmt: skip


@pytest.mark.parametrize("night", list(NIGHTS))
def test_a_stable_url_source_keeps_the_first_card_and_counts_regex_misses_in_any_order(
    night: str,
) -> None:
    """Item URLs that stay while the item behind them changes (a catalogue's slots): whatever
    the crawl order, the record of the item at ``/p/1`` that night keeps the first card's label
    (``/shop/a/``), the cards seen twice are counted once as duplicates, and the regex misses
    are counted alike with the same example (the least list page URL, then text)."""
    results = {name: crawl_stats(STABLE_SPEC, NIGHTS[night], pick) for name, pick in ORDERS.items()}
    records, _, stats = results["first asked first"]
    misses = regex_unmatched(stats)
    for name, (other, account, other_stats) in results.items():
        assert other.to_dict("records") == records.to_dict("records"), name
        assert (account["cards_seen"], account["cards_duplicate"], account["records"]) == (
            4, 1, 3,
        ), name  # fmt: skip
        assert regex_unmatched(other_stats) == misses, name
    by_sku = records.set_index("sku")
    if night == "lamp":
        assert by_sku.loc["SKU-100", ["label", "price"]].tolist() == ["Lamp", "10 EUR"]
        assert misses == {
            "label": {"count": 1, "url": f"{BASE}/shop/b/", "text": "lamp, carded in b"}
        }
    else:  # the same URL, another item: its own record, the first card's label of that night
        assert "SKU-100" not in by_sku.index
        assert by_sku.loc["SKU-200", ["label", "price"]].tolist() == ["Sofa", "99 EUR"]
        assert pd.isna(by_sku.loc["SKU-3", "label"])  # "Desk": the regex missed it
        assert misses == {"label": {"count": 2, "url": f"{BASE}/shop/b/", "text": "Desk"}}
