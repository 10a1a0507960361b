"""Selectors from values for ``many: true`` fields: the stored JSON array (``["wifi",
"garden"]``) is a set of items, each read through the field's kind like a single value.

An element whose whole text reads as one of the page's stored items gives candidates that
match all of its kind at once: its classes (``li.tag``), its parent's part and its tag
(``ul.tags > li``), the nearest ancestor with an id or class and its tag (``div.facts li``),
never a position. A candidate agrees on a page when the items it reads are the stored items,
in any order (a redesign may reorder a list; the multiset must be equal).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from parsel import Selector

from harvest.config.spec import FieldSpec
from harvest.extract import FieldExtractor
from harvest.learning.candidates import (
    Candidate,
    Example,
    KnownPage,
    _css_part,
    _elements,
    _Page,
    _spec_with,
    _text,
)
from harvest.learning.values import ValueReader, comparable

Items = tuple[Any, ...]
"""A page's items in comparison form, sorted (a multiset)."""
MAX_ANCESTORS = 4


def _sorted(keys: list[Any]) -> Items:
    return tuple(sorted(keys, key=repr))


def known_items(reader: ValueReader, row: Mapping[str, Any]) -> Items | None:
    """The stored items of the field in ``row`` (its JSON array), read as the kind reads them;
    ``None`` when missing, empty or not an array."""
    raw = row.get(reader.name)
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    try:
        items = json.loads(raw) if isinstance(raw, str) else list(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(items, list) or not items:
        return None
    keys = []
    for item in items:
        key = reader.read(str(item))
        keys.append(key[0] if key is not None else comparable(item))
    return _sorted(keys)


def read_items(reader: ValueReader, values: Sequence[str]) -> Items:
    """Extracted strings in comparison form, sorted."""
    return _sorted([key[0] if (key := reader.read(v)) is not None else None for v in values])


def derive_many(element: Any) -> list[tuple[str, dict[str, str]]]:
    """Candidates matching ``element`` and its siblings of the same kind (see the docstring)."""
    tag = element.tag
    out: list[tuple[str, dict[str, str]]] = []
    part = _css_part(element)
    if part and "#" not in part:
        out.append(("class", {"css": part}))
    parent = element.getparent()
    parent_part = _css_part(parent) if parent is not None else None
    if parent_part:
        out.append(("class", {"css": f"{parent_part} > {tag}"}))
    node = parent
    for _ in range(MAX_ANCESTORS):
        if node is None or node.tag in ("body", "html"):
            break
        ancestor = _css_part(node)
        if ancestor and node is not parent:
            out.append(("path", {"css": f"{ancestor} {tag}"}))
            break
        node = node.getparent()
    return out


def verify_many(
    candidate: Candidate,
    spec: FieldSpec,
    reader: ValueReader,
    pages: Sequence[tuple[_Page, Items]],
) -> Candidate:
    """``candidate`` run through Harvest's extraction on every page with stored items."""
    extractor = FieldExtractor(candidate.field, _spec_with(spec, candidate.selector))
    agreed = 0
    good: list[Example] = []
    bad: list[Example] = []
    for page, items in pages:
        try:
            value = extractor.value(extractor.matches(page.selector, page.url), page.url)
        except Exception:  # a selector this page cannot run is a disagreement
            value = None
        values = value if isinstance(value, list) else [] if value is None else [value]
        agrees = read_items(reader, values) == items
        agreed += agrees
        example = Example(page.url, str(page.values.get(reader.name)), " | ".join(values), agrees)
        (good if agrees else bad).append(example)
    return Candidate(
        candidate.field,
        candidate.selector,
        candidate.how,
        agreed,
        len(pages),
        0,
        tuple(bad[:3] + good[: max(0, 5 - len(bad[:3]))]),
        frozenset(e.url for e in good),
    )


def _known(
    name: str, spec: FieldSpec, pages: Sequence[KnownPage]
) -> tuple[ValueReader, list[tuple[_Page, Items]]]:
    reader = ValueReader(name, spec)
    parsed = [_Page(p.url, Selector(text=_text(p.body)), p.values) for p in pages]
    return reader, [(p, items) for p in parsed if (items := known_items(reader, p.values))]


def learn_many_field(
    name: str, spec: FieldSpec, pages: Sequence[KnownPage], *, sample: int = 20, keep: int = 10
) -> list[Candidate]:
    """Ranked candidates for the ``many: true`` field ``name`` (see the module docstring)."""
    reader, known = _known(name, spec, pages)
    found: dict[str, Candidate] = {}
    for page, items in known[:sample]:
        wanted = set(items)
        for element, text in _elements(page):
            key = reader.read(text)
            if key is None or key[0] not in wanted:
                continue
            for how, selector in derive_many(element):
                found.setdefault(selector["css"], Candidate(name, selector, how))
    checked = [verify_many(c, spec, reader, known) for c in found.values()]
    return sorted(checked, key=Candidate.rank)[:keep]


def check_many_field(
    name: str, spec: FieldSpec, pages: Sequence[KnownPage], selector: Mapping[str, str]
) -> Candidate:
    """How ``selector`` agrees with the stored items of ``pages``."""
    reader, known = _known(name, spec, pages)
    return verify_many(Candidate(name, dict(selector), "current"), spec, reader, known)
