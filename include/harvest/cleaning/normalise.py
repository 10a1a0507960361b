"""Normalisation of typed records: one spelling, one unit and one type per field.

Small pure functions on values (:func:`to_date`, :func:`to_bool`, and from
lower floors :func:`harvest.text.collapse_whitespace`, :func:`harvest.text.fold` and
:func:`harvest.canonical.canonical_value`) that accept anything and never raise, and
:func:`normalise_frame`, which applies them to a partition's typed frame as the spec describes:

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
from typing import Any

import numpy as np
import pandas as pd

from harvest.canonical import CANONICAL_MIN_SIMILARITY, canonical_column, map_unique
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind
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
        parser = field_spec.column_kind
        kind = field_kind(parser)
        if parser == "text":
            allowed = field_spec.checks.values
            if allowed:
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
            else:
                out[name] = map_unique(out[name], collapse_whitespace).astype("string")
        elif parser == "price":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("Float64")
            currency_column = kind.extra_column(name, "currency")
            if currency_column in out:
                currencies = map_unique(out[currency_column], collapse_whitespace)
                out[currency_column] = currencies.map(lambda c: c.upper() if c else None).astype(
                    "string"
                )
            converted = field_spec.converted_column(name)
            if converted is not None and converted in out:
                out[converted] = pd.to_numeric(out[converted], errors="coerce").astype("Float64")
        elif kind.numeric:
            numbers = pd.to_numeric(out[name], errors="coerce")
            if not kind.decimal:
                whole = numbers.where(numbers.isna() | (numbers == numbers.round()))
                out[name] = whole.astype("Float64").astype("Int64")
            else:
                out[name] = numbers.astype("Float64")
        elif kind.pandas_dtype == "boolean":
            out[name] = map_unique(out[name], to_bool).astype("boolean")
        elif parser == "date":
            out[name] = pd.Series([to_date(v) for v in out[name]], index=out.index, dtype="object")
        else:  # a kind with no rule of its own: coerce to its dtype
            out[name] = out[name].astype(kind.pandas_dtype)
    return result
