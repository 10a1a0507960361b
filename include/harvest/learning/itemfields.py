"""The fields of a sample of item pages, found, named and typed (for ``harvest init``).

Candidates come from every page of the sample: an element whose whole text is short and made of
inline markup only, by its ``data-*``/``itemprop`` attribute, its ``id`` and each of its classes
(``[data-field="price"]``, ``#price``, ``p.price_color``); a label beside a value
(``<dt>Rent</dt><dd>``, ``<th>UPC</th><td>``, ``<strong>Published:</strong> ...``: the spec's
``label:``, or the element after it as XPath: ``<div>Rent</div><div>...``); a classed list of
short items (``ul.tags > li``, ``many: true``); the categories of a breadcrumb trail; every scalar of the page's JSON-LD and microdata (extruct, through
:meth:`harvest.selection.Page.metadata`); and the title, learned from the ``<title>`` text with
its site name cut off (:func:`harvest.learning.candidates.learn_field`). Each candidate is run
through Harvest's own extraction on every page of the sample. It is kept when it matches at most
one node on every page and a value on at least :data:`PRESENCE` of them; a candidate whose
values another kept one already reads (the same text on every page where it has one) is left
out, the more stable one kept (example, attribute, title, metadata, label, id, class). Names
come from the attribute, label, id or class, in ``snake_case``; kinds from
:func:`harvest.learning.guess.guess_kind`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parsel import Selector

from harvest.config.spec import FieldSpec
from harvest.extract import FieldExtractor
from harvest.learning.guess import SINGLE, SPAN, Guess, guess_kind, is_range
from harvest.selection import LABEL_TAGS, Page, _literal, label_values
from harvest.text import collapse_whitespace, fold

PRESENCE = 0.3
MAX_VALUE = 200
MAX_LABEL = 40
INLINE_TAGS = frozenset(
    {"a", "abbr", "b", "bdi", "br", "data", "em", "i", "img", "mark", "s", "small", "span",
     "strong", "sub", "sup", "time", "u", "wbr"}
)  # fmt: skip
SKIPPED_TAGS = frozenset({"head", "script", "style", "noscript", "template", "svg", "button"})
ATTRIBUTES = ("itemprop", "property")
NOT_LABELS = frozenset({"a", "nav", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6"})
"""Tags that are no half of a label/value pair (a menu, a heading)."""
PRIORITY = {
    "example": 0,
    "attribute": 1,
    "title": 2,
    "metadata": 3,
    "label": 4,
    "breadcrumb": 5,
    "id": 6,
    "class": 7,
    "card": 8,
    "list": 9,
}
"""How stable each kind of candidate is across pages and redesigns (lower: kept first)."""
GENERIC_KEYS = frozenset({"name", "description", "url", "image", "id", "identifier"})
"""Metadata keys that say little without their type: named ``<type>_<key>``."""
_CSS_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
_NAME_PREFIXES = ("field-", "field_", "js-", "product-", "item-")


@dataclass(frozen=True)
class SamplePage:
    """One item page of the sample: its final URL and its HTML (rendered when it needed it)."""

    url: str
    html: str


@dataclass(frozen=True)
class DraftField:
    """A field found on the sample: its ``name``, spec keys (``selector``: ``{"css": ...}``,
    ``{"label": ...}``, ``{"metadata": ..., "jmespath": ...}``), how it was found (a
    :data:`PRIORITY` key), its value on each page (``None``: none there) and its kind."""

    name: str
    selector: Mapping[str, str]
    how: str
    values: tuple[str | None, ...] = ()
    guess: Guess = field(default_factory=lambda: Guess("text"))

    @property
    def presence(self) -> float:
        """The share of the sample's pages with a value (0-1)."""
        return sum(v is not None for v in self.values) / len(self.values) if self.values else 0.0

    @property
    def text(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.selector.items())

    def spec(self) -> dict[str, Any]:
        """The field's spec keys (selector, ``kind`` unless text, the kind's options)."""
        out: dict[str, Any] = dict(self.selector)
        if self.guess.kind != "text":
            out["kind"] = self.guess.kind
        return out | self.guess.options


def snake(text: str) -> str:
    """``Living area:`` -> ``living_area``; a name that is a spec field name (letter first)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40].strip("_")
    return name if name and name[0].isalpha() else f"field_{name}".rstrip("_")


def _text(element: Any) -> str | None:
    return collapse_whitespace(" ".join(element.itertext()))


def _is_value_element(element: Any) -> bool:
    """An element holding one short value: inline markup only below it."""
    return all(
        not isinstance(d.tag, str) or d.tag in INLINE_TAGS for d in element.iterdescendants()
    )


def _elements(selector: Selector, inside: bool = False) -> Iterable[Any]:
    body = selector.root.find("body")
    for element in (body if body is not None else selector.root).iter():
        if inside and element is selector.root:
            continue
        if not isinstance(element.tag, str) or element.tag in SKIPPED_TAGS:
            continue
        if any(a.tag in SKIPPED_TAGS for a in element.iterancestors()):
            continue
        yield element


def _value_after(label: Any, value: Any) -> bool:
    """Whether ``value`` (the element after ``label``) holds a short value in markup of its own:
    a pair is two different things (``dt``/``dd``, ``div.k``/``div.v``), not two list items."""
    if value is None or not isinstance(value.tag, str) or not _is_value_element(value):
        return False
    if label.tag in NOT_LABELS or value.tag in NOT_LABELS:
        return False
    text = _text(value)
    same = (label.tag, label.get("class")) == (value.tag, value.get("class"))
    return bool(text) and len(text or "") <= MAX_VALUE and not same


def _short(name: str) -> str:
    for prefix in _NAME_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def element_candidates(
    selector: Selector, *, inside: bool = False
) -> Iterable[tuple[str, str, dict[str, str]]]:
    """``(how, name, selector)`` of every value element and label on one page (``inside``: in
    one card, the card itself left out)."""
    for element in _elements(selector, inside):
        text = _text(element)
        if not text or len(text) > MAX_VALUE or not _is_value_element(element):
            continue
        for attr, value in element.attrib.items():
            if (attr.startswith("data-") or attr in ATTRIBUTES) and _CSS_NAME.match(value or ""):
                yield "attribute", snake(_short(value)), {"css": f'[{attr}="{value}"]'}
        ident = element.get("id") or ""
        if _CSS_NAME.match(ident):
            yield "id", snake(_short(ident)), {"css": f"#{ident}"}
        for name in (element.get("class") or "").split():
            if _CSS_NAME.match(name):
                yield "class", snake(_short(name)), {"css": f"{element.tag}.{name}"}
        if len(text) > MAX_LABEL or text.isdigit():
            continue
        label = text.rstrip(":").strip()
        if element.tag in LABEL_TAGS and label:
            found = label_values(selector, label)
            if len(found) == 1 and found[0] != text:
                yield "label", snake(label), {"label": label}
        after = element.getnext()
        if label and guess_kind([label]).kind == "text" and _value_after(element, after):
            # any pair of elements, label then value (<div class="k">Rent</div><div class="v">)
            xpath = f"//*[normalize-space()={_literal(text)}]/following-sibling::*[1]"
            yield "label", snake(label), {"xpath": xpath}


def breadcrumb_candidates(selector: Selector) -> Iterable[tuple[str, str, dict[str, str]]]:
    """The categories of a breadcrumb trail (a list whose class, id or label names it): every
    item but the first (home) and the last (the page itself): ``category``, ``category_2``..."""
    trails = selector.xpath(
        "//*[self::ul or self::ol][contains(@class, 'breadcrumb') or contains(@id, 'breadcrumb')"
        " or contains(@aria-label, 'readcrumb')]"
    )
    for trail in trails[:1]:
        items = trail.xpath("./li")
        part = _part(trail.root)
        for number in range(2, len(items)):
            name = "category" if number == 2 else f"category_{number - 1}"
            yield "breadcrumb", name, {"css": f"{part} > li:nth-of-type({number})"}


def list_candidates(selector: Selector) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """A list of short values (``<ul class="tags"><li>travel</li>...``): a ``many: true``
    field of its items; not a menu nor a breadcrumb, not a list of label/value pairs."""
    for element in _elements(selector):
        if element.tag not in ("ul", "ol") or any(
            a.tag in ("nav", "header", "footer") for a in element.iterancestors()
        ):
            continue
        part = _part(element)
        items = [c for c in element if isinstance(c.tag, str)]
        if part == element.tag or "breadcrumb" in part or not items:
            continue
        if all(c.tag == "li" and _is_value_element(c) and len(c) < 2 for c in items):
            name = snake(_short(part.split(".", 1)[-1].split("#", 1)[-1]))
            yield "list", name, {"css": f"{part} > li", "many": True}


def _part(element: Any) -> str:
    ident = element.get("id") or ""
    if _CSS_NAME.match(ident):
        return f"{element.tag}#{ident}"
    names = [c for c in (element.get("class") or "").split() if _CSS_NAME.match(c)]
    return f"{element.tag}." + ".".join(names) if names else str(element.tag)


def _flatten(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("@") or not _CSS_NAME.match(key) or path.count(".") > 2:
                continue
            yield from _flatten(inner, f"{path}.{key}")
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield path, str(value)


def metadata_candidates(page: Page) -> Iterable[tuple[str, str, dict[str, str]]]:
    """``(how, name, selector)`` of every scalar in the page's JSON-LD and microdata objects."""
    for syntax in ("json-ld", "microdata"):
        try:
            objects = page.metadata(syntax).get()
        except Exception:  # metadata extruct cannot read gives no candidate
            objects = None
        for type_name, value in (objects or {}).items():
            if not _CSS_NAME.match(type_name):
                continue
            for path, _ in _flatten(value, type_name):
                rest = path.split(".", 1)[1].replace(".", "_")
                generic = rest in GENERIC_KEYS  # Book.name -> book_name, not name
                name = snake(f"{type_name}_{rest}" if generic else rest)
                yield "metadata", name, {"metadata": syntax, "jmespath": path}


def field_values(
    name: str, selector: Mapping[str, str], parsed: Sequence[tuple[Selector, Page]]
) -> tuple[str | None, ...] | None:
    """The candidate's value (after its ``regex``) in each scope (a page, or a card of
    ``page``); ``None`` when it matches several nodes in one."""
    spec = FieldSpec.model_validate(dict(selector))
    extractor = FieldExtractor(name, spec)
    out: list[str | None] = []
    for selector_, page in parsed:
        try:
            matches = extractor.matches(selector_, page.url, page)
        except Exception:  # a candidate a page cannot run is no candidate
            return None
        if len(matches) > 1 and not spec.many:
            return None
        if spec.many:  # every item, shown joined (the spec keeps them as a JSON array)
            out.append(" | ".join(matches) or None)
            continue
        value = extractor.value(matches, page.url) if matches else None
        out.append(value if isinstance(value, str) and len(value) <= MAX_VALUE else None)
    return tuple(out)


def _covered(values: Sequence[str | None], by: Sequence[str | None]) -> bool:
    return all(v is None or fold(v) == fold(b) for v, b in zip(values, by, strict=True))


def choose(candidates: Iterable[DraftField], pages: int) -> list[DraftField]:
    """The kept candidates (see the module docstring), most present and stable first, each
    named uniquely and typed."""
    candidates = list(candidates)
    position = {c.text: i for i, c in reversed(list(enumerate(candidates)))}
    ranked = sorted(
        (c for c in candidates if c.presence >= PRESENCE or c.how == "example"),
        key=lambda c: (c.how != "example", -c.presence, PRIORITY[c.how], len(c.text)),
    )
    kept: list[DraftField] = []
    for candidate in ranked:
        shown = {fold(v) for v in candidate.values if v is not None}
        loose = candidate.how in ("class", "id") or "xpath" in candidate.selector
        chrome = loose and pages > 2 and len(shown) < 2
        if chrome and guess_kind(candidate.values).kind in ("text", "int", "number", "bool"):
            continue  # the same text on every page: site chrome (a shared price or date stays)
        if any(_covered(candidate.values, k.values) for k in kept):
            continue
        kept.append(candidate)
    kept.sort(key=lambda c: position[c.text])  # the order the pages show them in
    typed: list[DraftField] = []
    for c in kept:
        own = c.how in ("title", "example", "list")
        typed += split_ranges(
            DraftField(
                c.name, c.selector, c.how, c.values, c.guess if own else guess_kind(c.values)
            )
        )
    names: set[str] = set()
    out = []
    for candidate in typed:
        name, number = candidate.name, 2
        while name in names:
            name, number = f"{candidate.name}_{number}", number + 1
        names.add(name)
        out.append(
            DraftField(name, candidate.selector, candidate.how, candidate.values, candidate.guess)
        )
    return out


def split_ranges(draft: DraftField) -> list[DraftField]:
    """A price field that shows a range on some pages (a shop's prices beside a job board's
    pay): two fields on the same selector, the single amounts (``price``) and the ranges
    (``<name>_range``), each with the ``regex`` that keeps only its own."""
    ranges = [bool(v and is_range(v)) for v in draft.values]
    prices = [bool(v and not r) for v, r in zip(draft.values, ranges, strict=True)]
    if draft.guess.kind not in ("price", "range") or "regex" in draft.selector:
        return [draft]
    if (
        sum(ranges) < 2
        or sum(prices) < 2
        or guess_kind([v for v, p in zip(draft.values, prices, strict=True) if p]).kind != "price"
    ):
        return [draft]
    singles = tuple(None if r else v for v, r in zip(draft.values, ranges, strict=True))
    spans = tuple(v if r else None for v, r in zip(draft.values, ranges, strict=True))
    return [
        DraftField(
            draft.name, {**draft.selector, "regex": SINGLE}, draft.how, singles, Guess("price")
        ),
        DraftField(
            f"{draft.name}_range",
            {**draft.selector, "regex": SPAN},
            draft.how,
            spans,
            Guess("range"),
        ),
    ]


def parse_pages(pages: Sequence[SamplePage]) -> list[tuple[Selector, Page]]:
    parsed = []
    for sample in pages:
        selector = Selector(text=sample.html)
        parsed.append((selector, Page(selector, sample.url)))
    return parsed


def evaluate(
    found: Iterable[tuple[str, str, Mapping[str, str]]], parsed: Sequence[tuple[Selector, Page]]
) -> list[DraftField]:
    """Each distinct candidate ``(how, name, selector)`` with its value on every page; those
    matching several nodes on a page are left out."""
    seen: dict[str, DraftField] = {}
    for how, name, selector in found:
        draft = DraftField(name, selector, how)
        if draft.text in seen and PRIORITY[seen[draft.text].how] <= PRIORITY[how]:
            continue
        seen[draft.text] = draft
    out = []
    for draft in seen.values():
        values = field_values(draft.name, draft.selector, parsed)
        if values is not None:
            out.append(DraftField(draft.name, draft.selector, draft.how, values))
    return out


def find_fields(pages: Sequence[SamplePage], extra: Iterable[DraftField] = ()) -> list[DraftField]:
    """The fields of item pages ``pages`` (see the module docstring); ``extra``: candidates
    found otherwise (the title, the user's examples), evaluated already."""
    parsed = parse_pages(pages)
    found: list[tuple[str, str, Mapping[str, str]]] = []
    for selector, page in parsed:
        found += breadcrumb_candidates(selector)
        found += list_candidates(selector)
        found += element_candidates(selector)
        found += metadata_candidates(page)
    return choose([*extra, *evaluate(found, parsed)], len(pages))
