"""Names for fields ``harvest init`` finds only by where they sit (a tag path inside a card:
``b``, ``span:nth-of-type(2)``, ``td:nth-of-type(3)``), from what the page says around them.

Nearest first: the element's own ``itemprop``/``property`` (microdata, RDFa); a label: its
table column's header (a ``<th>`` or the ``<thead>`` row's cell at the same position), the
``<dt>`` before its ``<dd>``, a ``<label>``/``<th>``/``<dt>`` just before it, or text ending
with ``:`` just before it (``Price: <b>12 €</b>``); then, on the element and its ancestors
inside the card, an ``itemprop``/``property``, a naming ``data-*`` attribute
(``data-field="price"``, ``data-testid``) or a class or id token that is no layout word
(``col-md-6``, ``text-muted`` are not names). Without any: a name from the values' kind
(:func:`kind_name`: ``price``, ``date``; a heading, bold or link text is the ``title``).
All in ``snake_case``; the caller makes them unique (``price_2``). Written here because the
naming rules are Harvest's own (a field name, not a selector); the markup is read with lxml.
"""

from __future__ import annotations

import re
from typing import Any

from harvest.learning.itemfields import MAX_LABEL, _short, snake
from harvest.text import collapse_whitespace

PROPERTIES = ("itemprop", "property")
NAMING_DATA = frozenset(
    {"data-field", "data-name", "data-label", "data-key", "data-prop", "data-testid",
     "data-test", "data-qa", "data-cy", "data-attribute"}
)  # fmt: skip
"""``data-*`` attributes whose value names what the element shows."""
LAYOUT_WORDS = frozenset(
    {"col", "row", "cell", "flex", "grid", "container", "wrapper", "wrap", "inner", "outer",
     "box", "left", "right", "center", "clearfix", "text", "small", "large", "big", "bold",
     "muted", "light", "dark", "primary", "secondary", "block", "inline", "hidden", "visible",
     "xs", "sm", "md", "lg", "xl", "xxl", "float", "pull", "push", "offset", "span", "font",
     "normal", "italic", "upper", "lower", "uppercase", "lowercase", "truncate",
     "item", "items", "list", "card", "body", "content", "info", "details", "meta", "line",
     "first", "last", "odd", "even", "active", "main", "top", "bottom", "mt", "mb", "ml",
     "mr", "mx", "my", "pt", "pb", "pl", "pr", "px", "py", "w", "h", "d", "p", "m", "is",
     "has", "js", "u", "ui", "component", "value", "field", "data", "label"}
)  # fmt: skip
"""Class-name parts that say how an element looks or sits, never what it shows."""
TITLE_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "b", "strong", "a"})
KIND_NAMES = {
    "price": "price", "range": "price_range", "date": "date", "area": "area",
    "int": "number", "number": "number", "bool": "flag",
}  # fmt: skip
_LABEL_TAGS = frozenset({"label", "th", "dt"})


def is_layout(name: str) -> bool:
    """Whether snake_case ``name`` is made of layout words only (``col_md_6``, ``text_muted``)."""
    parts = [p for p in name.split("_") if p]
    return all(p in LAYOUT_WORDS or p.isdigit() or len(p) < 3 for p in parts)


def _token_name(token: str) -> str | None:
    """``seller-box`` -> ``seller_box``; ``None`` for a layout token (``col-md-6``)."""
    name = snake(_short(token))
    return None if is_layout(name) else name


def _label(text: str | None) -> str | None:
    """A label's name: short, no digits, an ending ``:`` dropped; ``None`` when it is none."""
    text = collapse_whitespace(text or "")
    if not text:
        return None
    text = text.rstrip(":").strip()
    if not text or len(text) > MAX_LABEL or any(c.isdigit() for c in text):
        return None
    return snake(text)


def _column_header(cell: Any) -> str | None:
    """The header of table cell ``cell``'s column: the ``<th>`` row's or ``<thead>`` row's
    cell at the same position (no ``colspan`` counted)."""
    row = cell.getparent()
    table = next((a for a in cell.iterancestors() if a.tag == "table"), None)
    if row is None or table is None:
        return None
    position = [c for c in row if c.tag in ("td", "th")].index(cell)
    heads = table.xpath("(.//tr[th] | .//thead/tr)[1]")
    if not heads or heads[0] is row:
        return None
    cells = [c for c in heads[0] if c.tag in ("td", "th")]
    return _label(" ".join(cells[position].itertext())) if position < len(cells) else None


def _text_before(element: Any) -> str | None:
    """The text just before ``element`` inside its parent: the previous sibling's tail, or
    the parent's own text when ``element`` comes first."""
    before = element.getprevious()
    text = before.tail if before is not None else element.getparent().text
    return text if text and text.strip().endswith(":") else None


def label_name(element: Any) -> str | None:
    """The name a label beside ``element`` gives it (module docstring), or ``None``."""
    cell = next((a for a in element.iterancestors() if a.tag in ("td", "th")), None)
    cell = element if element.tag in ("td", "th") else cell
    if cell is not None:
        found = _column_header(cell)
        if found:
            return found
    dd = next((a for a in element.iterancestors() if a.tag == "dd"), None)
    dd = element if element.tag == "dd" else dd
    if dd is not None:
        dt = dd.getprevious()
        while dt is not None and dt.tag != "dt":
            dt = dt.getprevious()
        if dt is not None and (found := _label(" ".join(dt.itertext()))):
            return found
    before = element.getprevious()
    if before is not None and isinstance(before.tag, str):
        text = " ".join(before.itertext())
        if before.tag in _LABEL_TAGS or text.strip().endswith(":"):
            found = _label(text)
            if found:
                return found
    if element.getparent() is not None:
        preceding = _text_before(element)
        if preceding:  # "Price: <b>12 €</b>": the text's last part before the colon
            return _label(re.split(r"[.;|\u00b7]", preceding.strip().rstrip(":"))[-1])
    return None


def _context_name(node: Any) -> str | None:
    for attr in PROPERTIES:
        if node.get(attr) and (name := _token_name(node.get(attr))):
            return name
    for attr, value in node.attrib.items():
        if attr in NAMING_DATA and value and (name := _token_name(value)):
            return name
    for token in [node.get("id") or "", *(node.get("class") or "").split()]:
        if token and (name := _token_name(token)):
            return name
    return None


def element_name(card: Any, element: Any) -> str | None:
    """The name of the field read from ``element`` inside ``card`` (lxml elements; see the
    module docstring), or ``None`` when nothing around it names it (then :func:`kind_name`)."""
    for attr in PROPERTIES:
        if element.get(attr) and (name := _token_name(element.get(attr))):
            return name
    found = label_name(element)
    if found:
        return found
    node = element
    while node is not None and node is not card:
        found = _context_name(node)
        if found:
            return found
        node = node.getparent()
    return None


def kind_name(kind: str, tag: str) -> str:
    """A name from the values' kind (``price``, ``date``, ``number``), for a field nothing
    around names; text in a heading, bold or a link is the ``title``, other text ``text``."""
    if kind in KIND_NAMES:
        return KIND_NAMES[kind]
    return "title" if tag in TITLE_TAGS else "text"
