"""Normalisation of typed records: one spelling, one unit and one type per field.

Small pure functions on values (:func:`clean_text`, :func:`fold`, :func:`canonical_value`,
:func:`to_eur`, :func:`to_date`, :func:`to_bool`) that accept anything and never raise, and
:func:`normalise_frame`, which applies them to a partition's typed frame as the spec describes:

- text is trimmed and inner whitespace collapsed;
- a text field whose spec lists allowed values (``checks.values``, e.g. the cities) is mapped
  onto that list: exactly when the value is equal ignoring case, accents and spacing, and by typo
  correction (rapidfuzz ``ratio`` >= :data:`CANONICAL_MIN_SIMILARITY`) otherwise; every
  correction is recorded, and a value close to no allowed value is kept as written;
- price fields are converted to EUR with the fixed :data:`EUR_RATES`; ``<field>_currency`` keeps
  the currency the page stated;
- areas are already in m² (the ``area`` parser converts square feet); numbers, booleans and dates
  are coerced to the parser's dtype (a staged Parquet round trip may change them).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from harvest.cleaning.parsers import parse_bool, parse_date
from harvest.cleaning.records import _DTYPES as PARSER_DTYPES
from harvest.config.spec import SourceSpec

CANONICAL_MIN_SIMILARITY = 0.8
"""Least rapidfuzz ``ratio`` (0..1, on case- and accent-folded text) for a typo correction."""

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

NUMERIC_PARSERS = frozenset({"int", "float", "number", "area", "price"})
FLOAT_PARSERS = frozenset({"float", "number", "area", "price"})


def clean_text(value: Any) -> str | None:
    """Trimmed text with inner whitespace collapsed; ``None`` for missing or blank values."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    text = " ".join(str(value).split())
    return text or None


def fold(value: Any) -> str | None:
    """The comparison form of a text: cleaned, case-folded, accents removed (``Köln`` -> ``koln``)."""
    text = clean_text(value)
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(folded.split()) or None


@dataclass(frozen=True)
class Canonical:
    """A value mapped onto an allowed list: what it became and whether a typo was corrected."""

    value: str | None
    corrected: bool = False
    score: float = 1.0


def canonical_value(
    value: Any,
    allowed: Sequence[str],
    min_similarity: float = CANONICAL_MIN_SIMILARITY,
) -> Canonical:
    """Map ``value`` onto ``allowed``: exact ignoring case/accents/spacing, else the closest
    allowed value when its rapidfuzz ``ratio`` reaches ``min_similarity`` (a typo fix), else the
    cleaned value unchanged. Ties go to the earlier allowed value (rapidfuzz keeps the first)."""
    text = clean_text(value)
    key = fold(text)
    if text is None or key is None or not allowed:
        return Canonical(text)
    folded = [fold(a) or "" for a in allowed]
    if key in folded:
        return Canonical(allowed[folded.index(key)])
    best = process.extractOne(
        key, folded, scorer=fuzz.ratio, score_cutoff=min_similarity * 100, processor=None
    )
    if best is None:
        return Canonical(text, corrected=False, score=0.0)
    _, score, index = best
    return Canonical(allowed[index], corrected=True, score=round(score / 100, 4))


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
    """A boolean from a boolean or a yes/no string (as :func:`parse_bool` reads it), else ``None``."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        parsed = parse_bool(value)
        return parsed if isinstance(parsed, bool) else None
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
        parser = field_spec.parser
        if parser == "text":
            allowed = field_spec.checks.values
            if allowed:
                mapped = _canonical_column(out[name], allowed, min_similarity)
                out[name] = mapped.map(lambda c: c.value).astype("string")
                fixes = {
                    str(clean_text(original)): c.value
                    for original, c in zip(frame[name], mapped, strict=True)
                    if c.corrected and c.value is not None
                }
                count = int(mapped.map(lambda c: c.corrected).sum())
                if count:
                    result.corrections[name] = dict(sorted(fixes.items()))
                    result.corrected[name] = count
            else:
                out[name] = _map_unique(out[name], clean_text).astype("string")
        elif parser == "price":
            currency_column = f"{name}_currency"
            amounts = pd.to_numeric(out[name], errors="coerce").astype("Float64")
            if currency_column in out and convert_prices:
                currencies = _map_unique(out[currency_column], clean_text)
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
        elif parser in NUMERIC_PARSERS:
            numbers = pd.to_numeric(out[name], errors="coerce")
            if parser == "int":
                whole = numbers.where(numbers.isna() | (numbers == numbers.round()))
                out[name] = whole.astype("Float64").astype("Int64")
            else:
                out[name] = numbers.astype("Float64")
        elif parser == "bool":
            out[name] = _map_unique(out[name], to_bool).astype("boolean")
        elif parser == "date":
            out[name] = pd.Series([to_date(v) for v in out[name]], index=out.index, dtype="object")
        else:  # a parser added later: keep its dtype
            out[name] = out[name].astype(PARSER_DTYPES.get(parser, "object"))
    return result


def canonical_series(
    column: pd.Series, allowed: Sequence[str], min_similarity: float = CANONICAL_MIN_SIMILARITY
) -> pd.Series:
    """Each value mapped onto ``allowed`` (typos fixed), as strings: what a value-set check
    should see, so a typo of an allowed value is corrected in cleaning, not quarantined."""
    return (
        _canonical_column(column, allowed, min_similarity).map(lambda c: c.value).astype("string")
    )


def _canonical_column(
    column: pd.Series, allowed: Sequence[str], min_similarity: float
) -> pd.Series:
    """:func:`canonical_value` of each value, computed once per distinct value."""
    return _map_unique(column, lambda v: canonical_value(v, allowed, min_similarity))


def _map_unique(column: pd.Series, fn: Any) -> pd.Series:
    """``column.map(fn)`` that calls ``fn`` once per distinct value (missing values give ``fn(None)``)."""
    values = column.astype("object").where(column.notna(), None)
    cache: dict[Any, Any] = {}
    out = []
    for value in values:
        if value not in cache:
            cache[value] = fn(value)
        out.append(cache[value])
    return pd.Series(out, index=column.index, dtype="object")
