"""Running a spec's selectors on a page: HTML (CSS, XPath), JSON (JMESPath) and embedded metadata.

One implementation for the crawl and for ``preview``. parsel does the selecting (a JSON page, a
JSON card and a ``<script>`` text all answer ``jmespath``); extruct reads JSON-LD and microdata.
A selector in the wrong language for the page (CSS on a JSON page, JMESPath on HTML) raises
:class:`WrongPageType`, which says what the page is and what the spec should use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from parsel import Selector, SelectorList

from harvest.errors import HarvestError
from harvest.text import collapse_whitespace


class SelectorParts(Protocol):
    """A selector's parts (:class:`~harvest.config.selectors.SelectorSpec`, a field's spec)."""

    @property
    def css(self) -> str | None: ...
    @property
    def xpath(self) -> str | None: ...
    @property
    def metadata(self) -> str | None: ...
    @property
    def jmespath(self) -> str | None: ...


class WrongPageType(HarvestError, ValueError):
    """A selector of one language used on a page of another (CSS on JSON, JMESPath on HTML)."""

    retryable = False


class Page:
    """What the selectors of one page share: its URL and, computed once when asked for, its
    embedded metadata (extruct) as a JSON selector per syntax."""

    def __init__(self, selector: Selector, url: str) -> None:
        self.selector = selector
        self.url = url
        self._metadata: dict[str, Selector] = {}

    @property
    def is_json(self) -> bool:
        return self.selector.type == "json"

    def metadata(self, syntax: str) -> Selector:
        """The page's ``json-ld`` or ``microdata`` objects keyed by ``@type`` (the first of
        each type; a ``@graph`` is opened), as a JSON selector."""
        if syntax not in self._metadata:
            if self.is_json:
                raise WrongPageType(f"{self.url} is a JSON page: it has no embedded {syntax}")
            self._metadata[syntax] = Selector(
                root=_metadata(self.selector, syntax, self.url), type="json"
            )
        return self._metadata[syntax]


def _type_name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    return value.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _metadata(selector: Selector, syntax: str, url: str) -> dict[str, Any]:
    from extruct.jsonld import JsonLdExtractor
    from extruct.w3cmicrodata import MicrodataExtractor

    keyed: dict[str, Any] = {}
    if syntax == "json-ld":
        found: list[Any] = []
        for item in JsonLdExtractor().extract_items(selector.root):
            found += item.get("@graph", [item]) if isinstance(item, dict) else item
        for item in found:
            name = _type_name(item.get("@type")) if isinstance(item, dict) else None
            if name:
                keyed.setdefault(name, item)
    else:
        for item in MicrodataExtractor().extract_items(selector.root, url):
            name = _type_name(item.get("type"))
            if name:
                keyed.setdefault(name, item.get("properties", {}))
    return keyed


def select(spec: SelectorParts, scope: Selector, page: Page) -> SelectorList[Selector]:
    """The matches of ``spec`` in ``scope`` (the page's selector, or a card)."""
    if spec.metadata:
        selection: SelectorList[Selector] = SelectorList([page.metadata(spec.metadata)])
    elif spec.css is not None or spec.xpath is not None:
        if scope.type == "json":
            what = f"css {spec.css!r}" if spec.css is not None else f"xpath {spec.xpath!r}"
            raise WrongPageType(
                f"{page.url} is JSON but the selector is {what}: read JSON with 'jmespath: ...'"
            )
        selection = scope.css(spec.css) if spec.css is not None else scope.xpath(str(spec.xpath))
    else:
        selection = SelectorList([scope])
    if spec.jmespath is None:
        return selection
    if selection and all(s.type != "json" and not isinstance(s.root, str) for s in selection):
        raise WrongPageType(
            f"{page.url} is an HTML page but jmespath {spec.jmespath!r} reads JSON: select the "
            "JSON first ('css: script#data::text' then jmespath, or 'metadata: json-ld')"
        )
    try:
        return selection.jmespath(spec.jmespath)
    except ValueError as exc:  # text that is not JSON
        raise WrongPageType(f"{page.url}: jmespath {spec.jmespath!r}: {exc}") from None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return collapse_whitespace(str(value))
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def texts(selection: SelectorList[Selector]) -> list[str]:
    """The text of each match, whitespace-normalised, blanks left out: an element's whole text
    (every text node under it), a text node or attribute as it is, an XPath number (``count()``:
    ``3``, not ``3.0``) or string, a JSON value (an object or array as JSON text)."""
    out = []
    for match in selection:
        root = match.root
        if match.type == "json" or not hasattr(root, "tag"):
            if isinstance(root, str) and match.type != "json":
                text = collapse_whitespace(root)
            else:
                text = _json_text(root)
        else:
            text = collapse_whitespace(" ".join(match.xpath(".//text()").getall()))
        if text:
            out.append(text)
    return out


def hrefs(selection: SelectorList[Selector]) -> list[str]:
    """The link each match stands for: an element's ``href`` (``<a>``, ``<link>``), or the
    string it is (``a::attr(href)``, a JSON string such as ``next``); duplicates kept."""
    out = []
    for match in selection:
        root = match.root
        if hasattr(root, "tag"):
            href = match.attrib.get("href")
        elif isinstance(root, str):
            href = root
        else:
            href = None
        href = (href or "").strip()
        if href:
            out.append(href)
    return out


def _literal(text: str) -> str:
    """``text`` as an XPath string literal (``concat()`` when it holds both quote kinds)."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in text.split("'")) + ")"


LABEL_TAGS = ("strong", "b", "em", "label", "span", "th", "dt", "td")


def label_values(scope: Selector, label: str) -> list[str]:
    """The values shown beside ``label`` (matched whole, whitespace-normalised, an ending ``:``
    optional, any case) in ``scope``: a ``<th>``'s next ``<td>``, a ``<dt>``'s next ``<dd>``,
    a two-cell row's second cell, or the text after an inline label in its parent
    (``<strong>Published:</strong> June 21, 2024``)."""
    wanted = _literal(label.strip().rstrip(":").strip().lower())
    upper, lower = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
    text = f"translate(normalize-space(), '{upper}', '{lower}')"
    named = f"({text} = {wanted} or {text} = concat({wanted}, ':'))"
    tags = " or ".join(f"self::{t}" for t in LABEL_TAGS)
    out: list[str] = []
    for element in scope.xpath(f".//*[({tags}) and {named}]"):
        tag = element.root.tag
        follower = {"th": "td", "dt": "dd", "td": "td"}.get(tag)
        if follower is not None:
            out += texts(element.xpath(f"following-sibling::{follower}[1]"))
            continue
        parent = element.xpath("..")
        whole = texts(parent)
        own = texts(SelectorList([element]))
        if whole and own and whole[0].startswith(own[0]):
            rest = collapse_whitespace(whole[0][len(own[0]) :])
            if rest:
                out.append(rest.lstrip(":").strip() or rest)
    return out


def header_values(row: Selector, header: str) -> list[str]:
    """The cell of table row ``row`` under the column headed ``header`` (whitespace-normalised,
    any case): the header row is the table's first row with ``<th>`` cells; cells are counted
    without ``colspan``."""
    wanted = collapse_whitespace(header) or ""
    heads = row.xpath("ancestor::table[1]//tr[th][1]/th")
    names = [
        (collapse_whitespace(" ".join(h.xpath(".//text()").getall())) or "").lower() for h in heads
    ]
    if wanted.lower() not in names:
        return []
    index = names.index(wanted.lower()) + 1
    return texts(row.xpath(f"(td|th)[{index}]"))


Extract = Callable[[Selector, Page], list[str]]
