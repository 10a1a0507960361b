"""Selectors from values beyond single item-page fields (issue 24): ``many: true`` lists and
``from: card`` fields, on small hand-written pages of a catalogue after a redesign."""

from __future__ import annotations

import json

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.learning import KnownPage, LevelPage, check_field, learn_field
from harvest.learning.level_repair import LevelHistory, card_pages, proposed_levels, repair_levels
from harvest.learning.repair import repair_fields

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
