"""Field extraction: one implementation for the crawl and for ``python -m harvest preview``.

Each field of a spec becomes a :class:`FieldExtractor` built on Scrapy's ``itemloaders``
processors: the selector's matches (an element's whole text, a text node, an attribute) go
through ``MapCompose`` (whitespace normalised, ``regex``, ``map``) and then ``TakeFirst`` (or
every value with ``many: true``), and ``default`` stands in when nothing is left. The processors
are built once per spec, not once per page, and so are plain CSS/XPath selectors (one compiled
lxml XPath per field, read on an HTML page's tree directly), so extraction costs less than
``css().get()`` per field.

A field's value is a string (the parser of its kind reads it later, in
:mod:`harvest.records`), a list of strings for ``many: true``, or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from itemloaders.processors import Identity, MapCompose, TakeFirst
from lxml import etree
from parsel import Selector, SelectorList
from parsel.csstranslator import HTMLTranslator

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.selection import Page, WrongPageType, header_values, label_values, select, texts
from harvest.text import collapse_whitespace

FieldValue = str | list[str] | None
"""A field's extracted value: a string, every string (``many: true``), or ``None``."""
Unmatched = Callable[[str, str, str], None]
"""Told of a field whose selector found text its ``regex`` matched none of: ``(field, URL of
the page, the first string found)``."""


# The XPath extension namespaces parsel gives every query (EXSLT regular expressions and sets).
_NAMESPACES = {"re": "http://exslt.org/regular-expressions", "set": "http://exslt.org/sets"}
_TEXTS = etree.XPath(".//text()", smart_strings=False)
_CSS = HTMLTranslator()


def compiled_query(spec: FieldSpec) -> etree.XPath | None:
    """A field's plain CSS or XPath selector (no ``jmespath``, ``metadata``, ``label`` or
    ``header``) as one compiled XPath, CSS translated as parsel does (``::text``,
    ``::attr()``), to read on an HTML page's lxml tree without a parsel ``Selector`` per match;
    ``None`` for any other field or a selector that does not compile (parsel then says why)."""
    if spec.from_ == "url" or spec.jmespath or spec.metadata or spec.label or spec.header:
        return None
    if spec.css is None and spec.xpath is None:
        return None
    try:
        query = _CSS.css_to_xpath(spec.css) if spec.css is not None else str(spec.xpath)
        namespaces = {p: uri for p, uri in _NAMESPACES.items() if f"{p}:" in query}
        return etree.XPath(query, namespaces=namespaces, smart_strings=False)
    except Exception:  # any bad selector: parsel's own path raises its error
        return None


def compiled_texts(query: etree.XPath, root: etree._Element) -> list[str] | None:
    """:func:`harvest.selection.texts` of a compiled query's matches on ``root``: an element's
    whole text, a text node, attribute or string as it is, blanks left out; ``None`` when a
    match is anything else (an XPath number or boolean: the parsel path reads those)."""
    result = query(root)
    out = []
    for value in result if isinstance(result, list) else [result]:
        if isinstance(value, str):
            text = collapse_whitespace(value)
        elif isinstance(value, etree._Element) and isinstance(value.tag, str):
            text = collapse_whitespace(" ".join(_TEXTS(value)))
        else:
            return None
        if text:
            out.append(text)
    return out


def element_texts(selection: SelectorList[Selector]) -> list[str]:
    """The text of each match (:func:`harvest.selection.texts`)."""
    return texts(selection)


def _map_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldTrace:
    """What extracting one field did, for ``preview``: the selector, the strings it matched,
    the value after ``regex``/``map``/``default``, and why it is empty when it is."""

    name: str
    selector: str
    matches: list[str]
    value: FieldValue
    problem: str | None


class FieldExtractor:
    """One field's extraction (see the module docstring); build once, call per page or card."""

    def __init__(self, name: str, spec: FieldSpec, unmatched: Unmatched | None = None) -> None:
        self.name = name
        self.spec = spec
        self.unmatched = unmatched  # told when the regex matched none of the strings found
        self._regex = re.compile(spec.regex) if spec.regex else None
        self._map = {k: _map_text(v) for k, v in (spec.map or {}).items()}
        steps: list[Any] = [collapse_whitespace]
        if self._regex is not None:
            steps.append(self._apply_regex)
        if self._map:
            steps.append(self._apply_map)
        self._input = MapCompose(*steps)
        self._output = Identity() if spec.many else TakeFirst()
        self._default = None if spec.default is None else _map_text(spec.default)
        self._absolute = spec.kind == "url"
        self._query = compiled_query(spec)
        # its value is its first match as it is (the processors would give back the same
        # whitespace-collapsed strings): :meth:`extract` skips them
        self._first_as_is = not spec.many and self._regex is None and not self._map
        self._first_as_is = self._first_as_is and not self._absolute and self._query is not None

    def _apply_regex(self, text: str) -> str | None:
        assert self._regex is not None  # noqa: S101 - only added as a step with a regex
        match = self._regex.search(text)
        if match is None:
            return None
        groups = [g for g in match.groups() if g is not None]
        return collapse_whitespace(groups[0] if groups else match.group(0))

    def _apply_map(self, text: str) -> str:
        return self._map.get(text, text)

    def matches(self, selector: Selector, url: str, page: Page | None = None) -> list[str]:
        """The strings the field's selector finds in ``selector`` (or the URL, ``from: url``);
        ``page``: the page ``selector`` is on or in (its embedded metadata, shared by the
        fields; default: ``selector`` is the page). Raises
        :class:`~harvest.selection.WrongPageType` for a selector of the wrong language."""
        spec = self.spec
        if spec.from_ == "url":
            return [url]
        if spec.label is not None:
            return label_values(selector, spec.label)
        if spec.header is not None:
            return header_values(selector, spec.header)
        if self._query is not None and selector.type == "html" and hasattr(selector.root, "tag"):
            found = compiled_texts(self._query, selector.root)  # the same strings, no wrappers
            if found is not None:
                return found
        return texts(select(spec, selector, page or Page(selector, url)))

    def value(self, matches: list[str], url: str | None = None) -> FieldValue:
        """The field's value from its matches: processed, first or all, else the default; a
        ``url`` field's value joined to ``url`` (the page's)."""
        values = self._input(matches)
        if not values and matches and self._regex is not None and self.unmatched and url:
            self.unmatched(self.name, url, matches[0])
        if self._absolute and url:
            values = [urljoin(url, v) for v in values]
        result: FieldValue = list(values) if self.spec.many else self._output(values)
        if result is None or result == []:
            return [self._default] if self.spec.many and self._default else self._default
        return result

    def extract(self, selector: Selector, url: str, page: Page | None = None) -> FieldValue:
        if self._first_as_is and selector.type == "html" and hasattr(selector.root, "tag"):
            found = compiled_texts(self._query, selector.root)
            if found is not None:  # what value() gives: the first string, else the default
                return found[0] if found else self._default
        return self.value(self.matches(selector, url, page), url)

    def trace(self, selector: Selector, url: str, page: Page | None = None) -> FieldTrace:
        try:
            matches = self.matches(selector, url, page)
        except WrongPageType as exc:
            return FieldTrace(self.name, self.spec.selector, [], None, str(exc))
        value = self.value(matches, url)
        problem = None
        if not matches:
            problem = "the selector matched nothing"
        elif not self._input(matches):
            problem = f"regex {self.spec.regex!r} matched none of the strings"
        if problem and value is not None:
            problem += f"; default {self.spec.default!r} used"
        return FieldTrace(self.name, self.spec.selector, matches, value, problem)


class Extractor:
    """Every field of a spec, split by where it is read: the item page (and its URL), or a card;
    ``unmatched`` is told of each page or card where a field's ``regex`` matched none of the
    text its selector found (:data:`Unmatched`; the crawl counts them), unless a field of the
    same selector read a value there: fields sharing one element split its text by their
    regexes (a price and a pay range), the text is not lost."""

    def __init__(self, spec: SourceSpec, unmatched: Unmatched | None = None) -> None:
        self._unmatched = unmatched
        self._missed: list[tuple[str, str, str]] = []  # (field, URL, text) of the page being read
        told = self._missed_one if unmatched is not None else None
        fields = [FieldExtractor(n, f, told) for n, f in spec.detail.fields.items()]
        self.page = [e for e in fields if e.spec.from_ != "card"]
        self.card = [e for e in fields if e.spec.from_ == "card"]
        self.url = [e for e in self.page if e.spec.from_ == "url"]
        self._selector = {e.name: (e.spec.from_, e.spec.selector) for e in fields}

    def _missed_one(self, name: str, url: str, text: str) -> None:
        self._missed.append((name, url, text))

    def _extract(
        self, extractors: Iterable[FieldExtractor], selector: Selector, url: str, page: Page | None
    ) -> dict[str, FieldValue]:
        page = page or Page(selector, url)
        self._missed = []  # none left by a page whose extraction raised
        values = {e.name: e.extract(selector, url, page) for e in extractors}
        if self._missed and self._unmatched is not None:
            missed, self._missed = self._missed, []
            for name, at, text in missed:
                where = self._selector[name]
                read = [n for n, v in values.items() if v is not None and n != name]
                if not any(self._selector[n] == where for n in read):
                    self._unmatched(name, at, text)
        return values

    def page_fields(self, selector: Selector, url: str) -> dict[str, FieldValue]:
        """The fields read on an item page (``from: page`` and ``from: url``)."""
        return self._extract(self.page, selector, url, None)

    def card_fields(
        self, card: Selector, url: str, page: Page | None = None
    ) -> dict[str, FieldValue]:
        """The fields read in one card (``from: card``); ``page``: the list page the card is on."""
        return self._extract(self.card, card, url, page)

    def url_fields(self, url: str) -> dict[str, FieldValue]:
        """The ``from: url`` fields of an item known only by its card (``url``: the list page)."""
        return self._extract(self.url, Selector(text=""), url, None)
