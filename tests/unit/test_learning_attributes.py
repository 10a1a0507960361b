"""Values a redesign moved into an attribute (issue 24): found by field learning, on item pages
and on cards (``from: card``), and values cleaning imputed are not taken as shown."""

from __future__ import annotations

import json

from parsel import Selector

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import FieldSpec, load_spec
from harvest.extract import FieldExtractor
from harvest.learning import KnownPage, LevelPage, check_field, learn_field
from harvest.learning.level_repair import LevelHistory, card_pages, proposed_levels, repair_levels
from harvest.learning.repair import repair_fields
from harvest.learning.values import ValueReader

CATALOGUE = load_spec(DEFAULT_SOURCES_DIR / "catalogue.yaml")
TITLES = ["Mitte: modern 2-room home", "Altbau near the park", "Loft, Schanze", "Quiet studio"]


def field_spec(kind: str, **more: object) -> FieldSpec:
    return FieldSpec.model_validate({"css": "[data-field=x]", "kind": kind, **more})


def item_page(n: int, title: str) -> str:
    """The new template: the title only in the link's ``title`` (the text is cut short), the
    area only in a ``data-area`` of the facts block, a menu link with a title of its own."""
    return (
        f'<html><body><nav><a href="/" title="Home">Home</a></nav>'
        f'<h1 class="head"><a class="full" href="/l/{n}" title="{title}">{title[:6]}…</a></h1>'
        f'<div class="facts" data-area="{40 + n} m²" data-kind="flat"><p>{n + 1} rooms</p></div>'
        "</body></html>"
    )


def test_an_item_value_moved_into_an_attribute_is_found() -> None:
    pages = [
        KnownPage(f"http://x.test/l/{n}", item_page(n, t), {"title": t, "area": 40.0 + n})
        for n, t in enumerate(TITLES)
    ]
    title = learn_field("title", field_spec("text"), pages)[0]
    assert title.agreement == 1.0 and title.selector["css"].endswith("::attr(title)"), title
    assert check_field("title", field_spec("text"), pages, {"css": "h1.head a"}).agreed == 0
    area = learn_field("area", field_spec("area"), pages)[0]
    assert area.agreement == 1.0 and area.selector == {"css": "div[data-area]::attr(data-area)"}
    # the learned selector reads the attribute through the crawl's own extraction
    extractor = FieldExtractor("area", field_spec("area").model_copy(update=area.selector))
    page = Selector(text=pages[2].body)
    assert extractor.value(extractor.matches(page, pages[2].url), pages[2].url) == "42 m²"


def list_page(numbers: range) -> str:
    """Cards whose badge is now only the card's own ``data-badge``."""
    tiles = "".join(
        f'<div class="tile" data-badge="{"Bestseller" if n % 2 else "New"}">'
        f'<h4 class="t"><a href="/catalogue/p/{n}">Book {n}</a></h4>'
        '<a href="/basket/add">Add</a></div>'
        for n in numbers
    )
    return f'<html><body><section class="grid">{tiles}</section></body></html>'


def test_a_card_value_moved_into_the_cards_own_attribute_is_found() -> None:
    base = "http://shop.test"
    tonight = {"lists": [LevelPage(f"{base}/catalogue/books/", list_page(range(100, 124)))]}
    rows = {f"{base}/catalogue/p/{n}": {"badge": "Bestseller" if n % 2 else "New"}
            for n in range(100, 124)}  # fmt: skip
    history = LevelHistory({"lists": set(rows)}, {})
    chosen = proposed_levels(repair_levels(CATALOGUE, tonight, history, 0.95), 0.95)
    cards = card_pages(CATALOGUE, tonight, rows, chosen)
    (badge,) = repair_fields(CATALOGUE, cards, 0.95, ["badge"])
    assert badge.now.agreed == 0
    best = badge.candidates[0]
    assert best.selector == {"css": "div[data-badge]::attr(data-badge)"}, badge.candidates[:3]
    assert best.agreement == 1.0 and best.pages == 24


def test_a_value_cleaning_imputed_is_not_taken_as_shown_on_the_page() -> None:
    reader = ValueReader("rooms", field_spec("int", impute="mode"))
    assert reader.known({"rooms": 3, "imputed": json.dumps(["rooms"])}) is None
    assert reader.known({"rooms": 3, "imputed": ["area"]}) == reader.read("3")
    assert reader.known({"rooms": 3, "imputed": None}) == reader.read("3")
