"""Fill a missing category from a text that names it (``features.fill_from_text``).

A page may leave a field out while its title still names the value ("3-room flat in
Kreuzberg" with no district field): the median or ``"Missing"`` would throw that away, and
for a category that scales the target (a district's price level) this is most of a model's
error above the noise floor. The categories are the ones seen in training; a missing value is
filled only when the text names exactly one of them as whole words (case-insensitive), so an
ambiguous or silent text leaves it missing. Written here because neither feature-engine nor
category-encoders looks categories up in another column's text.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


# scikit-learn ships no type information, so its base classes are Any to mypy
class FillFromText(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Fill missing values of categorical columns from text columns, then drop the texts.

    :param pairs: ``((category column, text column), ...)``; the text columns are dropped from
        the output whatever happens (they are never features themselves)
    :param min_count: categories seen fewer times in training are not looked for
    """

    def __init__(self, pairs: tuple[tuple[str, str], ...] = (), min_count: int = 5) -> None:
        self.pairs = pairs
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y: Any = None) -> FillFromText:
        self.known_: dict[str, dict[str, str]] = {}  # casefolded -> the category as trained
        for column, _text in self.pairs:
            counts = X[column].dropna().astype(str).value_counts()
            self.known_[column] = {v.casefold(): v for v in counts.index[counts >= self.min_count]}
        self.n_features_in_ = X.shape[1]
        return self

    def _pattern(self, column: str) -> re.Pattern[str] | None:
        """One alternation of the known categories (longest first), as whole words."""
        known = sorted(self.known_[column].values(), key=len, reverse=True)
        if not known:
            return None
        return re.compile(
            rf"(?<!\w)(?:{'|'.join(re.escape(v) for v in known)})(?!\w)", re.IGNORECASE
        )

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        texts = sorted({text for _, text in self.pairs})
        out = X.drop(columns=[t for t in texts if t in X.columns])
        for column, text in self.pairs:
            pattern = self._pattern(column)
            if column not in X.columns or text not in X.columns or pattern is None:
                continue
            rows = np.flatnonzero(X[column].isna().to_numpy() & X[text].notna().to_numpy())
            if not len(rows):
                continue
            known = self.known_[column]
            named = [
                {known[m.casefold()] for m in pattern.findall(said)}
                for said in X[text].iloc[rows].astype(str)
            ]
            one = np.array([len(n) == 1 for n in named], dtype=bool)
            filled = out[column].to_numpy(dtype=object, copy=True)
            filled[rows[one]] = [next(iter(n)) for n, o in zip(named, one, strict=True) if o]
            out[column] = pd.Series(filled, index=out.index, dtype=object)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        texts = {text for _, text in self.pairs}
        names = [] if input_features is None else list(input_features)
        return np.asarray([n for n in names if n not in texts], dtype=object)
