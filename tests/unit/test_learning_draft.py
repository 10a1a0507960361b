"""``harvest init``'s drafting on small HTML fixtures: list structure, fields, kinds, the spec."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from harvest.learning.draft import draft_source, site_titles
from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import SamplePage, find_fields, snake
from harvest.learning.listpage import find_structure
from harvest.scraping.draft import javascript_section

BASE = "http://shop.example"


def _list_page(page: int) -> str:
    sidebar = "".join(
        f'<li><a href="/c/{c}">{c}</a></li>' for c in ("books", "garden", "tools", "toys")
    )
    cards = "".join(
        f'<article class="product_pod"><h3><a href="/p/{n}" title="T{n}">Thing {n}</a></h3>'
        f'<img src="/i/{n}.jpg"><p class="price_color">£{n}.50</p>'
        f'<p class="instock">In stock</p></article>'
        for n in range(page * 10, page * 10 + 6)
    )
    return (
        f'<html><body><header><a href="/">Shop</a></header><ul class="side">{sidebar}</ul>'
        f'<section><ol class="row">{cards}</ol></section>'
        f'<ul class="pager"><li class="current">Page {page}</li>'
        f'<li class="next"><a href="?page={page + 1}">next</a></li></ul></body></html>'
    )


def _item(n: int, *, layout: str = "dl", missing: str = "") -> SamplePage:
    facts = [("UPC", f"U{n:04d}"), ("Price", f"{n * 10} €"), ("Rooms", str(n % 5 + 1)),
             ("Published", f"June {n}, 2024"), ("Balcony", "yes" if n % 2 else "no")]  # fmt: skip
    facts = [(k, v) for k, v in facts if k != missing]
    if layout == "dl":
        body = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    else:
        body = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
        body += "</table>"
    ld = json.dumps({"@context": "https://schema.org", "@type": "Product", "sku": f"S{n}",
                     "brand": {"@type": "Brand", "name": f"Brand {n % 3}"}})  # fmt: skip
    html = (
        f"<html><head><title>Thing number {n} | Example Shop</title>"
        f'<script type="application/ld+json">{ld}</script></head>'
        f'<body><nav><a href="/">Home</a></nav><h1>Thing number {n}</h1>{body}'
        f'<p class="note">Note {n * 7}</p></body></html>'
    )
    return SamplePage(f"{BASE}/p/{n}", html)


def test_list_structure_prefers_cards_over_a_sidebar_and_finds_the_next_page() -> None:
    found = find_structure(f"{BASE}/list", _list_page(1))
    assert found is not None
    assert found.item_urls == tuple(f"{BASE}/p/{n}" for n in range(10, 16))
    assert found.cards == "article.product_pod"
    assert found.links == "h3 a"
    assert found.next_page == "li.next > a"
    assert found.next_url == f"{BASE}/list?page=2"


def test_a_page_without_repeated_item_links_has_no_list_structure() -> None:
    assert find_structure(f"{BASE}/p/1", _item(1).html) is None


@pytest.mark.parametrize(
    ("strings", "kind", "options"),
    [
        (["yes", "no", "yes"], "bool", {}),
        (["3", "12", "-1"], "int", {}),
        (["2.5", "3"], "number", {}),
        (["€1.200 / month", "900 EUR", "Price on request"], "price", {}),
        (["53 m²", "600 sq ft"], "area", {}),
        (["2026-12-01", "27.12.2026"], "date", {}),
        (["05/06/2026", "25/06/2026"], "date", {"date_order": "DMY"}),
        (["$50,000 - $70,000 a year", "$40,000 - $45,000 a year"], "range", {}),
        (["L-20261126-0001", "L-20261126-0002"], "text", {}),
        ([None, None], "text", {}),
    ],
)
def test_kinds_are_guessed_by_the_kinds_own_parsers(
    strings: list[str | None], kind: str, options: dict[str, str]
) -> None:
    guess = guess_kind(strings)
    assert (guess.kind, guess.options) == (kind, options)


def test_label_pairs_and_json_ld_become_named_typed_fields_across_two_layouts() -> None:
    pages = [_item(n, layout="dl" if n % 2 else "table") for n in range(1, 7)]
    fields = {f.name: f for f in find_fields(pages)}
    assert fields["upc"].selector == {"label": "UPC"}
    assert fields["price"].guess.kind == "price"
    assert fields["rooms"].guess.kind == "int"
    assert fields["published"].guess.kind == "date"
    assert fields["balcony"].guess.kind == "bool"
    assert fields["sku"].selector == {"metadata": "json-ld", "jmespath": "Product.sku"}
    assert fields["brand_name"].values[:2] == ("Brand 1", "Brand 2")
    assert fields["note"].selector == {"css": "p.note"}
    assert "home" not in fields  # the navigation's text is the same on every page: not a field
    assert all(f.presence == 1 for f in fields.values())


def test_site_titles_lose_the_site_name() -> None:
    assert site_titles([_item(1), _item(2)]) == ["Thing number 1", "Thing number 2"]


def test_the_draft_validates_learns_the_title_keys_by_url_and_pins_an_example() -> None:
    pages = [_item(n, missing="Rooms" if n == 3 else "") for n in range(1, 6)]
    structure = find_structure(f"{BASE}/list", _list_page(1))
    draft = draft_source(
        f"{BASE}/list",
        structure,
        pages,
        examples={"cost": "20 €", "colour": "purple"},
        today=dt.date(2026, 12, 7),
    )
    spec = draft.spec
    assert spec.name == "shop"
    assert spec.graph[0].cards is not None and spec.graph[0].cards.css == "article.product_pod"
    fields = spec.detail.fields
    assert fields["title"].css == "h1"
    assert fields["cost"].label == "Price" and fields["cost"].kind == "price"
    assert "price" not in fields  # the example's field replaces the guessed one
    assert spec.detail.key in ("upc", "sku")
    assert fields[spec.detail.key].required
    assert any("colour" in note for note in draft.notes)
    assert any("rooms" in note and "4 of 5" in note for note in draft.notes)
    assert "# label, on 5 of 5 pages, e.g. 'U0001'" in draft.text
    # the night a first run (`make demo`'s default date, yesterday) processes is not refused
    assert spec.start_date == dt.date(2026, 12, 6)


def test_an_undated_list_is_drafted_as_a_catalogue_and_a_dated_one_as_listings() -> None:
    """The same URL every night shows the site's current items, mostly seen the nights before:
    ``mode: catalogue``, said in a note; a URL carrying the date shows that night's listings."""
    pages = [_item(n) for n in range(1, 4)]
    structure = find_structure(f"{BASE}/list", _list_page(1))
    undated = draft_source(f"{BASE}/list", structure, pages, today=dt.date(2026, 12, 7))
    assert undated.spec.mode == "catalogue" and "\nmode: catalogue\n" in undated.text
    note = next(note for note in undated.notes if note.startswith("mode: catalogue"))
    assert "looks_like_catalogue" in note and "set mode: listings" in note
    dated = draft_source(f"{BASE}/list/2026-12-06", structure, pages, today=dt.date(2026, 12, 7))
    assert dated.spec.start_urls == ["{base_url}/list/{date}"]
    assert dated.spec.mode == "listings" and "mode:" not in dated.text
    assert not any(note.startswith("mode:") for note in dated.notes)


def test_without_an_id_field_the_key_is_the_varying_part_of_the_url() -> None:
    pages = [
        SamplePage(f"{BASE}/item/{n}/view", f"<html><body><h2>Thing {n}</h2></body></html>")
        for n in (4, 9, 17)
    ]
    spec = draft_source(f"{BASE}/item/4/view", None, pages).spec
    key = spec.detail.fields[spec.detail.key]
    assert (spec.detail.key, key.from_, key.regex) == ("item_id", "url", r"/item/([^/?#]+)")
    assert spec.start_urls == ["{base_url}/item/4/view"]
    # static pages (`/item/4.html`): the key leaves out the extension every page shares
    pages = [
        SamplePage(f"{BASE}/item/{n}.html", page.html)
        for n, page in zip((4, 9, 17), pages, strict=True)
    ]
    html = draft_source(f"{BASE}/item/4.html", None, pages).spec
    assert html.detail.fields["item_id"].regex == r"/item/([^/?#]+?)\.html"
    assert re.search(html.detail.fields["item_id"].regex, f"{BASE}/item/17.html?x=1")[1] == "17"


def test_javascript_pages_get_a_marker_and_a_wait_for() -> None:
    plain = [
        SamplePage(f"{BASE}/p/1", '<html><body data-render="js"><p id="x"></p></body></html>'),
        SamplePage(f"{BASE}/p/2", "<html><body><p id='x'>9 €</p></body></html>"),
    ]
    rendered = [
        SamplePage(
            f"{BASE}/p/1",
            '<html><body data-render="js" data-rendered="true"><p id="x">8 €</p></body></html>',
        ),
        None,
    ]
    assert javascript_section(plain, rendered) == {
        "marker": "body[data-render=js]",
        "wait_for": "body[data-rendered=true]",
    }
    assert javascript_section(plain, [None, None]) is None
    everything = javascript_section(plain[:1], rendered[:1])
    assert everything == {"url_patterns": ["/p/"], "wait_for": "body[data-rendered=true]"}


def test_names_are_spec_field_names() -> None:
    assert snake("Living area:") == "living_area"
    assert snake("priceCurrency") == "price_currency"
    assert snake("2nd floor") == "field_2nd_floor"


def test_a_number_in_a_sentence_is_an_int_read_by_a_regex() -> None:
    guess = guess_kind(
        ["In stock (22 available)", "In stock (3 available)", "In stock (1 available)"]
    )
    assert guess.kind == "int"
    assert guess.options == {"regex": r"In stock \((\d+) available\)"}
    # a string that is not the sentence: that regex would lose it, the whole text is kept
    mixed = guess_kind(["In stock (22 available)", "In stock (3 available)", "Out of stock"])
    assert (mixed.kind, mixed.options) == ("text", {})
    assert guess_kind(["Note 7", "Note 7"]).kind == "text"  # one number: nothing to count


def test_a_breadcrumb_gives_the_category_even_when_the_sample_shares_it() -> None:
    pages = [
        SamplePage(
            f"{BASE}/p/{n}",
            f'<html><body><ul class="breadcrumb"><li><a href="/">Home</a></li>'
            f'<li><a href="/c/books">Books</a></li><li class="active">Thing {n}</li></ul>'
            f"<h1>Thing {n}</h1></body></html>",
        )
        for n in range(1, 5)
    ]
    fields = {f.name: f for f in find_fields(pages)}
    assert fields["category"].selector == {"css": "ul.breadcrumb > li:nth-of-type(2)"}
    assert set(fields["category"].values) == {"Books"}


def test_sampled_pages_that_are_lists_make_a_level_of_categories() -> None:
    from harvest.scraping.draft import _lists

    lists = [SamplePage(f"{BASE}/c/{c}", _list_page(n)) for n, c in enumerate(("a", "b", "c"), 1)]
    found = _lists(lists)
    assert found is not None and found[1] is lists[0]
    below = found[0]
    assert below.cards == "article.product_pod"
    assert below.links == "h3 a" and below.next_page == "li.next > a"
    assert len(below.item_urls) == 18  # the items of all three lists
    assert _lists([_item(1), _item(2), _item(3)]) is None


def test_values_only_the_cards_show_become_card_fields() -> None:
    from harvest.learning.cardfields import card_fields

    cards = "".join(
        f'<li><article class="pod"><p class="star-rating {stars}"></p>'
        + ('<span class="badge">Staff pick</span>' if n % 3 == 0 else "")
        + f'<h3 class="name"><a href="/p/{n}">Thing {n}</a></h3><a class="basket" href="/b?p={n}">Add</a>'
        "</article></li>"
        for n, stars in enumerate(["One", "Two", "Three", "Four", "Five", "Two", "One"])
    )
    html = f'<html><body><ol class="row">{cards}</ol></body></html>'
    items = [
        SamplePage(f"{BASE}/p/{n}", f'<html><body><h1 class="name">Thing {n}</h1></body></html>')
        for n in (0, 1, 2)
    ]
    title = find_fields(items)
    assert [f.name for f in title] == ["name"]
    found = {
        f.name: f
        for f in card_fields(
            f"{BASE}/list", html, "ol.row > li", "h3 a", title, [p.url for p in items]
        )
    }
    assert set(found) == {
        "star_rating",
        "badge",
    }  # the title is the item page's; "Add" is on every card
    assert found["star_rating"].selector == {
        "from": "card",
        "css": "p.star-rating::attr(class)",
        "regex": r"star-rating (\S+)",
    }
    assert found["star_rating"].values[:3] == ("One", "Two", "Three")
    assert found["badge"].values.count("Staff pick") == 3


def test_a_price_field_that_also_shows_ranges_is_split_in_two() -> None:
    from harvest.learning.guess import Guess
    from harvest.learning.itemfields import DraftField, split_ranges

    values = ("£51.77", "$50,000 - $70,000 a year", "£12.00", "3.500 € - 4.200 € a month", None)
    price, pay = split_ranges(
        DraftField("price", {"css": "p.price"}, "class", values, Guess("price"))
    )
    assert (price.name, price.guess.kind, price.values) == (
        "price",
        "price",
        ("£51.77", None, "£12.00", None, None),
    )
    assert (pay.name, pay.guess.kind) == ("price_range", "range")
    assert (
        pay.selector["regex"] == r"^(.+ [-\u2013] .+)$"
        and price.selector["regex"] == r"^([^-\u2013]+)$"
    )
    single = DraftField("price", {"css": "p.price"}, "class", ("£1.00", "£2.00"), Guess("price"))
    assert split_ranges(single) == [single]


def test_a_template_without_ids_or_data_attributes_is_drafted_from_its_labels() -> None:
    """The demo's item pages re-templated (span pairs, div pairs, other order): the labels lead."""
    from harvest.config.settings import DEFAULT_SOURCES_DIR
    from harvest.config.spec import load_spec
    from harvest_demo import SiteConfig
    from harvest_demo.generator import day_listings
    from harvest_demo.pages import render_detail
    from tests.fixtures.init_coverage import coverage, overall
    from tests.fixtures.retemplated_demo import render_retemplated

    config = SiteConfig(listings_per_day=30, js_fraction=0.0)
    listings = list(day_listings(config, dt.date(2026, 11, 26)))
    urls = [f"{BASE}/listing/{listing.listing_id}" for listing in listings]
    new = [SamplePage(u, render_retemplated(x)) for u, x in zip(urls, listings, strict=True)]
    old = [
        SamplePage(u, (render_detail(config, x.listing_id) or b"").decode())
        for u, x in zip(urls, listings, strict=True)
    ]
    draft = draft_source(urls[0], None, new[::3])
    assert draft.spec.detail.fields["rent"].xpath == (
        "//*[normalize-space()='Rent']/following-sibling::*[1]"
    )
    fields = coverage(load_spec(DEFAULT_SOURCES_DIR / "demo.yaml"), draft.spec, old, new)
    assert overall(fields) >= 0.95, {f.field: f.share for f in fields}


def test_a_value_followed_by_the_next_label_is_no_pair() -> None:
    pages = [
        SamplePage(
            f"{BASE}/p/{n}",
            f"<html><body><dl><dt>Balcony</dt><dd>{'yes' if n % 2 else 'no'}</dd>"
            f"<dt>Built</dt><dd>{1950 + n}</dd></dl></body></html>",
        )
        for n in range(1, 7)
    ]
    names = [f.name for f in find_fields(pages)]
    assert names == ["balcony", "built"]


def test_a_classed_list_of_short_items_is_a_many_field() -> None:
    tags = (["travel", "mystery"], ["poetry"], ["travel", "fiction", "classics"])
    pages = [
        SamplePage(
            f"{BASE}/p/{n}",
            '<html><body><nav><ul class="menu"><li>Home</li><li>Shop</li></ul></nav>'
            f'<h1>Thing {n}</h1><ul class="tags">{"".join(f"<li>{t}</li>" for t in shown)}</ul>'
            "</body></html>",
        )
        for n, shown in enumerate(tags)
    ]
    fields = {f.name: f for f in find_fields(pages)}
    assert fields["tags"].spec() == {"css": "ul.tags > li", "many": True}
    assert fields["tags"].values == ("travel | mystery", "poetry", "travel | fiction | classics")
    assert "menu" not in fields


def test_one_item_page_without_a_title_tag_is_titled_by_its_one_h1() -> None:
    page = SamplePage(
        "http://one.test/gadget/9",
        "<html><body><nav><a href='/'>Home</a></nav><h1>Gadget nine</h1>"
        "<p class='price'>9.90 €</p></body></html>",
    )
    draft = draft_source(page.url, None, [page], today=dt.date(2026, 12, 7))
    assert draft.spec.detail.fields["title"].css == "h1"
