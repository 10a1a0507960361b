"""Selectors from values beyond single item-page fields (issue 24): ``many: true`` lists and
``from: card`` fields, on small hand-written pages of a catalogue after a redesign."""

from __future__ import annotations

import json

import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import FieldSpec, load_spec
from harvest.learning import KnownPage, LevelPage, check_field, learn_field
from harvest.learning.level_repair import LevelHistory, card_pages, proposed_levels, repair_levels
from harvest.learning.repair import proposed, repair_fields, report_lines

CATALOGUE = load_spec(DEFAULT_SOURCES_DIR / "catalogue.yaml")
TAGS = [["new", "paperback"], ["sale"], ["paperback", "signed", "new"], ["hardcover"]] * 3


def product_page(n: int, tags: list[str]) -> str:
    """A product page of the new template: tags as chips, in another order than stored."""
    chips = "".join(f'<span class="chip">{t}</span>' for t in reversed(tags))
    return (
        f'<html><body><div class="crumbs"><span class="chip-label">Tags</span></div>'
        f'<h1 class="name">Book {n}</h1><div class="chips">{chips}</div>'
        f'<ul class="menu"><li>new</li><li>sale</li></ul></body></html>'
    )


def test_a_many_field_is_learned_as_a_set_of_items() -> None:
    spec = CATALOGUE.detail.fields["tags"]
    pages = [
        KnownPage(f"http://shop.test/p/{n}", product_page(n, tags), {"tags": json.dumps(tags)})
        for n, tags in enumerate(TAGS)
    ]
    assert check_field("tags", spec, pages).agreed == 0, "ul.tags li: gone"
    ranked = learn_field("tags", spec, pages)
    assert ranked[0].selector == {"css": "span.chip"} and ranked[0].agreement == 1.0
    assert ranked[0].examples[0].found in {"paperback | new", "sale", "hardcover"} or (
        ranked[0].examples[0].agrees
    )
    menu = check_field("tags", spec, pages, {"css": "ul.menu li"})
    assert menu.agreement < 0.5, "the menu's items are not the stored tags"


def list_page(numbers: range) -> str:
    """A category page of the new template: cards renamed, the badge an ``<em>`` now."""
    tiles = "".join(
        f'<div class="tile"><h4 class="t"><a href="/catalogue/p/{n}">Book {n}</a></h4>'
        + (f'<em class="flag">{"Bestseller" if n % 2 else "New"}</em>' if n % 3 else "")
        + '<a href="/basket/add">Add</a></div>'
        for n in numbers
    )
    return f'<html><body><nav><a href="/">Home</a></nav><section class="grid">{tiles}</section></body></html>'


def test_cards_links_and_card_fields_are_repaired_together() -> None:
    base = "http://shop.test"
    tonight = {"lists": [LevelPage(f"{base}/catalogue/books/", list_page(range(100, 124)))]}
    rows = {
        f"{base}/catalogue/p/{n}": {"badge": ("Bestseller" if n % 2 else "New") if n % 3 else None}
        for n in range(90, 124)
    }
    history = LevelHistory({"lists": set(rows)}, {})
    levels = repair_levels(CATALOGUE, tonight, history, 0.95)
    chosen = proposed_levels(levels, 0.95)
    assert chosen[("lists", "cards")].selector == {"css": "div.tile"}
    assert chosen[("lists", "links")].agreement == 1.0
    cards = card_pages(CATALOGUE, tonight, rows, chosen)
    assert len(cards) == 24 and all(p.url in rows for p in cards)
    (badge,) = repair_fields(CATALOGUE, cards, 0.95, ["badge"])
    assert badge.now.agreed == 0 and badge.now.pages == 16  # cards with a badge stored
    assert badge.candidates[0].selector == {"css": "em.flag"}, badge.candidates[:3]
    assert badge.candidates[0].agreement == 1.0


def field_spec(kind: str, **more: object) -> FieldSpec:
    return FieldSpec.model_validate({"css": "[data-field=x]", "kind": kind, **more})


def test_a_value_after_a_label_inside_one_element_is_found_as_a_text_node() -> None:
    cities = ["Berlin", "Köln", "Hamburg", "München"]
    pages = [
        KnownPage(
            f"http://x.test/{i}",
            f'<p class="meta"><b>City:</b> {city}</p><p class="meta"><b>Floor:</b> {i}</p>',
            {"city": city},
        )
        for i, city in enumerate(cities)
    ]
    best = learn_field("city", field_spec("text"), pages)[0]
    assert best.selector == {"xpath": "//b[normalize-space()='City:']/following-sibling::text()[1]"}
    assert best.agreement == 1.0


def test_a_price_inside_a_sentence_is_read_by_the_kind() -> None:
    prices = ["12,99", "7,50", "1.200,00"]
    pages = [
        KnownPage(
            f"http://x.test/{i}",
            f'<div class="promo">Now only {p} EUR!</div><p class="ship">Shipping 4,99 EUR</p>',
            {"price": float(p.replace(".", "").replace(",", ".")), "price_currency": "EUR"},
        )
        for i, p in enumerate(prices)
    ]
    best = learn_field("price", field_spec("price"), pages)[0]
    assert best.selector == {"css": "div.promo"} and best.agreement == 1.0


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ("<h1 class='c'>Mu\u0308nchen</h1>".encode(), "München"),  # NFD on the page, NFC stored
        ("<meta charset='latin-1'><h1 class='c'>K\xf6ln</h1>".encode("latin-1"), "Köln"),
        ("<h1 class='c'>Ber\x00lin</h1>", "Berlin"),  # a NUL the load stage removes
    ],
)
def test_odd_text_is_matched_as_the_load_stage_stores_it(body: str | bytes, stored: str) -> None:
    pages = [KnownPage(f"http://x.test/{i}", body, {"city": stored}) for i in range(3)]
    best = learn_field("city", field_spec("text"), pages)[0]
    assert best.selector == {"css": "h1.c"} and best.agreement == 1.0, best


def test_a_huge_page_is_learned_without_reading_its_text_as_a_value() -> None:
    filler = "<p>" + "lorem ipsum " * 20_000 + "</p>"
    pages = [
        KnownPage(f"http://x.test/{i}", f"{filler}<span class='n'>{i + 1}</span>", {"rooms": i + 1})
        for i in range(3)
    ]
    best = learn_field("rooms", field_spec("int"), pages)[0]
    assert best.selector == {"css": "span.n"} and best.agreement == 1.0


def test_values_changed_overnight_lower_the_agreement_and_say_so() -> None:
    """A catalogue whose URLs stay: 3 of 10 prices changed since they were stored."""
    pages = [
        KnownPage(
            f"http://x.test/p/{i}",
            f'<div class="buy"><span class="amount">{10 + i},00 €</span></div>',
            {"price": 10.0 + i + (5 if i < 3 else 0), "price_currency": "EUR"},
        )
        for i in range(10)
    ]
    (repair,) = repair_fields(CATALOGUE, pages, 0.95, ["price"])
    best = repair.candidates[0]
    assert best.selector in ({"css": "span.amount"}, {"css": "div.buy"}) and best.agreement == 0.7
    lines = report_lines([repair], 0.95)
    assert f"  no selector reaches 95% (best: {best.text}, 70%): fix it by hand" in lines
    assert any(
        "values that changed overnight" in line and "--minimum 0.70" in line for line in lines
    )
    assert any(line.startswith("    differs: http://x.test/p/0: stored 15.0 EUR") for line in lines)
    assert proposed([repair], 0.95) == {}, "nothing proposed below the minimum"
