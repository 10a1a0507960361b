"""Content codes (:func:`harvest.cleaning.dedup.content_codes`): the Dask path's content key,
an integer a row, equal exactly where the pandas path's joined key is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harvest.cleaning.dedup import _content_key, content_codes
from tests.unit.test_cleaning import make_spec

SPEC = make_spec()


def same_groups(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two keys split the rows into the same groups."""
    return bool((pd.factorize(a)[0] == pd.factorize(b)[0]).all())


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), rows)]  # noqa: E731
    return pd.DataFrame(
        {
            "listing_id": [f"L-{i}" for i in range(rows)],  # the key: never compared
            "title": pd.array(pick(["flat", "Flat", None, "room"]), dtype="string"),
            "price": pd.array(pick([100.0, 100.0000001, None, 250.5]), dtype="Float64"),
            "area": pd.array(pick([50.0, 50.4, None]), dtype="Float64"),
            "rooms": pd.array(pick([1, 2, None]), dtype="Int64"),
            "city": pd.array(pick(["Berlin", "berlin", None]), dtype="string"),
            "balcony": pd.array(pick([True, False, None]), dtype="boolean"),
        }
    )


def test_content_codes_group_rows_as_the_joined_key_does() -> None:
    rows = frame(2000, seed=7)
    for name in SPEC.detail.fields:
        if name not in rows:
            rows[name] = pd.NA
    codes = content_codes(rows, SPEC)
    joined = _content_key(rows, SPEC)
    assert codes.dtype == np.int64 and len(codes) == len(rows)
    assert same_groups(codes, joined)
    assert 1 < len(np.unique(codes)) < len(rows)  # both merged and distinct rows occur
    # 100.0 and 100.0000001 print alike (6 significant digits): one content, as joined
    tiny = rows.iloc[[0, 0]].reset_index(drop=True)
    tiny["price"] = pd.array([100.0, 100.0000001], dtype="Float64")
    assert _content_key(tiny, SPEC)[0] == _content_key(tiny, SPEC)[1]
    assert content_codes(tiny, SPEC)[0] == content_codes(tiny, SPEC)[1]


def test_a_field_holding_the_separator_groups_as_the_joined_key() -> None:
    """Parts holding the joined key's separator can join to equal strings: the codes follow
    the joined key there, not the parts."""
    rows = frame(2, seed=1)
    for name in SPEC.detail.fields:
        if name not in rows:
            rows[name] = pd.NA
    rows = pd.concat([rows.iloc[[0]]] * 2, ignore_index=True)
    rows["title"] = pd.array(["a\x1fb", "a"], dtype="string")
    names = [n for n in SPEC.detail.fields if n != "listing_id"]
    after_title = names[names.index("title") + 1]
    rows[after_title] = pd.array(["c", "b\x1fc"], dtype="string")
    joined = _content_key(rows, SPEC)
    codes = content_codes(rows, SPEC)
    assert joined[0] == joined[1]  # the parts differ, their joins do not
    assert codes[0] == codes[1]
