"""Normalisation of typed records: one spelling, one unit and one type per field.

Small pure functions on values (:func:`to_eur`, :func:`to_date`, :func:`to_bool`, and from
lower floors :func:`harvest.text.collapse_whitespace`, :func:`harvest.text.fold` and
:func:`harvest.canonical.canonical_value`) that accept anything and never raise, and
:func:`normalise_frame`, which applies them to a partition's typed frame as the spec describes:

- text is trimmed and inner whitespace collapsed;
- a text field whose spec lists allowed values (``checks.values``, e.g. the cities) is mapped
  onto that list: exactly when the value is equal ignoring case, accents and spacing, and by typo
  correction (rapidfuzz ``ratio`` >= :data:`CANONICAL_MIN_SIMILARITY`) otherwise; every
  correction is recorded, and a value close to no allowed value is kept as written;
- price fields are converted to EUR with the fixed :data:`EUR_RATES`; ``<field>_currency`` keeps
  the currency the page stated;
- areas are already in m² (the ``area`` parser converts square feet); numbers, booleans and dates
  are coerced to their field kind's dtype (a staged Parquet round trip may change them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harvest.canonical import CANONICAL_MIN_SIMILARITY, canonical_column, map_unique
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind
from harvest.parsers import parse_date
from harvest.text import collapse_whitespace, yes_no

EUR_RATES: Mapping[str, float] = {
    "EUR": 1.0,
    "USD": 0.86,
    "GBP": 1.15,
    "CHF": 1.07,
    "PLN": 0.235,
    "CZK": 0.041,
    "SEK": 0.091,
}
"""EUR per unit of each currency the price parser recognises. Approximate reference rates of
late 2025, fixed on purpose: a partition must clean to the same values on every run, and the
models are trained on EUR. Change them deliberately (and reprocess), never per run."""


def to_eur(amount: Any, currency: Any, rates: Mapping[str, float] = EUR_RATES) -> float | None:
    """``amount`` in ``currency`` converted to EUR (rounded to cents); ``None`` when either is
    missing or the currency has no rate."""
    if amount is None or amount is pd.NA or currency is None or currency is pd.NA:
        return None
    try:
        number = float(amount)
    except (TypeError, ValueError):
        return None
    if number != number:
        return None
    rate = rates.get(str(currency).strip().upper())
    return None if rate is None else round(number * rate, 2)


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
    unconvertible_prices: int = 0
    """Prices whose currency has no rate in the table (left empty)."""


def normalise_frame(
    frame: pd.DataFrame,
    spec: SourceSpec,
    *,
    rates: Mapping[str, float] = EUR_RATES,
    min_similarity: float = CANONICAL_MIN_SIMILARITY,
    convert_prices: bool = True,
) -> Normalised:
    """Normalise every spec field of a typed frame (see the module docstring); other columns
    are kept as they are. Returns a new frame; the input is not changed.

    ``convert_prices=False`` is for frames whose prices are already in EUR (processed history):
    everything else is normalised the same way, so history compares like with like.
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
            currency_column = kind.extra_column(name, "currency")
            amounts = pd.to_numeric(out[name], errors="coerce").astype("Float64")
            if currency_column in out and convert_prices:
                currencies = map_unique(out[currency_column], collapse_whitespace)
                currencies = currencies.map(lambda c: c.upper() if c else None).astype("string")
                converted = [to_eur(a, c, rates) for a, c in zip(amounts, currencies, strict=True)]
                eur = pd.Series(converted, index=out.index, dtype="Float64")
                result.unconvertible_prices += int((amounts.notna() & eur.isna()).sum())
                out[name] = eur
                out[currency_column] = currencies
            else:
                out[name] = amounts
                if currency_column in out:
                    out[currency_column] = out[currency_column].astype("string")
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
