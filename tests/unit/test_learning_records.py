"""``harvest init`` on list pages whose cards or table rows are the records (no item links),
and the kind of text that numbers its items (issue 24). Small HTML, no network."""

from __future__ import annotations

import datetime as dt

from harvest.learning.cardrecords import draft_records, find_cards, records_structure
from harvest.learning.draft import draft_source
from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import SamplePage
from harvest.learning.listpage import find_structure

URL = "http://shop.test/paged/"
TODAY = dt.date(2026, 12, 7)
ROWS = "".join(f'<div class="row" id="p{n:02d}"><b>Paged item {n}</b></div>' for n in range(1, 6))
PAGED = f"<html><body><nav><a href='/'>Home</a></nav>{ROWS}</body></html>"
TABLE = (
    "<html><body><table class='wikitable'><thead><tr><th>Country</th><th>Population</th>"
    "<th>Area (km2)</th></tr></thead><tbody>"
    + "".join(
        f"<tr><td>Country {c}</td><td>{1000 + 37 * k}</td><td>{k * 1.5:.1f}</td></tr>"
        for k, c in enumerate("ABCD", 1)
    )
    + "</tbody></table></body></html>"
)


def test_cards_without_item_links_are_drafted_as_records() -> None:
    assert find_structure(URL, PAGED) is None  # no item links: no list of item pages
    structure = records_structure(URL, PAGED)
    assert structure is not None and (structure.cards, structure.links) == ("div.row", None)
    draft = draft_records(URL, PAGED, structure, today=TODAY)
    level = draft.spec.levels[0]
    assert (level.cards.css if level.cards else None, level.links) == ("div.row", None)
    fields = draft.spec.detail.fields
    assert draft.spec.detail.key == "id"
    assert {n: (f.from_, f.kind) for n, f in fields.items()} == {
        "id": ("card", "text"),
        "title": ("card", "text"),  # <b>, nothing names it: bold text is the title; "Paged item
        # 1..5": numbered names stay text
    }
    records = [(d.values[0], d.values[-1]) for d in draft.fields]
    assert records == [("p01", "p05"), ("Paged item 1", "Paged item 5")]


def test_table_rows_are_drafted_by_their_column_headers() -> None:
    structure = records_structure("http://wiki.test/table/", TABLE)
    assert structure is not None and structure.cards == "tbody > tr"
    draft = draft_records("http://wiki.test/table/", TABLE, structure, today=TODAY)
    fields = draft.spec.detail.fields
    assert draft.spec.detail.key == "country"
    assert {n: (f.header, f.kind) for n, f in fields.items()} == {
        "country": ("Country", "text"),
        "population": ("Population", "int"),
        "area_km2": ("Area (km2)", "number"),
    }
    assert [f.values[1] for f in draft.fields] == ["Country B", "1074", "3.0"]


def test_repeated_chrome_is_no_record() -> None:
    menu = "<html><body>" + "<p class='x'>Same</p>" * 5 + "</body></html>"
    assert find_cards(menu) is None
    assert find_cards("<html><body><div><p>one</p><p>two</p></div></body></html>") is None


def test_an_item_pages_details_are_no_records() -> None:
    rows = "".join(f"<tr><th>Label {n}</th><td>{n}</td></tr>" for n in range(5))
    assert find_cards(f"<html><body><table>{rows}</table></body></html>") is None
    facts = "".join(f"<li>Fact {n}</li>" for n in range(3))
    text = "<p>" + "A long description of the item. " * 10 + "</p>"
    assert find_cards(f"<html><body><h1>Item</h1>{text}<ul>{facts}</ul></body></html>") is None


def test_a_number_that_counts_the_items_is_text_a_count_is_int() -> None:
    assert guess_kind([f"Quote number {n}." for n in range(1, 11)]).kind == "text"
    assert guess_kind([f"Item {n}" for n in (1, 31, 61, 91)]).kind == "text"
    stock = guess_kind(
        ["In stock (22 available)", "In stock (20 available)", "In stock (4 available)"]
    )
    assert (stock.kind, stock.options) == ("int", {"regex": r"In stock \((\d+) available\)"})
    counts = ["In stock (3 available)", "In stock (8 available)", "In stock (5 available)"]
    assert guess_kind(counts).kind == "int"


def test_cards_sharing_an_item_page_are_keyed_by_their_own_id() -> None:
    authors = ["ada", "alan", "grace"]
    cards = "".join(
        f'<div class="quote" data-id="q{n:02d}"><span class="text">Quote number {n}.</span>'
        f'<a class="author" href="/author/{authors[n % 3]}">{authors[n % 3]}</a></div>'
        for n in range(1, 10)
    )
    list_page = SamplePage("http://quotes.test/", f"<html><body>{cards}</body></html>")
    structure = find_structure(list_page.url, list_page.html)
    assert structure is not None and structure.cards == "div.quote"
    pages = [
        SamplePage(f"http://quotes.test/author/{a}", f"<html><body><h2 class='name'>{a.title()}"
                   f" Lovelace</h2><span class='born'>18{n}5-12-10</span></body></html>")
        for n, a in enumerate(authors)
    ]  # fmt: skip
    draft = draft_source(list_page.url, structure, pages, today=TODAY, list_page=list_page)
    fields = draft.spec.detail.fields
    assert draft.spec.detail.key == "id"
    assert (fields["id"].from_, fields["id"].css, fields["id"].required) == (
        "card",
        "::attr(data-id)",
        True,
    )
    assert (fields["text"].from_, fields["text"].kind) == ("card", "text")


def test_a_load_more_button_is_found_by_its_text() -> None:
    from harvest.scraping.draft_scroll import load_more_button

    page = (
        "<html><body><div class='card'>a</div><button class='go'>Show more</button>{}</body></html>"
    )
    assert load_more_button(page.format("")) == "button.go"
    assert load_more_button(page.format("<a href='/x?page=2'>more</a>")) == "button.go"  # a link
    assert load_more_button(page.format("<button class='go'>Load more</button>")) is None  # two
    assert load_more_button("<html><body><button>Buy</button></body></html>") is None
