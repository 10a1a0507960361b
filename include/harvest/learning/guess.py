"""A field's kind guessed from the strings a page sample shows for it (for ``harvest init``).

Every reading is the kind's own parser (:mod:`harvest.parsers`); this module only decides which
kind reads the sample best, most specific first: ``bool`` (every string a yes/no), ``date``
(strings with a day and a year, the ``date_order`` found when they are ambiguous), ``price``
(an amount with a currency), ``range`` (two amounts), ``area`` (a unit of area), ``int`` and
``number`` (the whole string a number), ``int`` with a ``regex`` (one sentence around one
number: ``In stock (22 available)``; not when the numbers count the items, ``Quote number 1.``,
``Paged item 2``, nor when a string of the sample is not that sentence, ``Out of stock``: the
regex would match none of it and the value would be lost, so those stay text), else ``text``. A kind is taken when it reads at least
:data:`SHARE` of the strings (a price shown as "on request" now and then stays a price).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from harvest.fields import field_kind
from harvest.parsers import Unparseable
from harvest.text import yes_no

SHARE = 0.6
_INT = re.compile(r"^[+-]?\d{1,12}$")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_DATE_SHAPE = re.compile(
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
    r"jän|mär|mai|okt|dez|janv|févr|avr|juin|juil|août|déc)[a-zé]*\.?\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"(?<![A-Za-z])\d+(?![A-Za-z])")
_AREA_UNIT = re.compile(r"m²|m2\b|sq\.? ?ft|ft²|sqm\b|square", re.IGNORECASE)
_RANGE = re.compile(r"\d(?:\s*[^\d\s-]{1,3})?\s+(?:-|\u2013|to)\s+\D{0,3}\d")


SINGLE = r"^([^-\u2013]+)$"
"""The regex keeping a single amount (no range) of a field that shows both."""
SPAN = r"^(.+ [-\u2013] .+)$"
"""The regex keeping a range (``$50,000 - $70,000 a year``) of a field that shows both."""


def is_range(text: str) -> bool:
    """Whether ``text`` is a range the ``range`` kind reads (two amounts, spaced dash)."""
    parsed = field_kind("range").parser()(text)
    return bool(_RANGE.search(text)) and parsed is not None and not isinstance(parsed, Unparseable)


@dataclass(frozen=True)
class Guess:
    """A kind and the options it needs (``date_order`` for ambiguous dates)."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)


def _share(strings: Sequence[str], kind: str, **options: Any) -> float:
    parse = field_kind(kind).parser(**options)
    readings = [parse(s) for s in strings]
    return sum(r is not None and not isinstance(r, Unparseable) for r in readings) / len(strings)


def _date(strings: Sequence[str]) -> Guess | None:
    if sum(bool(_DATE_SHAPE.search(s)) for s in strings) < SHARE * len(strings):
        return None
    parse = field_kind("date").parser()
    readings = [parse(s) for s in strings]
    ambiguous = any(isinstance(r, Unparseable) and "ambiguous" in r.reason for r in readings)
    if not ambiguous and _share(strings, "date") >= SHARE:
        return Guess("date")
    for order in ("DMY", "MDY", "YMD"):
        if _share(strings, "date", date_order=order) >= SHARE:
            return Guess("date", {"date_order": order})
    return None


def guess_kind(strings: Sequence[str | None]) -> Guess:
    """The kind (and its options) that reads ``strings`` (a field's value on each page of a
    sample; ``None`` for a page without it) best; ``text`` when none reads :data:`SHARE`."""
    shown = [s for s in strings if s]
    if not shown:
        return Guess("text")
    if all(yes_no(s) is not None for s in shown):
        return Guess("bool")
    if all(_INT.match(s.replace(" ", "")) for s in shown):
        return Guess("int")
    if all(_NUMBER.match(s) for s in shown):
        return Guess("number")
    date = _date(shown)
    if date is not None:
        return date
    ranges = sum(bool(_RANGE.search(s)) for s in shown) >= SHARE * len(shown)
    if ranges and _share(shown, "range") >= SHARE:
        return Guess("range")
    if _share(shown, "price") >= SHARE:
        return Guess("price")
    if any(_AREA_UNIT.search(s) for s in shown) and _share(shown, "area") >= SHARE:
        return Guess("area")
    return _counted(shown) or Guess("text")


def _counted(shown: Sequence[str]) -> Guess | None:
    """``int`` with a ``regex`` when every string is one sentence around one number that
    differs (``In stock (22 available)``); ``None`` when one is not (``Out of stock``: the
    regex would match none of it, its value lost)."""
    templates = Counter(_DIGITS.sub("#", s) for s in shown)
    template, count = templates.most_common(1)[0]
    if template.count("#") != 1 or count < len(shown):
        return None
    numbers = {"".join(_DIGITS.findall(s)) for s in shown if _DIGITS.sub("#", s) == template}
    if len(numbers) < 2 or _numbering(shown, template):
        return None
    parts = [re.escape(p).replace("\\ ", " ") for p in template.split("#")]
    return Guess("int", {"regex": r"(\d+)".join(parts)})


def _numbering(shown: Sequence[str], template: str) -> bool:
    """Whether the one number of the strings reading ``template`` numbers them (every string a
    different number, at least 3, evenly spaced: 1, 2, 3 or 1, 31, 61): a name, not a count."""
    numbers = sorted(int(_DIGITS.findall(s)[0]) for s in shown if _DIGITS.sub("#", s) == template)
    steps = {b - a for a, b in pairwise(numbers)}
    return len(numbers) >= 3 and len(steps) == 1 and 0 not in steps
