"""Field kinds, declared once: what a spec's ``parser: <kind>`` means on every floor.

A :class:`FieldKind` holds, for one kind of field (``text``, ``price``, ``area``...), its parser,
the pandas dtype of its column in the typed records, the Arrow and SQL types it is staged and
stored as, the dtype names Great Expectations may report for it, and the columns it adds beside
the field's own (a ``price`` field ``rent`` also fills ``rent_currency``). The spec validates
parser names against this registry; record parsing, normalisation, imputation, the validation
suite and the warehouse look the kind up here. Adding a kind is one :func:`register` call.

This module sits below config: it imports only the standard library and :mod:`harvest.parsers`
(pyarrow and SQLAlchemy are imported when a type is asked for, not at DAG parse time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from harvest.parsers import (
    Money,
    Range,
    Unparseable,
    parse_area,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_number,
    parse_price,
    parse_range,
    parse_text,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

Parser = Callable[[str | None], object]
"""A string (or ``None``) to a typed value, or a :class:`harvest.parsers.Unparseable`; never raises."""


class UnknownFieldKind(KeyError):
    """A field kind (parser name) that is not registered; the message lists the known ones."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown parser {self.name!r}; known parsers: {', '.join(sorted(_KINDS))}"


@dataclass(frozen=True)
class ExtraColumn:
    """A column a kind fills beside the field's own: ``<field>_<suffix>``, of kind ``kind``,
    holding ``value(parsed)`` for each parsed value.

    An extra column with an ``option`` exists only when the field sets that option, and is named
    after the option's value (``convert_to: EUR`` on ``price`` adds ``price_eur``); its ``value``
    is ``None``: the step that owns the option fills it (conversion, in :mod:`harvest.records`).
    """

    suffix: str
    kind: str
    value: Callable[[Any], object] | None
    option: str | None = None

    def column(self, field: str, options: Mapping[str, Any] | None = None) -> str:
        if self.option is not None:
            return f"{field}_{str((options or {})[self.option]).lower()}"
        return f"{field}_{self.suffix}"

    def applies(self, options: Mapping[str, Any] | None) -> bool:
        """Whether a field with these options has this column."""
        return self.option is None or (options or {}).get(self.option) is not None


@dataclass(frozen=True)
class FieldKind:
    """One kind of field: its parser and its type on every floor (see the module docstring).

    ``arrow_type_name`` is a pyarrow type alias (``double``, ``date32``); ``sql_type_name`` a
    SQLAlchemy generic type (``Double``, ``Date``). ``value`` turns a parsed value into the
    field's own column value (a price's amount); ``None`` keeps the parsed value as it is.
    """

    name: str
    parse: Parser
    pandas_dtype: str
    arrow_type_name: str
    sql_type_name: str
    gx_types: tuple[str, ...]
    value: Callable[[Any], object] | None = None
    extra_columns: tuple[ExtraColumn, ...] = ()
    options: tuple[str, ...] = ()
    """Spec keys of a field that this kind takes: parser keywords (``formats``, ``languages``)
    and the options of its extra columns (``convert_to``)."""

    def parser(self, **options: Any) -> Parser:
        """The kind's parser with the field's parser options (the ``None`` ones left out)."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - set(self.options)
        if unknown:
            raise ValueError(
                f"parser {self.name!r} takes no {', '.join(sorted(unknown))} option"
                + (f" (it takes {', '.join(self.options)})" if self.options else "")
            )
        keywords = {k: v for k, v in given.items() if not self._column_option(k)}
        return partial(self.parse, **keywords) if keywords else self.parse

    def _column_option(self, name: str) -> bool:
        return any(extra.option == name for extra in self.extra_columns)

    @property
    def numeric(self) -> bool:
        """Whole or decimal numbers (compared with a tolerance, imputed by median)."""
        return self.pandas_dtype in ("Int64", "Float64")

    @property
    def decimal(self) -> bool:
        """Decimal numbers (``Float64``): de-duplication compares them with a tolerance."""
        return self.pandas_dtype == "Float64"

    def arrow_type(self) -> pa.DataType:
        """The Arrow type the warehouse stages this kind's values as."""
        import pyarrow as pa

        return pa.type_for_alias(self.arrow_type_name)

    def sql_type(self) -> type[sa.types.TypeEngine[Any]]:
        """The SQLAlchemy column type the warehouse stores this kind as."""
        import sqlalchemy as sa

        sql_type: type[sa.types.TypeEngine[Any]] = getattr(sa, self.sql_type_name)
        return sql_type

    def columns(self, field: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The columns a field of this kind fills and their kinds: ``{field: name}`` then one
        per extra column its ``options`` call for
        (``{"rent": "price", "rent_currency": "text", "rent_eur": "number"}``)."""
        extras = {
            e.column(field, options): e.kind for e in self.extra_columns if e.applies(options)
        }
        return {field: self.name, **extras}

    def extra_column(self, field: str, suffix: str) -> str:
        """The name of the extra column ``suffix`` of ``field``; ``KeyError`` if the kind has none."""
        for extra in self.extra_columns:
            if extra.suffix == suffix:
                return extra.column(field)
        raise KeyError(f"field kind {self.name!r} adds no {suffix!r} column")


_KINDS: dict[str, FieldKind] = {}


def register(kind: FieldKind) -> FieldKind:
    """Add a field kind; a name already taken raises ``ValueError`` (unregister it first)."""
    if kind.name in _KINDS:
        raise ValueError(f"field kind {kind.name!r} is already registered")
    for extra in kind.extra_columns:
        if extra.kind not in _KINDS:
            raise UnknownFieldKind(extra.kind)
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a field kind (for tests that register a throwaway one)."""
    if _KINDS.pop(name, None) is None:
        raise UnknownFieldKind(name)


def field_kind(name: str) -> FieldKind:
    """The registered kind called ``name``; :class:`UnknownFieldKind` lists the known names."""
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownFieldKind(name) from None


def kind_names() -> frozenset[str]:
    """The names a spec may give as a field's ``parser``."""
    return frozenset(_KINDS)


MANY_KIND = "json"
"""The kind of a ``many: true`` field's column: a JSON array of its parsed values, as text."""


def parse_json_array(text: str | None) -> str | Unparseable:
    """A JSON array as text (``'["A", "B"]'``), checked and re-written compactly."""
    if text is None or not text.strip():
        return Unparseable("empty")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return Unparseable(f"not JSON: {exc}")
    if not isinstance(value, list):
        return Unparseable(f"not a JSON array: {text[:60]!r}")
    return json.dumps(value, ensure_ascii=False)


def _amount(money: Money) -> float:
    return money.amount


def _currency(money: Money | Range) -> str | None:
    return money.currency


def _stated(stated: Range) -> str:
    return stated.text


def _minimum(stated: Range) -> float:
    return stated.minimum


def _maximum(stated: Range) -> float:
    return stated.maximum


def _period(stated: Range) -> str | None:
    return stated.period


_DECIMAL_GX = ("float64", "Float64", "Float64Dtype")

for _kind in (
    FieldKind(
        "text", parse_text, "string", "string", "Text", ("str", "string", "StringDtype", "object")
    ),
    # url: text whose value the extraction made absolute against the page's URL (a link's href,
    # an image's src); kept as written otherwise
    FieldKind(
        "url", parse_text, "string", "string", "Text", ("str", "string", "StringDtype", "object")
    ),
    FieldKind("number", parse_number, "Float64", "double", "Double", _DECIMAL_GX),
    FieldKind("int", parse_int, "Int64", "int64", "BigInteger", ("int64", "Int64", "Int64Dtype")),
    FieldKind("float", parse_float, "Float64", "double", "Double", _DECIMAL_GX),
    FieldKind(
        "price",
        parse_price,
        "Float64",
        "double",
        "Double",
        _DECIMAL_GX,
        value=_amount,
        extra_columns=(
            ExtraColumn("currency", "text", _currency),
            ExtraColumn("converted", "number", None, option="convert_to"),
        ),
        options=("convert_to",),
    ),
    FieldKind(
        "range",
        parse_range,
        "string",
        "string",
        "Text",
        ("str", "string", "StringDtype", "object"),
        value=_stated,
        extra_columns=(
            ExtraColumn("min", "number", _minimum),
            ExtraColumn("max", "number", _maximum),
            ExtraColumn("currency", "text", _currency),
            ExtraColumn("period", "text", _period),
        ),
    ),
    FieldKind("area", parse_area, "Float64", "double", "Double", _DECIMAL_GX),
    FieldKind(
        "bool", parse_bool, "boolean", "bool", "Boolean", ("bool", "boolean", "BooleanDtype")
    ),
    FieldKind(
        "date",
        parse_date,
        "object",
        "date32",
        "Date",
        ("date", "NoneType"),
        options=("formats", "languages"),
    ),
    FieldKind(
        MANY_KIND,
        parse_json_array,
        "string",
        "string",
        "Text",
        ("str", "string", "StringDtype", "object"),
    ),
):
    register(_kind)
del _kind
