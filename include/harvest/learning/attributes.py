"""Values a page keeps in an attribute: ``<article class="result" data-price="1031 EUR">``,
``<h2 title="Mitte: modern 2-room home">``, ``<meta itemprop="price" content="12.99 EUR">``.
No element's text is the value (a redesign moved it out of the text, or the text shortens
it), but an attribute is; its candidates read that attribute (parsel's ``::attr(name)``) of
the element found as an item page's are: by its ``id``, by another attribute that names it
(``itemprop``, ``data-*``), by having the attribute at all (``article[data-price]``), by its
classes, under its parent's. ``class``, ``id`` and ``style`` are never values, links
(``href``, ``src``) only for a ``url`` field; ``<meta>`` in
``<head>`` is looked at too (Open Graph and microdata values live there). For a ``from: card``
field the attribute may be the card's own: CSS runs on the card itself too (parsel's
``descendant-or-self``), so the same candidates hold inside each card.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harvest.learning.candidates import _IDENT, _css_part
from harvest.learning.values import Key, ValueReader

NOT_VALUES = frozenset({"class", "id", "style"})
LINKS = frozenset({"href", "src", "srcset", "action", "formaction", "poster", "cite", "data-src"})
"""Attributes that hold a link: read only for a field of kind ``url`` (reading every link as a
date or number is slow, and never the value)."""
SKIPPED = frozenset({"script", "style", "noscript", "template"})
NAMING = ("itemprop", "name", "property")


def attribute_candidates(
    root: Any, reader: ValueReader, wanted: Key
) -> Iterator[tuple[str, dict[str, str]]]:
    """Candidates (how, selector) of the attributes of ``root``'s elements that read as
    ``wanted``, most stable first for each (see the module docstring)."""
    skipped = NOT_VALUES if reader.spec.kind == "url" else NOT_VALUES | LINKS
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag in SKIPPED:
            continue
        for name, value in element.attrib.items():
            if name in skipped or not _IDENT.match(name) or reader.read(value) != wanted:
                continue
            tag, read = element.tag, f"::attr({name})"
            ident = element.get("id")
            if ident and _IDENT.match(ident):
                yield "id", {"css": f"{tag}#{ident}{read}"}
            for other, named in element.attrib.items():
                naming = other in NAMING or (other.startswith("data-") and other != name)
                if naming and other != name and named and '"' not in named:
                    yield "attribute", {"css": f'{tag}[{other}="{named}"]{read}'}
            yield "attribute", {"css": f"{tag}[{name}]{read}"}
            part = _css_part(element)
            if part and not ident:
                yield "class", {"css": f"{part}{read}"}
            parent = element.getparent()
            above = _css_part(parent) if parent is not None else None
            if above:
                yield "class", {"css": f"{above} > {tag}[{name}]{read}"}
