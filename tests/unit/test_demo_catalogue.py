"""The catalogue demo source: determinism, daily changes, formats, latin-1, truth against HTML."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
import statistics
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from parsel import Selector

from harvest_demo import (
    CatalogueConfig,
    SiteApp,
    SiteConfig,
    catalogue_changes,
    catalogue_for_day,
    catalogue_truth,
    find_product,
)
from harvest_demo.__main__ import main as cli_main
from harvest_demo.catalogue import category_products
from harvest_demo.catalogue_kinds import (
    CATEGORIES,
    JOB_CITIES,
    RATING_WORDS,
    format_price,
    format_range,
)
from harvest_demo.catalogue_pages import render_list, render_product, route
from harvest_demo.catalogue_truth import CATALOGUE_TRUTH_COLUMNS, DEFAULT_BASE_URL

DAY = dt.date(2026, 11, 26)
CONFIG = CatalogueConfig(seed=5)
MONTH = [DAY + dt.timedelta(days=k) for k in range(60)]


# --- what a spec would extract: plain selectors, written independently of the renderer ------


def page_text(body: bytes, content_type: str) -> str:
    """The page decoded with the charset its Content-Type names."""
    charset = content_type.partition("charset=")[2] or "utf-8"
    return body.decode(charset)


def parse_cards(text: str, page_url: str) -> list[dict[str, Any]]:
    """Every product card of a category list page: id (from the link), rating, badge, price."""
    cards = []
    for card in Selector(text=text).css("article.product_pod"):
        classes = (card.css("p.star-rating::attr(class)").get() or "").split()
        words = [c for c in classes if c in RATING_WORDS]
        url = urljoin(page_url, card.css("h3 a::attr(href)").get())
        cards.append(
            {
                "product_id": re.fullmatch(r".*/catalogue/p/(\d+)", url).group(1),  # type: ignore[union-attr]
                "url": url,
                "title": card.css("h3 a::attr(title)").get(),
                "rating": RATING_WORDS.index(words[0]) + 1 if words else None,
                "badge": card.css("span.badge::text").get(),
                "price_text": card.css("p.price_color::text").get(),
            }
        )
    return cards


def parse_product(text: str) -> dict[str, Any]:
    """The fields of a product page, each the whole text of its element, whitespace-collapsed."""
    page = Selector(text=text)

    def whole(css: str) -> str | None:
        parts = page.css(css).xpath("string()").getall()
        return " ".join(parts[0].split()) if parts else None

    return {
        "title": whole("article.product_page h1"),
        "category": page.css("ul.breadcrumb li a::text").getall()[1],
        "price_text": whole("p.price_color"),
        "availability_text": whole("p.availability"),
        "published_text": whole("p.published"),
        "tags": page.css("ul.tags li::text").getall(),
        "city": whole("p.location"),
    }


_NUMBER = {
    "£": ("GBP", ",", "."),
    "$": ("USD", ",", "."),
    "€": ("EUR", ".", ","),
}


def reference_price(text: str) -> tuple[str, Decimal | None, Decimal | None, Decimal | None]:
    """(currency, price, price_min, price_max) of a catalogue price text, by regular expressions
    written for the five formats (a check of the renderer, not a general parser)."""

    def amount(number: str, thousands: str, decimal: str) -> Decimal:
        return Decimal(number.replace(thousands, "").replace(decimal, "."))

    if m := re.fullmatch(r"\$(\d+(?:\.\d)?)k", text):
        return "USD", Decimal(m.group(1)) * 1000, None, None
    if m := re.fullmatch(r"([£$])([\d,]+(?:\.\d\d)?) - [£$]([\d,]+(?:\.\d\d)?) an? \w+", text):
        currency, thousands, decimal = _NUMBER[m.group(1)]
        low, high = (amount(m.group(k), thousands, decimal) for k in (2, 3))
        return currency, None, low, high
    if m := re.fullmatch(r"([\d.]+(?:,\d\d)?) € - ([\d.]+(?:,\d\d)?) € an? \w+", text):
        return "EUR", None, amount(m.group(1), ".", ","), amount(m.group(2), ".", ",")
    if m := re.fullmatch(r"([£$])([\d,]+\.\d\d)", text):
        currency, thousands, decimal = _NUMBER[m.group(1)]
        return currency, amount(m.group(2), thousands, decimal), None, None
    if m := re.fullmatch(r"([\d.]+,\d\d) €", text):
        return "EUR", amount(m.group(1), ".", ","), None, None
    raise AssertionError(f"not a catalogue price format: {text!r}")


# --- generation ------------------------------------------------------------------------------


def test_a_day_is_a_function_of_the_seed_and_the_day_alone() -> None:
    first = catalogue_for_day(CONFIG, DAY)
    html = render_product(CONFIG, DAY, first[0].product_id).body
    catalogue_for_day.cache_clear()
    render_product.cache_clear()
    for day in reversed(MONTH[:5]):  # other days first, in reverse: nothing carries over
        catalogue_for_day(CONFIG, day)
    again = catalogue_for_day(CatalogueConfig(seed=5), DAY)
    assert again == first and again is not first
    assert render_product(CONFIG, DAY, first[0].product_id).body == html
    other = {p.product_id for p in catalogue_for_day(CatalogueConfig(seed=6), DAY)}
    assert not other & {p.product_id for p in first}


def test_ids_are_fifteen_digits_unique_and_only_in_the_url() -> None:
    products = catalogue_for_day(CONFIG, DAY)
    ids = [p.product_id for p in products]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[1-9]\d{14}", i) for i in ids)
    for product in products[:40]:
        page = render_product(CONFIG, DAY, product.product_id)
        text = page_text(page.body, page.content_type)
        assert product.product_id not in text


def test_each_day_a_few_products_appear_disappear_and_change_price() -> None:
    per_day: dict[str, list[int]] = {"appeared": [], "disappeared": [], "changed": []}
    visible = []
    for before, after in itertools.pairwise(MONTH):
        kinds = Counter(change.kind for change in catalogue_changes(CONFIG, before, after))
        for kind, counts in per_day.items():
            counts.append(kinds[kind])
        visible.append(len(catalogue_for_day(CONFIG, after)))
    # 400 slots, lifetimes 60-240 days, gaps 2-14 days, price epochs 30-120 days
    assert 1.5 <= statistics.mean(per_day["appeared"]) <= 5
    assert 1.5 <= statistics.mean(per_day["disappeared"]) <= 5
    assert 2.5 <= statistics.mean(per_day["changed"]) <= 9
    assert max(max(c) for c in per_day.values()) <= 20  # a few, never a landslide
    assert all(0.9 * 400 <= n <= 0.98 * 400 for n in visible)


def test_every_price_change_changes_the_shown_price() -> None:
    seen = 0
    for before, after in itertools.pairwise(MONTH):
        for change in catalogue_changes(CONFIG, before, after):
            if change.kind != "changed":
                continue
            assert change.before is not None and change.after is not None
            assert change.before.price_text != change.after.price_text
            assert change.before.title == change.after.title
            assert change.before.published_on == change.after.published_on
            assert change.after.changed_on > before
            seen += 1
    assert seen > 100


def test_changes_turn_one_day_into_the_other() -> None:
    before, after = DAY, DAY + dt.timedelta(days=9)
    old = {p.product_id: p for p in catalogue_for_day(CONFIG, before)}
    new = {p.product_id: p for p in catalogue_for_day(CONFIG, after)}
    changes = catalogue_changes(CONFIG, before, after)
    appeared = {c.product_id for c in changes if c.kind == "appeared"}
    disappeared = {c.product_id for c in changes if c.kind == "disappeared"}
    changed = {c.product_id for c in changes if c.kind == "changed"}
    assert new.keys() == (old.keys() - disappeared) | appeared
    unchanged = old.keys() & new.keys() - changed
    assert unchanged and all(old[k] == new[k] for k in unchanged)
    assert all(old[k] != new[k] for k in changed)
    assert all(new[k].appeared_on > before for k in appeared)


def test_some_products_come_back_under_the_same_id() -> None:
    returned = []
    days = [DAY + dt.timedelta(days=k) for k in range(0, 240, 2)]
    for before, after in itertools.pairwise(days):
        for change in catalogue_changes(CONFIG, before, after):
            if change.kind == "appeared" and change.after.published_on < before:  # type: ignore[union-attr]
                returned.append(change.after)
    assert returned
    assert all(p is not None and p.appeared_on > p.published_on for p in returned)


def test_find_product_only_finds_what_is_visible_that_day() -> None:
    gone = next(c for c in catalogue_changes(CONFIG, DAY, MONTH[5]) if c.kind == "disappeared")
    assert find_product(CONFIG, DAY, gone.product_id) == gone.before
    assert find_product(CONFIG, MONTH[5], gone.product_id) is None
    assert render_product(CONFIG, MONTH[5], gone.product_id).status == 404
    assert find_product(CONFIG, DAY, "123") is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"products": 0}, "products"),
        ({"page_size": 0}, "page_size"),
        ({"price_days": (9, 3)}, "price_days"),
        ({"gap_days": (2, 80)}, "gap_days"),
        ({"return_fraction": 1.5}, "return_fraction"),
    ],
)
def test_bad_config_is_refused_with_the_field_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"CatalogueConfig.{field}"):
        CatalogueConfig(**kwargs)


# --- formats ---------------------------------------------------------------------------------


def test_prices_come_in_every_promised_format() -> None:
    texts = {p.price_text for day in MONTH[:3] for p in catalogue_for_day(CONFIG, day)}
    patterns = {
        "£51.77": r"£\d+\.\d\d",
        "$849.99": r"\$\d+\.\d\d",
        "$1.2k": r"\$\d+(\.\d)?k",
        "1.299,00 €": r"\d\.\d{3},\d\d €",
        "49,90 €": r"\d{2,3},\d\d €",
        "$50,000 - $70,000 a year": r"\$\d+,000 - \$\d+,000 a year",
        "3.500 € - 4.200 € a month": r"\d\.\d00 € - \d\.\d00 € a month",
        "£18.50 - £22.00 an hour": r"£\d+\.\d0 - £\d+\.\d0 an hour",
        "13,50 € - 15,00 € an hour": r"\d+,\d0 € - \d+,\d0 € an hour",
    }
    for example, pattern in patterns.items():
        assert re.fullmatch(pattern, example), pattern
        assert any(re.fullmatch(pattern, t) for t in texts), f"no price like {example}"


def test_every_price_text_states_the_truth_amounts() -> None:
    for row in catalogue_truth(CONFIG, DAY):
        currency, price, low, high = reference_price(row["price_text"])
        assert (currency, price, low, high) == (
            row["price_currency"],
            row["price"],
            row["price_min"],
            row["price_max"],
        ), row
        assert (row["price_period"] is None) == (low is None)


def test_format_helpers() -> None:
    assert format_price(5177, "gbp") == "£51.77"
    assert format_price(120_000, "usd_k") == "$1.2k"
    assert format_price(200_000, "usd_k") == "$2k"
    assert format_price(129_900, "eur_de") == "1.299,00 €"
    assert format_range(5_000_000, 7_000_000, "usd_range", "year") == "$50,000 - $70,000 a year"
    assert format_range(1850, 2200, "gbp_range", "hour") == "£18.50 - £22.00 an hour"
    with pytest.raises(ValueError, match="unknown price style 'yen'"):
        format_price(1, "yen")


# --- pages against the truth -----------------------------------------------------------------


def _list_pages(app: SiteApp, start: str) -> list[tuple[str, str]]:
    """(URL, text) of a category list's pages, following ``li.next a`` like a crawler."""
    pages = []
    url: str | None = start
    while url:
        split = urlsplit(url)
        response = app.handle("GET", split.path + (f"?{split.query}" if split.query else ""))
        assert response.status == 200, url
        text = page_text(response.body, response.content_type)
        pages.append((url, text))
        href = Selector(text=text).css("li.next a::attr(href)").get()
        url = urljoin(url, quote(href, safe="?=&/", encoding="latin-1")) if href else None
    return pages


def _crawl_cards(app: SiteApp) -> list[dict[str, Any]]:
    home = app.handle("GET", "/catalogue/")
    base = DEFAULT_BASE_URL + "/catalogue/"
    links = Selector(text=page_text(home.body, home.content_type)).css("ul.categories a")
    cards = []
    for link in links:
        # what Scrapy's response.follow does: the URL in the linking page's encoding
        href = quote(link.attrib["href"], safe="?=&/", encoding="latin-1")
        for url, text in _list_pages(app, urljoin(base, href)):
            cards += parse_cards(text, url)
    return cards


def test_the_list_cards_show_every_visible_product_once_with_the_truth() -> None:
    app = SiteApp(SiteConfig(seed=5), day=DAY)
    truth = {row["product_id"]: row for row in catalogue_truth(CONFIG, DAY)}
    cards = _crawl_cards(app)
    assert len(cards) == len(truth) == len({c["product_id"] for c in cards})
    for card in cards:
        row = truth[card["product_id"]]
        assert card["url"] == row["url"]
        assert (card["title"], card["price_text"]) == (row["title"], row["price_text"])
        assert (card["rating"], card["badge"]) == (row["rating"], row["badge"])
    assert {c["rating"] for c in cards} == {None, 1, 2, 3, 4, 5}
    assert sum(c["badge"] is not None for c in cards) > 0.2 * len(cards)


def test_each_product_page_shows_its_truth() -> None:
    rows = catalogue_truth(CONFIG, DAY)
    for row in rows:
        page = route(CONFIG, DAY, urlsplit(row["url"]).path, "", DEFAULT_BASE_URL)
        assert page.content_type == f"text/html; charset={row['encoding']}"
        shown = parse_product(page_text(page.body, page.content_type))
        expected_stock = (
            None
            if row["availability"] is None
            else "Out of stock"
            if row["availability"] == 0
            else f"In stock ({row['availability']} available)"
        )
        assert shown == {
            "title": row["title"],
            "category": row["category"],
            "price_text": row["price_text"],
            "availability_text": expected_stock,
            "published_text": f"Published on {row['published_on']:%-d %B %Y}",
            "tags": row["tags"].split(";"),
            "city": row["city"],
        }, row["url"]
        assert row["published_on"] <= DAY
    stock = Counter(row["availability"] == 0 for row in rows if row["availability"] is not None)
    assert stock[True] and stock[False] > stock[True]
    assert any(len(row["tags"].split(";")) > 1 for row in rows)


def test_card_titles_are_cut_and_rating_and_badge_are_only_on_the_card() -> None:
    product = next(p for p in catalogue_for_day(CONFIG, DAY) if len(p.title) > 30 and p.badge)
    in_list = category_products(CONFIG, DAY, product.category, product.city)
    page = render_list(
        CONFIG, DAY, product.category, product.city, 1 + in_list.index(product) // CONFIG.page_size
    )
    cards = Selector(text=page_text(page.body, page.content_type)).css("article.product_pod")
    card = next(c for c in cards if c.css("h3 a::attr(href)").get().endswith(product.product_id))
    assert card.css("h3 a::attr(title)").get() == product.title
    assert card.css("h3 a::text").get() == product.title[:27] + "..."
    assert card.css("span.badge::text").get() == product.badge
    detail = render_product(CONFIG, DAY, product.product_id)
    text = page_text(detail.body, detail.content_type)
    assert "star-rating" not in text and product.badge not in text


# --- latin-1 ---------------------------------------------------------------------------------


def test_home_and_jobs_are_latin1_and_the_city_query_must_be_sent_in_latin1() -> None:
    app = SiteApp(SiteConfig(seed=5), day=DAY)
    home = app.handle("GET", "/catalogue/")
    assert home.content_type == "text/html; charset=iso-8859-1"
    assert b'href="category/jobs/?stadt=M\xfcnchen"' in home.body
    assert b'<meta charset="iso-8859-1">' in home.body
    latin1 = app.handle("GET", "/catalogue/category/jobs/?stadt=M%FCnchen")
    utf8 = app.handle("GET", "/catalogue/category/jobs/?stadt=M%C3%BCnchen")
    assert latin1.status == 200 and latin1.content_type.endswith("iso-8859-1")
    assert utf8.status == 404
    assert "queries are read as ISO-8859-1" in utf8.body.decode()
    assert app.handle("GET", "/catalogue/category/jobs/").status == 404
    jobs = [p for p in catalogue_for_day(CONFIG, DAY) if p.category.slug == "jobs"]
    assert {p.city for p in jobs} == set(JOB_CITIES)
    euro_job = next(p for p in jobs if p.currency == "EUR")
    page = app.handle("GET", euro_job.path)
    assert page.content_type.endswith("iso-8859-1")
    assert b"&#8364;" in page.body and "€".encode() not in page.body  # € is not in latin-1
    books = app.handle("GET", "/catalogue/category/books/")
    assert books.content_type == "text/html; charset=utf-8"


def test_category_lists_paginate_and_refuse_pages_beyond_the_last() -> None:
    books = next(c for c in CATEGORIES if c.slug == "books")
    n = len(category_products(CONFIG, DAY, books))
    pages = -(-n // CONFIG.page_size)
    assert pages > 3
    assert render_list(CONFIG, DAY, books, None, pages).status == 200
    assert render_list(CONFIG, DAY, books, None, pages + 1).status == 404
    assert render_list(CONFIG, DAY, books, None, 0).status == 404
    last = Selector(text=render_list(CONFIG, DAY, books, None, pages).body.decode())
    assert not last.css("li.next") and last.css("li.previous a::attr(href)").get() == (
        f"?page={pages - 1}"
    )


# --- the server: the day it serves, robots.txt, sitemap --------------------------------------


def test_the_site_serves_its_pinned_day_and_can_be_moved() -> None:
    app = SiteApp(SiteConfig(seed=5), day=DAY)
    gone = next(c for c in catalogue_changes(CONFIG, DAY, MONTH[5]) if c.kind == "disappeared")
    assert app.handle("GET", f"/catalogue/p/{gone.product_id}").status == 200
    moved = app.handle("POST", "/_control/day", json.dumps({"date": str(MONTH[5])}).encode())
    assert json.loads(moved.body) == {"date": str(MONTH[5]), "pinned": True}
    assert app.handle("GET", f"/catalogue/p/{gone.product_id}").status == 404
    app.set_day(DAY)
    assert app.handle("GET", f"/catalogue/p/{gone.product_id}").status == 200
    bad = app.handle("POST", "/_control/day", b'{"date": "26.11.2026"}')
    assert bad.status == 400 and "YYYY-MM-DD" in json.loads(bad.body)["error"]
    clock = SiteApp(SiteConfig(seed=5), today=lambda: MONTH[5])
    assert json.loads(clock.handle("GET", "/_control/day").body) == {
        "date": str(MONTH[5]),
        "pinned": False,
    }


def test_sitemap_lists_every_visible_product_page_with_the_host_asked_for() -> None:
    app = SiteApp(SiteConfig(seed=5), day=DAY)
    robots = app.handle("GET", "/robots.txt", host="shop.test:8123").body.decode()
    assert "Disallow: /catalogue/basket/\n" in robots
    assert "Sitemap: http://shop.test:8123/catalogue/sitemap.xml\n" in robots
    sitemap = app.handle("GET", "/catalogue/sitemap.xml", host="shop.test:8123")
    assert sitemap.content_type.startswith("application/xml")
    xml = Selector(text=sitemap.body.decode(), type="xml")
    xml.register_namespace("s", "http://www.sitemaps.org/schemas/sitemap/0.9")
    locs = xml.xpath("//s:url/s:loc/text()").getall()
    truth = catalogue_truth(CONFIG, DAY, "http://shop.test:8123")
    assert locs == [row["url"] for row in truth]
    assert xml.xpath("//s:url/s:lastmod/text()").getall() == [
        str(row["changed_on"]) for row in truth
    ]


def test_catalogue_routes_and_404s() -> None:
    app = SiteApp(SiteConfig(seed=5), day=DAY)
    redirect = app.handle("GET", "/catalogue")
    assert redirect.status == 301 and ("Location", "/catalogue/") in redirect.headers
    assert app.handle("GET", "/catalogue/basket/add?product=1").status == 200
    for missing in (
        "/catalogue/category/toys/",
        "/catalogue/category/books/?page=x",
        "/catalogue/p/999",
        "/catalogue/nowhere",
    ):
        response = app.handle("GET", missing)
        assert response.status == 404, missing
    assert (
        "categories: books, electronics"
        in app.handle("GET", "/catalogue/category/toys/").body.decode()
    )


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_writes_the_catalogue_truth_csv(tmp_path: Path) -> None:
    out = tmp_path / "truth.csv"
    args = ["truth", "--site", "catalogue", "--date", str(DAY), "--seed", "5", "--out", str(out)]
    assert cli_main(args) == 0
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    truth = catalogue_truth(CONFIG, DAY)
    assert tuple(rows[0]) == CATALOGUE_TRUTH_COLUMNS
    assert [r["product_id"] for r in rows] == [t["product_id"] for t in truth]
    book = next(r for r in rows if r["category"] == "Books")
    assert re.fullmatch(r"\d+\.\d\d", book["price"]) and book["price_currency"] == "GBP"
    assert book["price_min"] == "" and book["city"] == ""
    job = next(r for r in rows if r["category"] == "Jobs")
    assert job["price"] == "" and job["price_period"] in ("year", "month", "hour")
    assert Decimal(job["price_min"]) < Decimal(job["price_max"])
    assert job["encoding"] == "iso-8859-1" and job["city"] in JOB_CITIES
