"""When a page's text is a field's known value: the comparison form of a stored value and of a
string read through the field's kind.

A known value is what the warehouse holds for the field: its own column (a price's amount, an
area in square metres, a ``datetime.date``, a boolean, a text) and the kind's extra columns that
come from the parsed value (a price's ``<field>_currency``). A string matches when the field's
kind parser (:mod:`harvest.parsers`, with the field's ``formats``/``languages``/``date_order``)
reads it into the same columns: ``1.200 €`` and ``€1,200`` both match a stored 1200 EUR, ``June
21, 2024`` a stored 2024-06-21, ``yes`` a stored ``True``. Texts compare case- and
accent-folded (:func:`harvest.text.fold`, as de-duplication does), numbers to 6 decimals; a
text field with allowed values (``checks.values``) reads a typo of one as that value, as
cleaning stores it (:func:`harvest.canonical.canonical_value`).
No parsing is written here: every reading is the kind's own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Hashable, Mapping
from typing import Any

from harvest.canonical import canonical_value
from harvest.config.spec import FieldSpec
from harvest.fields import field_kind
from harvest.parsers import Unparseable
from harvest.text import collapse_whitespace, fold

Key = tuple[Hashable, ...]
"""The comparison form of a field's value: one item per column (own, then extras)."""

MAX_TEXT = 120
"""Longer strings are not read as a number, price, date or yes/no (a paragraph is no value)."""


def comparable(value: object) -> Hashable | None:
    """The comparison form of one column value; ``None`` for a missing one (``None``, NaN,
    ``pd.NA``, blank text)."""
    if value is None or collapse_whitespace(value) is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        return ("number", round(float(value), 6))
    if isinstance(value, dt.datetime):  # a pandas Timestamp is a datetime
        return ("date", value.date().isoformat())
    if isinstance(value, dt.date):
        return ("date", value.isoformat())
    return ("text", fold(value))


def imputed(value: object) -> frozenset[str]:
    """The field names of a stored row's ``imputed`` column (a JSON list, or a list)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return frozenset()
    return frozenset(str(n) for n in value) if isinstance(value, list | tuple) else frozenset()


class ValueReader:
    """Reads strings and stored rows of one field into :data:`Key` form (cached per string)."""

    def __init__(self, name: str, spec: FieldSpec) -> None:
        self.name = name
        self.spec = spec
        kind = field_kind(spec.kind)
        self._kind = kind
        self._parse = kind.parser(**spec.kind_options)
        self._extras = [e for e in kind.extra_columns if e.value is not None]
        self._text = kind.normalisation == "text"
        self._allowed = spec.checks.values if self._text and spec.checks.values else None
        self._cache: dict[str, Key | None] = {}

    def columns(self) -> list[str]:
        """The stored columns a value of this field is compared on."""
        return [self.name] + [e.column(self.name) for e in self._extras]

    def known(self, row: Mapping[str, Any]) -> Key | None:
        """The key of a stored row (column -> value); ``None`` when the field's own column is
        missing there or holds a value cleaning imputed (the row's ``imputed``: the names of
        those fields, a JSON list): the page did not show it."""
        if self.name in imputed(row.get("imputed")):
            return None
        key = tuple(comparable(row.get(column)) for column in self.columns())
        return None if key[0] is None else key

    def read(self, text: str | None) -> Key | None:
        """The key of a string as the field's kind reads it; ``None`` when it does not parse."""
        text = collapse_whitespace(text)
        if text is None or (not self._text and len(text) > MAX_TEXT):
            return None
        if text not in self._cache:
            parsed = self._parse(text)
            if isinstance(parsed, Unparseable) or parsed is None:
                key = None
            else:
                own = self._kind.value(parsed) if self._kind.value is not None else parsed
                if self._allowed is not None:  # a typo of an allowed value, as cleaning fixes it
                    own = canonical_value(own, self._allowed).value
                extras = [comparable(e.value(parsed)) for e in self._extras if e.value is not None]
                key = (comparable(own), *extras)
                key = None if key[0] is None else key
            self._cache[text] = key
        return self._cache[text]

    def shown(self, row: Mapping[str, Any]) -> str:
        """A stored value as a person reads it in an example (``1200.0 EUR``)."""
        return " ".join(str(row.get(c)) for c in self.columns() if comparable(row.get(c)))
