"""Field extraction: one implementation for the crawl and for ``python -m harvest preview``.

Each field of a spec becomes a :class:`FieldExtractor` built on Scrapy's ``itemloaders``
processors: the selector's matches (an element's whole text, a text node, an attribute) go
through ``MapCompose`` (whitespace normalised, ``regex``, ``map``) and then ``TakeFirst`` (or
every value with ``many: true``), and ``default`` stands in when nothing is left. The processors
are built once per spec, not once per page, so extraction costs little more than the selectors.

A field's value is a string (the parser of its kind reads it later, in
:mod:`harvest.records`), a list of strings for ``many: true``, or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from itemloaders.processors import Identity, MapCompose, TakeFirst
from parsel import Selector, SelectorList

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.selection import Page, WrongPageType, header_values, label_values, select, texts
from harvest.text import collapse_whitespace

FieldValue = str | list[str] | None
"""A field's extracted value: a string, every string (``many: true``), or ``None``."""


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

    def __init__(self, name: str, spec: FieldSpec) -> None:
        self.name = name
        self.spec = spec
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
        return texts(select(spec, selector, page or Page(selector, url)))

    def value(self, matches: list[str], url: str | None = None) -> FieldValue:
        """The field's value from its matches: processed, first or all, else the default; a
        ``url`` field's value joined to ``url`` (the page's)."""
        values = self._input(matches)
        if self._absolute and url:
            values = [urljoin(url, v) for v in values]
        result: FieldValue = list(values) if self.spec.many else self._output(values)
        if result is None or result == []:
            return [self._default] if self.spec.many and self._default else self._default
        return result

    def extract(self, selector: Selector, url: str, page: Page | None = None) -> FieldValue:
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
    """Every field of a spec, split by where it is read: the item page (and its URL), or a card."""

    def __init__(self, spec: SourceSpec) -> None:
        fields = spec.detail.fields
        self.page = [FieldExtractor(n, f) for n, f in fields.items() if f.from_ != "card"]
        self.card = [FieldExtractor(n, f) for n, f in fields.items() if f.from_ == "card"]
        self.url = [e for e in self.page if e.spec.from_ == "url"]

    @staticmethod
    def _extract(
        extractors: Iterable[FieldExtractor], selector: Selector, url: str, page: Page | None
    ) -> dict[str, FieldValue]:
        page = page or Page(selector, url)
        return {e.name: e.extract(selector, url, page) for e in extractors}

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
