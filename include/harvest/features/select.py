"""Features that carry no information, found on the training rows before anything is fitted:
constant, near-constant or never filled (feature-engine's ``DropConstantFeatures``, missing
values counted as a value) and exact copies of another feature (``DropDuplicateFeatures``).

They are left out of the source's :class:`~harvest.features.FeatureColumns` for this training
(with the ratios and ``fill_from_text`` pairs that use them), rather than dropped inside the
pipeline: every later step then sees only columns with values, and a column that was empty at
training time is simply not asked for at scoring time. Left in, they broke training: the
outlier capping found no spread (``Winsorizer``: "low variation") and the median of an empty
column is missing ("contain NaN").
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harvest.features.columns import FeatureColumns
from harvest.features.pipeline import ConformColumns


def uninformative_features(
    columns: FeatureColumns, frame: pd.DataFrame, constant_tol: float
) -> dict[str, str]:
    """The input columns of ``columns`` that carry no information in ``frame`` (the training
    rows), each with the reason in words: ``"never filled"``, ``"constant (1990.0)"``,
    ``"near-constant (1990.0 in 99.6% of rows)"`` or ``"duplicate of area"``. A column whose
    most frequent value (missing included) covers ``constant_tol`` or more of the rows is
    near-constant; ``constant_tol=1`` drops only constant ones."""
    from feature_engine.selection import DropConstantFeatures, DropDuplicateFeatures

    inputs: list[str | int] = [
        *columns.categorical,
        *columns.numeric,
        *columns.flags,
        *columns.dates,
    ]
    if frame.empty or not inputs:
        return {}
    conform = ConformColumns(columns.categorical, (*columns.numeric, *columns.flags), columns.dates)
    matrix = conform.fit_transform(frame)[inputs]
    constant = DropConstantFeatures(
        variables=inputs, tol=constant_tol, missing_values="include", confirm_variables=False
    )
    try:
        found = list(constant.fit(matrix).features_to_drop_)
    except ValueError as exc:  # feature-engine refuses to drop every column
        if "no columns" not in str(exc):
            raise
        found = inputs
    reasons: dict[str, str] = {}
    for name in found:
        shares = matrix[name].astype(object).value_counts(normalize=True, dropna=False)
        value, share = shares.index[0], float(shares.iloc[0])
        if pd.isna(value):
            reasons[name] = "never filled" if share == 1 else f"missing in {share:.1%} of rows"
        elif share == 1:
            reasons[name] = f"constant ({value})"
        else:
            reasons[name] = f"near-constant ({value} in {share:.1%} of rows)"
    left: list[str | int] = [name for name in inputs if name not in reasons]
    if len(left) > 1:
        duplicates = DropDuplicateFeatures(variables=left, missing_values="ignore")
        duplicates.fit(matrix[left])
        for group in duplicates.duplicated_feature_sets_:
            kept = next(name for name in left if name in group)
            for name in group:
                if name != kept:
                    reasons[name] = f"duplicate of {kept}"
    return reasons


def without_features(columns: FeatureColumns, dropped: set[str] | dict[str, str]) -> FeatureColumns:
    """``columns`` without ``dropped``, and without the ratios and ``fill_from_text`` pairs
    that read a dropped column."""

    def keep(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name for name in names if name not in dropped)

    return dataclasses.replace(
        columns,
        categorical=keep(columns.categorical),
        numeric=keep(columns.numeric),
        flags=keep(columns.flags),
        dates=keep(columns.dates),
        ratios=tuple(pair for pair in columns.ratios if not set(pair) & set(dropped)),
        fill_from_text=tuple(pair for pair in columns.fill_from_text if pair[0] not in dropped),
    )
