"""Normalisation of typed records: one spelling, one unit and one type per field.

Small pure functions on values (:func:`to_date`, :func:`to_bool`, and from
lower floors :func:`harvest.text.collapse_whitespace`, :func:`harvest.text.fold` and
:func:`harvest.canonical.canonical_value`) that accept anything and never raise, and
:func:`normalise_frame`, which applies them to a partition's typed frame as each field's kind
says (:class:`harvest.fields.Normalisation`):

- text is trimmed and inner whitespace collapsed;
- a text field whose spec lists allowed values (``checks.values``, e.g. the cities) is mapped
  onto that list: exactly when the value is equal ignoring case, accents and spacing, and by typo
  correction (rapidfuzz ``ratio`` >= :data:`CANONICAL_MIN_SIMILARITY`) otherwise; every
  correction is recorded, and a value close to no allowed value is kept as written;
- prices keep the amount and currency the page stated (``<field>``, ``<field>_currency``, the
  code upper-cased); a converted column (``convert_to``, filled when records are parsed, see
  :mod:`harvest.currency`) is coerced to a number like the amount;
- areas are already in m² (the ``area`` parser converts square feet); numbers, booleans and dates
  are coerced to their field kind's dtype (a staged Parquet round trip may change them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, assert_never

import numpy as np
import pandas as pd

from harvest.canonical import CANONICAL_MIN_SIMILARITY, canonical_column, map_unique
from harvest.config.spec import SourceSpec
from harvest.fields import Normalisation, field_kind
from harvest.parsers import parse_date
from harvest.text import collapse_whitespace, yes_no


def to_date(value: Any) -> dt.date | None:
    """A ``datetime.date`` from a date, datetime, pandas Timestamp or date string, else ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        parsed = parse_date(value)
        return parsed if isinstance(parsed, dt.date) else None
    return None


def to_bool(value: Any) -> bool | None:
    """A boolean from a boolean or a yes/no string (:func:`harvest.text.yes_no`), else ``None``."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return yes_no(value)
    return None


@dataclass
class Normalised:
    """The normalised frame, and what normalisation changed."""

    frame: pd.DataFrame
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per field, each typo that was corrected and the allowed value it became."""
    corrected: dict[str, int] = field(default_factory=dict)
    """Per field, how many records had a typo corrected."""


def normalise_frame(
    frame: pd.DataFrame,
    spec: SourceSpec,
    *,
    min_similarity: float = CANONICAL_MIN_SIMILARITY,
) -> Normalised:
    """Normalise every spec field of a typed frame (see the module docstring); other columns
    are kept as they are. Returns a new frame; the input is not changed. Normalising twice
    gives the same frame (processed history is normalised again to compare like with like).
    """
    out = frame.copy()
    result = Normalised(out)
    for name, field_spec in spec.detail.fields.items():
        if name not in out:
            continue
        kind = field_kind(field_spec.stored_kind)
        if kind.normalisation is Normalisation.TEXT and field_spec.checks.values:
            _canonical(out, frame, name, field_spec.checks.values, min_similarity, result)
        else:
            out[name] = _normalised(out[name], kind.normalisation, kind.pandas_dtype)
        options = field_spec.kind_options
        for extra in kind.extra_columns:
            if extra.normalisation is None or not extra.applies(options):
                continue
            column = extra.column(name, options)
            if column in out:
                dtype = field_kind(extra.kind).pandas_dtype
                out[column] = _normalised(out[column], extra.normalisation, dtype)
    return result


def _normalised(values: pd.Series, how: Normalisation, dtype: str) -> pd.Series:
    """``values`` normalised as ``how`` says, as ``dtype`` (the column kind's pandas dtype)."""
    match how:
        case Normalisation.TEXT:
            return map_unique(values, collapse_whitespace).astype("string")
        case Normalisation.NUMBER:
            numbers = pd.to_numeric(values, errors="coerce")
            if dtype == "Int64":  # whole numbers only
                whole = numbers.where(numbers.isna() | (numbers == numbers.round()))
                return whole.astype("Float64").astype("Int64")
            return numbers.astype(dtype)
        case Normalisation.BOOL:
            return map_unique(values, to_bool).astype("boolean")
        case Normalisation.DATE:
            return pd.Series([to_date(v) for v in values], index=values.index, dtype="object")
        case Normalisation.CODE:
            codes = map_unique(values, collapse_whitespace)
            return codes.map(lambda c: c.upper() if c else None).astype("string")
        case Normalisation.DTYPE:
            return values.astype(dtype)
    assert_never(how)


def _canonical(
    out: pd.DataFrame,
    frame: pd.DataFrame,
    name: str,
    allowed: list[str],
    min_similarity: float,
    result: Normalised,
) -> None:
    """Map text field ``name`` onto its ``allowed`` values, recording each typo corrected."""
    mapped = canonical_column(out[name], allowed, min_similarity)
    out[name] = mapped.map(lambda c: c.value).astype("string")
    fixes = {
        str(collapse_whitespace(original)): c.value
        for original, c in zip(frame[name], mapped, strict=True)
        if c.corrected and c.value is not None
    }
    count = int(mapped.map(lambda c: c.corrected).sum())
    if count:
        result.corrections[name] = dict(sorted(fixes.items()))
        result.corrected[name] = count
