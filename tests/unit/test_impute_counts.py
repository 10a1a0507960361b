"""Fill values from value counts merged over parts (the Dask path's imputation statistics) are
:func:`harvest.cleaning.impute.fill_value` of every value concatenated: median, mode, ties,
missing values, kinds and the history fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harvest.cleaning.impute import fill_from_counts, fill_value, merge_counts, value_counts
from harvest.config.spec.fields import FieldSpec

DTYPES = {"int": "Int64", "float": "Float64", "text": "string", "bool": "boolean"}


def _values(kind: str, rng: np.random.Generator, n: int, distinct: int) -> pd.Series:
    """``n`` values of ``kind`` drawn from ``distinct`` ones (ties likely), a fifth missing."""
    drawn = rng.integers(0, distinct, n)
    if kind == "int":
        values: list[object] = [int(v) - distinct // 2 for v in drawn]
    elif kind == "float":
        values = [float(v) / 4 for v in drawn]
    elif kind == "text":
        values = [f"v{v}" for v in drawn]
    else:
        values = [bool(v % 2) for v in drawn]
    missing = rng.random(n) < 0.2
    return pd.Series([None if m else v for v, m in zip(values, missing, strict=True)],
                     dtype=DTYPES[kind])  # fmt: skip


def _parts(values: pd.Series, rng: np.random.Generator) -> list[pd.Series]:
    cuts = np.sort(rng.integers(0, len(values) + 1, 4))
    return [values.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True)]


CASES = [(kind, how) for kind in DTYPES for how in ("median", "mode") if (kind, how) not in
         {("text", "median"), ("bool", "median")}]  # fmt: skip


@pytest.mark.parametrize(("kind", "how"), CASES)
@pytest.mark.parametrize("seed", range(25))
def test_fill_from_merged_counts_equals_fill_value_of_every_value(
    kind: str, how: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 5, 19, 20, 21, 200, 1001]))
    values = _values(kind, rng, n, int(rng.integers(1, 12)))
    history = pd.DataFrame({"f": _values(kind, rng, 30, 5)}) if seed % 2 else None
    field = FieldSpec(css="p", kind=kind, impute=how)
    counts = merge_counts([value_counts(p) for p in _parts(values, rng)])
    got = fill_from_counts("f", field, counts, history)
    expected = fill_value("f", field, values, history)
    assert got == expected or (pd.isna(got[0]) and pd.isna(expected[0]) and got[1] == expected[1])
    assert type(got[0]) is type(expected[0])


def test_an_even_count_takes_the_mean_of_the_two_middle_values() -> None:
    field = FieldSpec(css="p", kind="float", impute="median")
    values = pd.Series([1.0] * 10 + [2.0] * 5 + [4.0] * 15 + [None] * 3, dtype="Float64")
    counts = merge_counts([value_counts(values.iloc[:12]), value_counts(values.iloc[12:])])
    assert fill_from_counts("f", field, counts, None) == (3.0, "batch")
    assert fill_value("f", field, values, None) == (3.0, "batch")


def test_a_mode_tie_goes_to_the_smallest_value_across_parts() -> None:
    field = FieldSpec(css="p", kind="text", impute="mode")
    parts = [pd.Series(["b"] * 30 + ["c"] * 5, dtype="string"), pd.Series(["a"] * 30 + ["c"] * 25, dtype="string")]  # fmt: skip
    assert fill_from_counts("f", field, merge_counts([value_counts(p) for p in parts]), None) == (
        "a",
        "batch",
    )


def test_few_values_use_the_history_with_them() -> None:
    field = FieldSpec(css="p", kind="int", impute="median")
    parts = [pd.Series([1, None], dtype="Int64"), pd.Series([], dtype="Int64")]
    history = pd.DataFrame({"f": pd.Series([100] * 30, dtype="Int64")})
    counts = merge_counts([value_counts(p) for p in parts])
    assert fill_from_counts("f", field, counts, history) == (100, "batch+history")
