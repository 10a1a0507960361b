"""Allowed values: map a text onto the list a spec allows, correcting typos.

Validation checks a value set on what these functions make of each value (so a typo of an
allowed value is fixed in cleaning, not quarantined), and cleaning stores the same result; both
stages use this one module, which sits below them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import pandas as pd
from rapidfuzz import fuzz, process

from harvest.text import collapse_whitespace, fold

CANONICAL_MIN_SIMILARITY = 0.8
"""Least rapidfuzz ``ratio`` (0..1, on case- and accent-folded text) for a typo correction."""


@dataclass(frozen=True)
class Canonical:
    """A value mapped onto an allowed list: what it became and whether a typo was corrected."""

    value: str | None
    corrected: bool = False
    score: float = 1.0


def canonical_value(
    value: object,
    allowed: Sequence[str],
    min_similarity: float = CANONICAL_MIN_SIMILARITY,
) -> Canonical:
    """Map ``value`` onto ``allowed``: exact ignoring case/accents/spacing, else the closest
    allowed value when its rapidfuzz ``ratio`` reaches ``min_similarity`` (a typo fix), else the
    cleaned value unchanged. Ties go to the earlier allowed value (rapidfuzz keeps the first)."""
    text = collapse_whitespace(value)
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


def canonical_series(
    column: pd.Series, allowed: Sequence[str], min_similarity: float = CANONICAL_MIN_SIMILARITY
) -> pd.Series:
    """Each value mapped onto ``allowed`` (typos fixed), as strings: what a value-set check
    should see, so a typo of an allowed value is corrected in cleaning, not quarantined."""
    return canonical_column(column, allowed, min_similarity).map(lambda c: c.value).astype("string")


def canonical_column(
    column: pd.Series, allowed: Sequence[str], min_similarity: float = CANONICAL_MIN_SIMILARITY
) -> pd.Series:
    """:func:`canonical_value` of each value (a column of :class:`Canonical`), computed once
    per distinct value."""
    return map_unique(column, lambda v: canonical_value(v, allowed, min_similarity))


def map_unique(column: pd.Series, fn: Callable[[Hashable], object]) -> pd.Series:
    """``column.map(fn)`` that calls ``fn`` once per distinct value (missing values give
    ``fn(None)``); an ``object`` column."""
    values = column.astype("object").where(column.notna(), None)
    cache: dict[Hashable, object] = {}
    out = []
    for value in values:
        if value not in cache:
            cache[value] = fn(value)
        out.append(cache[value])
    return pd.Series(out, index=column.index, dtype="object")
