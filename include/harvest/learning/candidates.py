"""Selectors from values: candidate CSS/XPath/label selectors for a field, derived from the
nodes whose text is the field's known value, verified on every page and ranked by agreement.

Input: pages (URL, HTML) with the values the warehouse stored for them the night before
(:class:`KnownPage`). For each field, on a sample of the pages, every element whose whole text
(what Harvest's extraction reads, :func:`harvest.selection.texts`) the field's kind reads as the
known value (:mod:`harvest.learning.values`) gives candidates, most stable first: its ``id``,
a ``data-*``/``itemprop`` attribute, the label beside it (the previous sibling's text, as
``label:`` and as XPath, a ``<dt>``/``<th>``/``<span>`` or any tag), its classes (alone, then
under the parent's), a path from the nearest ancestor with an id or class, and last its
absolute position. Each candidate is then run through Harvest's own extraction
(:class:`harvest.extract.FieldExtractor`, the field's ``regex``/``map`` kept) on every page with
a known value; a page agrees when the candidate matches exactly one node there (a single field)
and the value read is the known one. Candidates rank by agreement, then stability, then length;
when the best agrees on fewer than all pages (a site with two layouts), the union of it and the
candidate that covers most of the rest is tried as one XPath.

Why not a library: autoscraper learns rules from sample values but its rules are its own
(tag/attribute stacks, saved with pickle), not CSS/XPath a spec can hold, and it cannot verify
them against Harvest's extraction; Scrapling relocates an element by its similarity to a
fingerprint it stored before the change (Harvest stores pages and values, not fingerprints) and
its generated selectors are positional. Both would still need this verification and ranking,
which is the part that decides; the matching itself is lxml/parsel plus the field kinds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parsel import Selector
from parsel.csstranslator import HTMLTranslator

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.extract import FieldExtractor
from harvest.learning.values import Key, ValueReader
from harvest.selection import _literal
from harvest.text import collapse_whitespace

SKIPPED_TAGS = frozenset({"head", "title", "script", "style", "noscript", "template", "meta"})
ATTRIBUTES = ("itemprop", "name", "property")
"""Attributes besides ``data-*`` that name what an element holds."""
SELECTOR_KEYS = ("css", "xpath", "jmespath", "metadata", "label", "header")
TIERS = {
    "current": 0,
    "id": 0,
    "attribute": 1,
    "label": 1,
    "class": 2,
    "href": 2,
    "union": 3,
    "path": 4,
    "position": 5,
}
"""How stable a kind of selector is across redesigns of a page (lower: more stable)."""
MAX_LABEL = 40
_IDENT = re.compile(r"^[A-Za-z_][\w-]*$")
_CSS = HTMLTranslator()


@dataclass(frozen=True)
class KnownPage:
    """One page and what the warehouse stored for it: ``values`` maps column names (a field's
    own and its extra columns: ``price``, ``price_currency``) to the stored values."""

    url: str
    body: str | bytes
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Example:
    """One page a candidate was checked on: the known value and what the candidate read."""

    url: str
    known: str
    found: str | None
    agrees: bool


@dataclass(frozen=True)
class Candidate:
    """A selector for one field (``selector``: the spec keys it sets, ``{"css": ...}``,
    ``{"xpath": ...}`` or ``{"label": ...}``), how it was derived (``how``, a :data:`TIERS`
    key), and how it did: ``agreed`` of ``pages`` pages with a known value read exactly it,
    ``multiple`` pages matched more than one node; ``examples`` show pages that agreed and,
    first, some that did not."""

    field: str
    selector: Mapping[str, str]
    how: str
    agreed: int = 0
    pages: int = 0
    multiple: int = 0
    examples: tuple[Example, ...] = ()
    agreeing: frozenset[str] = frozenset()
    """The URLs of the pages that agreed."""

    @property
    def agreement(self) -> float:
        """The fraction of pages with a known value where the selector read exactly it (0-1)."""
        return self.agreed / self.pages if self.pages else 0.0

    @property
    def text(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.selector.items())

    def rank(self) -> tuple[float, int, int]:
        return (-self.agreement, TIERS[self.how], len(self.text))


@dataclass
class _Page:
    url: str
    selector: Selector
    values: Mapping[str, Any]
    tree: Any = field(init=False)

    def __post_init__(self) -> None:
        self.tree = self.selector.root.getroottree()


def _whole_text(element: Any) -> str | None:
    return collapse_whitespace(" ".join(element.xpath(".//text()")))


def _elements(page: _Page) -> Iterable[tuple[Any, str]]:
    """Every element of the page outside ``<head>``/scripts, with its whole text."""
    for element in page.selector.root.iter():
        if not isinstance(element.tag, str) or element.tag in SKIPPED_TAGS:
            continue
        if any(a.tag in SKIPPED_TAGS for a in element.iterancestors()):
            continue
        text = _whole_text(element)
        if text:
            yield element, text


def _css_part(element: Any) -> str | None:
    """``tag#id`` or ``tag.class.class`` for an element that has either, else ``None``."""
    tag, ident = element.tag, element.get("id")
    if ident and _IDENT.match(ident):
        return f"{tag}#{ident}"
    classes = [c for c in (element.get("class") or "").split() if _IDENT.match(c)]
    return f"{tag}." + ".".join(classes) if classes else None


def _nth(element: Any) -> str:
    parent = element.getparent()
    same = [e for e in parent if e.tag == element.tag] if parent is not None else [element]
    return (
        element.tag if len(same) == 1 else f"{element.tag}:nth-of-type({same.index(element) + 1})"
    )


def derive(element: Any, tree: Any) -> list[tuple[str, dict[str, str]]]:
    """The candidate selectors of one element (see the module docstring), as (how, keys)."""
    tag = element.tag
    out: list[tuple[str, dict[str, str]]] = []
    ident = element.get("id")
    if ident and _IDENT.match(ident):
        out.append(("id", {"css": f"{tag}#{ident}"}))
    for name, value in element.attrib.items():
        if (name.startswith("data-") or name in ATTRIBUTES) and value and '"' not in value:
            out.append(("attribute", {"css": f'{tag}[{name}="{value}"]'}))
    previous = element.getprevious()
    label = _whole_text(previous) if previous is not None else None
    if label and len(label) <= MAX_LABEL:
        literal = _literal(label)
        out.append(("label", {"label": label}))
        for left, right in ((previous.tag, tag), ("*", "*")):
            xpath = f"//{left}[normalize-space()={literal}]/following-sibling::{right}[1]"
            out.append(("label", {"xpath": xpath}))
    parent = element.getparent()
    classes = [c for c in (element.get("class") or "").split() if _IDENT.match(c)]
    parent_part = _css_part(parent) if parent is not None else None
    for name in classes:
        out.append(("class", {"css": f"{tag}.{name}"}))
        if parent_part:
            out.append(("class", {"css": f"{parent_part} > {tag}.{name}"}))
    steps: list[str] = []
    node = element
    while node is not None and node.tag not in ("body", "html"):
        part = _css_part(node) if node is not element else None
        if part:
            out.append(("path", {"css": " > ".join([part, *reversed(steps)])}))
            break
        steps.append(_nth(node))
        node = node.getparent()
    out.append(("position", {"xpath": tree.getpath(element)}))
    return out


def _spec_with(spec: FieldSpec, selector: Mapping[str, str]) -> FieldSpec:
    cleared = dict.fromkeys(SELECTOR_KEYS)
    return spec.model_copy(update={**cleared, **selector})


def verify(
    candidate: Candidate, spec: FieldSpec, reader: ValueReader, pages: Sequence[_Page]
) -> Candidate:
    """``candidate`` run through Harvest's extraction on every page with a known value."""
    extractor = FieldExtractor(candidate.field, _spec_with(spec, candidate.selector))
    agreed = multiple = checked = 0
    good: list[Example] = []
    bad: list[Example] = []
    for page in pages:
        known = reader.known(page.values)
        if known is None:
            continue
        checked += 1
        try:
            matches = extractor.matches(page.selector, page.url)
        except Exception:  # a selector this page cannot run is a disagreement
            matches = []
        value = extractor.value(matches, page.url)
        found = value if isinstance(value, str) or value is None else " | ".join(value)
        if len(matches) > 1 and not spec.many:
            multiple += 1
        agrees = (len(matches) == 1 or spec.many) and reader.read(found) == known
        agreed += agrees
        example = Example(page.url, reader.shown(page.values), found, agrees)
        (good if agrees else bad).append(example)
    examples = tuple(bad[:3] + good[: max(0, 5 - len(bad[:3]))])
    urls = frozenset(e.url for e in good)
    return Candidate(
        candidate.field,
        candidate.selector,
        candidate.how,
        agreed,
        checked,
        multiple,
        examples,
        urls,
    )


def _as_xpath(candidate: Candidate) -> str | None:
    if "css" in candidate.selector:
        return str(_CSS.css_to_xpath(candidate.selector["css"]))
    return candidate.selector.get("xpath")


def _joined(first: Candidate, second: Candidate) -> Candidate:
    """One selector matching what either matches: a CSS group when both are CSS, else XPath."""
    if "css" in first.selector and "css" in second.selector:
        css = f"{first.selector['css']}, {second.selector['css']}"
        return Candidate(first.field, {"css": css}, "union")
    return Candidate(first.field, {"xpath": f"{_as_xpath(first)} | {_as_xpath(second)}"}, "union")


def _union(
    ranked: list[Candidate], spec: FieldSpec, reader: ValueReader, pages: Sequence[_Page]
) -> Candidate | None:
    """The best candidate joined with the one that agrees on most pages it misses."""
    best = ranked[0]
    first = _as_xpath(best)
    if first is None or best.agreement >= 1.0:
        return None
    others = [c for c in ranked[1:] if _as_xpath(c) and c.agreeing - best.agreeing]
    others.sort(key=lambda c: (-len(c.agreeing - best.agreeing), *c.rank()))
    tried = [verify(_joined(best, c), spec, reader, pages) for c in others[:3]]
    better = [c for c in tried if c.agreed > best.agreed]
    return min(better, key=Candidate.rank) if better else None


def _derived(page: _Page, reader: ValueReader) -> Iterator[tuple[str, dict[str, str]]]:
    """The candidates of every element of ``page`` whose whole text reads as the page's known
    value, then of the text nodes after a label (:mod:`.textnodes`) and the attributes
    (:mod:`.attributes`) that do."""
    from harvest.learning.attributes import attribute_candidates
    from harvest.learning.textnodes import label_text_nodes

    wanted = reader.known(page.values)
    if wanted is None:
        return
    for element, text in _elements(page):
        if reader.read(text) == wanted:
            yield from derive(element, page.tree)
    yield from label_text_nodes(page.selector.root, reader, wanted)
    yield from attribute_candidates(page.selector.root, reader, wanted)


def _in_card(selector: dict[str, str]) -> dict[str, str] | None:
    """A selector as it must be written for a card field (run inside each card): an XPath
    from the document's root made relative (``//x`` -> ``.//x``), a position dropped."""
    xpath = selector.get("xpath")
    if xpath is None:
        return selector
    if xpath.startswith("//"):
        return {"xpath": "." + xpath}
    return None


def learn_field(
    name: str, spec: FieldSpec, pages: Sequence[KnownPage], *, sample: int = 20, keep: int = 10
) -> list[Candidate]:
    """Ranked candidate selectors for field ``name`` (its spec: kind, options, ``regex``),
    derived on up to ``sample`` pages with a known value and verified on all of ``pages``; the
    ``keep`` best. A ``many: true`` field is learned as a set of items
    (:mod:`harvest.learning.many`); a ``from: card`` field from pages that are its cards (the
    caller's). ``ValueError`` for a ``from: url`` field (no selector to learn)."""
    if spec.from_ == "url":
        raise ValueError(f"field {name!r}: a 'from: url' field has no selector to learn")
    if spec.many:
        from harvest.learning.many import learn_many_field

        return learn_many_field(name, spec, pages, sample=sample, keep=keep)
    reader = ValueReader(name, spec)
    parsed = [_Page(p.url, Selector(text=_text(p.body)), p.values) for p in pages]
    known = [p for p in parsed if reader.known(p.values) is not None]
    found: dict[str, Candidate] = {}
    for page in known[:sample]:
        for how, derived in _derived(page, reader):
            selector = _in_card(derived) if spec.from_ == "card" else derived
            if selector is None:
                continue
            text_key = ", ".join(f"{k}: {v}" for k, v in selector.items())
            found.setdefault(text_key, Candidate(name, selector, how))
    checked = sorted((verify(c, spec, reader, known) for c in found.values()), key=Candidate.rank)
    if checked:
        union = _union(checked, spec, reader, known)
        if union is not None:
            checked = sorted([union, *checked], key=Candidate.rank)
    return checked[:keep]


def check_field(
    name: str,
    spec: FieldSpec,
    pages: Sequence[KnownPage],
    selector: Mapping[str, str] | None = None,
) -> Candidate:
    """How ``selector`` (default: the field's own selector in ``spec``) agrees with the known
    values of ``pages``: the same check as a learned candidate gets (``how``: ``current``)."""
    own = {k: getattr(spec, k) for k in SELECTOR_KEYS if getattr(spec, k) is not None}
    if spec.many:
        from harvest.learning.many import check_many_field

        return check_many_field(name, spec, pages, selector or own)
    reader = ValueReader(name, spec)
    parsed = [_Page(p.url, Selector(text=_text(p.body)), p.values) for p in pages]
    return verify(Candidate(name, dict(selector or own), "current"), spec, reader, parsed)


def _text(body: str | bytes) -> str:
    """A page's HTML as text: bytes decoded as a browser would (BOM, ``<meta charset>``, else
    UTF-8 or cp1252: w3lib's ``html_to_unicode``, as Scrapy decodes a response)."""
    if isinstance(body, str):
        return body
    from w3lib.encoding import html_to_unicode

    return html_to_unicode(None, body)[1]


def learn_fields(
    spec: SourceSpec, pages: Sequence[KnownPage], fields: Iterable[str] | None = None, **kw: Any
) -> dict[str, list[Candidate]]:
    """:func:`learn_field` for each of ``fields`` (default: every field read on the item page,
    ``many: true`` ones too) of source ``spec``; a field no page knows a value for maps to
    ``[]``."""
    wanted = list(fields) if fields is not None else list(spec.detail.fields)
    out = {}
    for name in wanted:
        field_spec = spec.detail.fields[name]
        if fields is None and field_spec.from_ != "page":
            continue
        out[name] = learn_field(name, field_spec, pages, **kw)
    return out


def proposal(
    candidates: Mapping[str, list[Candidate]], minimum: float = 0.8
) -> dict[str, Candidate]:
    """The best candidate of each field that agrees on at least ``minimum`` of its pages."""
    return {n: c[0] for n, c in candidates.items() if c and c[0].agreement >= minimum}


__all__ = [
    "SELECTOR_KEYS",
    "Candidate",
    "Example",
    "Key",
    "KnownPage",
    "check_field",
    "learn_field",
    "learn_fields",
    "proposal",
]
