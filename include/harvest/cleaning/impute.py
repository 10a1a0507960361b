"""Imputation of missing values, only where the source spec allows it.

A field is filled in only when its spec says ``impute: median | mode | constant``; every other
field keeps its missing values. Statistics come from the batch's own values (the partition after
de-duplication). When the batch has fewer than :data:`MIN_BATCH_VALUES` values of a field, the
values of the history (processed records of earlier partitions) are used with them, so a small
or odd day does not fill in a poor statistic; with no values at all the field stays missing.

Each record lists the fields filled in for it in an ``imputed`` list column, and the counts per
field are returned, so a model or an analyst can always tell observed from imputed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.fields import field_kind
from harvest.text import TRUE_WORDS, collapse_whitespace

MIN_BATCH_VALUES = 20
"""Fewest observed values of a field in the batch for its statistic to come from the batch alone."""


@dataclass
class Imputed:
    """The frame with missing values filled in, and what was filled."""

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    """Per imputed field, how many values were filled in."""
    values: dict[str, Any] = field(default_factory=dict)
    """Per imputed field, the value that was filled in."""
    statistic_from: dict[str, str] = field(default_factory=dict)
    """Per imputed field, ``batch`` or ``batch+history``."""
    left_missing: dict[str, int] = field(default_factory=dict)
    """Per imputable field with no value to fill in, how many values stay missing."""


def median_value(values: pd.Series, kind: str) -> float | int | None:
    """The median of the observed values, rounded to a whole number for whole-number kinds
    (``int``); ``None`` when there is none."""
    observed = pd.to_numeric(values, errors="coerce").dropna()
    if observed.empty:
        return None
    median = float(observed.median())
    return round(median) if field_kind(kind).pandas_dtype == "Int64" else median


def mode_value(values: pd.Series) -> Any:
    """The most frequent observed value; ties go to the smallest, so the answer is stable."""
    observed = values.dropna()
    if observed.empty:
        return None
    counts = observed.value_counts(sort=False)
    best = counts.max()
    candidates = sorted(counts[counts == best].index.tolist(), key=_sort_key)
    return candidates[0]


def constant_value(field_spec: FieldSpec) -> str | float | int | bool | None:
    """The spec's ``impute_value``, typed like the field (``"false"`` for a bool means False)."""
    value = field_spec.impute_value
    dtype = field_kind(field_spec.kind).pandas_dtype
    if dtype == "boolean" and isinstance(value, str):
        return (collapse_whitespace(value) or "").lower() in TRUE_WORDS
    if dtype == "Int64" and value is not None and not isinstance(value, bool):
        return int(float(value))
    if dtype == "Float64" and value is not None:
        return float(value)
    return value


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def fill_value(
    name: str,
    field_spec: FieldSpec,
    values: pd.Series,
    history: pd.DataFrame | None,
    min_batch_values: int = MIN_BATCH_VALUES,
) -> tuple[Any, str]:
    """The value that fills field ``name``'s missing values and where its statistic came from
    (``batch`` or ``batch+history``): ``values`` are the batch's values of the field (missing
    ones may be left out), ``history`` is used with them when they are fewer than
    ``min_batch_values``; ``None`` when there is nothing to fill in with."""
    source = "batch"
    few = field_spec.impute != "constant" and int(values.notna().sum()) < min_batch_values
    if few and history is not None and name in history and history[name].notna().any():
        values = pd.concat([values.dropna(), history[name].dropna()], ignore_index=True)
        source = "batch+history"
    fill: object
    if field_spec.impute == "median":
        fill = median_value(values, field_spec.kind)
    elif field_spec.impute == "mode":
        fill = mode_value(values)
    else:
        fill = constant_value(field_spec)
    return fill, source


def impute_frame(
    frame: pd.DataFrame,
    spec: SourceSpec,
    history: pd.DataFrame | None = None,
    *,
    min_batch_values: int = MIN_BATCH_VALUES,
    fills: Mapping[str, tuple[Any, str]] | None = None,
) -> Imputed:
    """Fill the missing values of the fields the spec marks imputable and add the ``imputed``
    column (a list of field names per record, empty when nothing was filled). ``fills`` (field
    -> :func:`fill_value`) replaces the statistics of ``frame`` when it is one part of a
    partition (the Dask path computes them over every part)."""
    out = frame.copy()
    result = Imputed(out)
    flags: list[list[str]] = [[] for _ in range(len(out))]
    for name, field_spec in spec.detail.fields.items():
        if field_spec.impute == "none" or name not in out:
            continue
        missing = out[name].isna().to_numpy()
        if not missing.any():
            continue
        if fills is None:
            fill, source = fill_value(name, field_spec, out[name], history, min_batch_values)
        else:
            fill, source = fills[name]
        if fill is None:
            result.left_missing[name] = int(missing.sum())
            continue
        dtype = out[name].dtype
        out[name] = out[name].astype("object").where(~missing, fill).astype(dtype)
        result.counts[name] = int(missing.sum())
        result.values[name] = fill.item() if hasattr(fill, "item") else fill
        result.statistic_from[name] = source if field_spec.impute != "constant" else "spec"
        for i in missing.nonzero()[0]:
            flags[i].append(name)
    out["imputed"] = pd.Series(flags, index=out.index, dtype="object")
    return result


def value_counts(values: pd.Series) -> pd.Series:
    """The observed values of ``values`` and how many times each occurs (index: the distinct
    values, in the dtype of ``values``; missing values left out): what :func:`fill_from_counts`
    needs of one part, and what :func:`merge_counts` adds up over parts."""
    return values.dropna().value_counts(sort=False)


def merge_counts(parts: list[pd.Series]) -> pd.Series:
    """The counts of :func:`value_counts` over several parts, added up per distinct value."""
    counted = [p for p in parts if len(p)]
    if not counted:  # keeps the values' dtype for the history's values added to none
        return parts[0] if parts else pd.Series(dtype="int64")
    return pd.concat(counted).groupby(level=0, sort=False).sum()


def fill_from_counts(
    name: str,
    field_spec: FieldSpec,
    counts: pd.Series,
    history: pd.DataFrame | None,
    min_batch_values: int = MIN_BATCH_VALUES,
) -> tuple[Any, str]:
    """:func:`fill_value` of the values that ``counts`` (:func:`merge_counts`) counts, from the
    distinct values alone (the same median, mode and ties); with fewer than
    ``min_batch_values`` values the values themselves (few) go to :func:`fill_value` with the
    history's."""
    total = int(counts.sum()) if len(counts) else 0
    if field_spec.impute == "constant" or total < min_batch_values:
        values = pd.Series(counts.index.repeat(counts.to_numpy(dtype="int64")))
        return fill_value(name, field_spec, values, history, min_batch_values)
    if field_spec.impute == "mode":
        best = counts.max()
        return sorted(counts[counts == best].index.tolist(), key=_sort_key)[0], "batch"
    numeric = pd.to_numeric(pd.Series(counts.index), errors="coerce")
    kept = numeric.notna().to_numpy()
    numeric = numeric[kept].reset_index(drop=True)
    times = counts.to_numpy(dtype="int64")[kept]
    if numeric.empty:
        return None, "batch"
    order = numeric.argsort(kind="stable").to_numpy()
    ends = np.cumsum(times[order])
    n = int(ends[-1])
    middle = np.searchsorted(ends, [(n - 1) // 2, n // 2], side="right")
    picked = numeric.iloc[order[middle if n % 2 == 0 else middle[:1]]]
    return median_value(picked.reset_index(drop=True), field_spec.kind), "batch"
