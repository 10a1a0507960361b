"""The built-in field kinds, registered when :mod:`harvest.fields` is imported: ``text``,
``url``, ``number``, ``int``, ``float``, ``price``, ``range``, ``area``, ``bool``, ``date`` and ``json``
(the column of a ``many: true`` field)."""

from __future__ import annotations

import json
from typing import Any

from harvest.fields.kinds import (
    Comparison,
    ExtraColumn,
    FeatureRole,
    FieldKind,
    Normalisation,
)
from harvest.fields.registry import register
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


# Column types shared by the built-in kinds.
_TEXT: dict[str, Any] = {
    "pandas_dtype": "string",
    "arrow_type_name": "string",
    "sql_type_name": "Text",
    "gx_types": ("str", "string", "StringDtype", "object"),
}
_DECIMAL: dict[str, Any] = {
    "pandas_dtype": "Float64",
    "arrow_type_name": "double",
    "sql_type_name": "Double",
    "gx_types": ("float64", "Float64", "Float64Dtype"),
}
# A decimal number: a numeric feature, compared within a tolerance.
_MEASURE: dict[str, Any] = {
    **_DECIMAL,
    "feature_role": FeatureRole.NUMERIC,
    "normalisation": Normalisation.NUMBER,
    "comparison": Comparison.TOLERANCE,
}

for _kind in (
    FieldKind(
        name="text",
        parse=parse_text,
        **_TEXT,
        feature_role=FeatureRole.CATEGORICAL,
        normalisation=Normalisation.TEXT,
        comparison=Comparison.FOLDED,
    ),
    # a link or an image: text whose value the extraction made absolute against the page's URL
    FieldKind(
        name="url",
        parse=parse_text,
        **_TEXT,
        feature_role=FeatureRole.NONE,
        normalisation=Normalisation.DTYPE,
        comparison=Comparison.EXACT,
    ),
    FieldKind(name="number", parse=parse_number, **_MEASURE),
    FieldKind(
        name="int",
        parse=parse_int,
        pandas_dtype="Int64",
        arrow_type_name="int64",
        sql_type_name="BigInteger",
        gx_types=("int64", "Int64", "Int64Dtype"),
        feature_role=FeatureRole.NUMERIC,
        normalisation=Normalisation.NUMBER,
        comparison=Comparison.EXACT,  # a count or a year: a relative tolerance means nothing
    ),
    FieldKind(name="float", parse=parse_float, **_MEASURE),
    FieldKind(
        name="price",
        parse=parse_price,
        **_MEASURE,
        value=_amount,
        extra_columns=(
            ExtraColumn(
                suffix="currency",
                kind="text",
                value=_currency,
                normalisation=Normalisation.CODE,
            ),
            ExtraColumn(
                suffix="converted",
                kind="number",
                value=None,
                option="convert_to",
                normalisation=Normalisation.NUMBER,
            ),
        ),
        options=("convert_to",),
    ),
    FieldKind(
        name="range",
        parse=parse_range,
        **_TEXT,
        feature_role=FeatureRole.NONE,
        normalisation=Normalisation.DTYPE,
        comparison=Comparison.EXACT,
        value=_stated,
        extra_columns=(
            ExtraColumn(suffix="min", kind="number", value=_minimum),
            ExtraColumn(suffix="max", kind="number", value=_maximum),
            ExtraColumn(suffix="currency", kind="text", value=_currency),
            ExtraColumn(suffix="period", kind="text", value=_period),
        ),
    ),
    FieldKind(name="area", parse=parse_area, **_MEASURE),
    FieldKind(
        name="bool",
        parse=parse_bool,
        pandas_dtype="boolean",
        arrow_type_name="bool",
        sql_type_name="Boolean",
        gx_types=("bool", "boolean", "BooleanDtype"),
        feature_role=FeatureRole.FLAG,
        normalisation=Normalisation.BOOL,
        comparison=Comparison.EXACT,
    ),
    FieldKind(
        name="date",
        parse=parse_date,
        pandas_dtype="object",
        arrow_type_name="date32",
        sql_type_name="Date",
        gx_types=("date", "NoneType"),
        feature_role=FeatureRole.DATE,
        normalisation=Normalisation.DATE,
        comparison=Comparison.SAME_DAY,
        options=("formats", "languages", "date_order"),
    ),
    FieldKind(
        name=MANY_KIND,
        parse=parse_json_array,
        **(_TEXT | {"sql_type_name": "JSON"}),
        sql_dialect_types={"postgresql": "JSONB"},
        feature_role=FeatureRole.NONE,
        normalisation=Normalisation.DTYPE,
        comparison=Comparison.EXACT,
    ),
):
    register(_kind)
del _kind
