"""One scikit-learn ``Pipeline`` from raw warehouse columns to a prediction, fitted as a whole.

Steps (each only when the spec gives it columns):

1. :class:`ConformColumns` makes any incoming frame look like the training frame: columns the
   model expects but the rows lack are added as missing (and logged), extra columns are dropped,
   values are coerced to the column's role (text, float, datetime; ±inf and unparseable values
   become missing). Scoring never crashes on a missing field. Values the cleaning stage imputed
   (named in a row's ``imputed`` list) are set back to missing, so the indicators below tell
   observed from filled-in values.
   ``features.fill_from_text`` (:mod:`.fill`) then fills a missing category from the text that
   names it (a district from the title) and drops the text columns.
2. feature-engine ``AddMissingIndicator`` + ``MeanMedianImputer`` (median) on numeric and bool
   columns; ``CategoricalImputer`` fills missing categories with ``"Missing"``.
3. ``RareLabelEncoder`` groups categories rarer than ``rare_tolerance`` as ``"Rare"``; a category
   never seen in training is treated the same way at scoring time.
4. ``Winsorizer`` caps numeric columns at ``outlier_fold`` x IQR beyond the quartiles learned in
   training, so an extreme value at scoring time gets the edge of the known range
   (:class:`CapOutliers`: a column without spread is left as it is).
5. ``RelativeFeatures`` adds the spec's ratios (``<num>_div_<den>``; a zero denominator gives a
   missing value), ``DatetimeFeatures`` turns dates into year, month and day of week.
6. category-encoders ``TargetEncoder`` inside ``NestedCVWrapper``: while fitting, each row's
   encoding comes from the other folds (cross-fitting), so the model never sees its own target;
   at scoring the encoder fitted on all rows is used, unknown categories get the prior mean.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from harvest.config.spec import FeaturesSpec
from harvest.features.columns import FeatureColumns
from harvest.features.fill import FillFromText

log = logging.getLogger(__name__)

MISSING_LABEL = "Missing"
RARE_LABEL = "Rare"
DATE_PARTS = ["year", "month", "day_of_week"]
TARGET_ENCODING_FOLDS = 5


# scikit-learn ships no type information, so its base classes are Any to mypy
class ConformColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Select, add and coerce the pipeline's input columns (see the module docstring).

    :param categorical: text columns, returned as ``object`` with ``NaN`` for missing
    :param numeric: numeric and bool columns, returned as ``float64``
    :param dates: date columns, returned as ``datetime64[ns]``
    """

    def __init__(
        self,
        categorical: tuple[str, ...] = (),
        numeric: tuple[str, ...] = (),
        dates: tuple[str, ...] = (),
        texts: tuple[str, ...] = (),
    ) -> None:
        self.categorical = categorical
        self.numeric = numeric
        self.dates = dates
        self.texts = texts

    def fit(self, X: pd.DataFrame, y: Any = None) -> ConformColumns:
        self.n_features_in_ = len(self._inputs())
        return self

    def _inputs(self) -> list[str]:
        return [*self.categorical, *self.numeric, *self.dates, *self.texts]

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"the feature pipeline takes a pandas DataFrame, not {type(X)}")
        missing = [c for c in self._inputs() if c not in X.columns]
        if missing:
            log.warning(
                "%d rows lack the column(s) %s the model was trained on; they are scored as "
                "missing values",
                len(X),
                ", ".join(missing),
            )
        imputed = _imputed_masks(X, self._inputs())
        out: dict[str, Any] = {}
        empty = pd.Series(np.nan, index=X.index, dtype=object)
        for column in (*self.categorical, *self.texts):
            values = X[column] if column in X.columns else empty
            out[column] = _as_text(values)
        for column in self.numeric:
            values = X[column] if column in X.columns else empty
            out[column] = _as_float(values)
        for column in self.dates:
            values = X[column] if column in X.columns else empty
            out[column] = pd.to_datetime(values, errors="coerce", format="ISO8601").astype(
                "datetime64[ns]"
            )
        for column, mask in imputed.items():
            out[column] = out[column].mask(mask)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self._inputs(), dtype=object)


def _as_text(values: pd.Series) -> pd.Series:
    """Text as pandas' ``str`` dtype (Arrow-backed, ``NaN`` for missing): the encoders after it
    check for missing values several times, and on Arrow strings that is a bitmap, not a
    Python check per value as on ``object``."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is np.nan:
        return values
    present = values.notna()
    return values.astype(object).where(present, None).astype("str")


def _as_float(values: pd.Series) -> pd.Series:
    """Numbers (and booleans) as ``float64``; unparseable and infinite values become ``NaN``."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        number = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    else:
        number = pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
    return number.replace([np.inf, -np.inf], np.nan)


def _imputed_masks(frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """Per input column, which rows hold a value cleaning imputed (the row's ``imputed`` list
    names the column): those are set back to missing, so the pipeline's own missing indicators
    see them (a median area filled in upstream would otherwise look observed and mislead the
    model). ``imputed`` holds lists (as the warehouse reads them back), JSON texts or nothing.
    Vectorised (``explode``, one text match per column), not a Python call per row: at 1M rows
    a ``json.dumps`` per row cost more than the model's own prediction."""
    if "imputed" not in frame.columns:
        return {}
    raw = frame["imputed"].reset_index(drop=True)  # positions, whatever the frame's index
    raw = raw[raw.notna()]
    texts = raw[raw.map(type).eq(str)] if not pd.api.types.is_string_dtype(raw) else raw
    names = raw.drop(texts.index).explode().dropna().astype(str)
    texts = texts[~texts.isin(("[]", ""))].astype(str)
    masks = {}
    for column in columns:
        if column not in frame.columns:
            continue
        mask = np.zeros(len(frame), dtype=bool)
        mask[names.index[names.eq(column)]] = True
        if len(texts):
            named = texts.str.contains(f'"{column}"', regex=False) | texts.eq(column)
            mask[named.index[named]] = True
        if mask.any():
            masks[column] = mask
    return masks


class CapOutliers(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """feature-engine's ``Winsorizer`` (IQR, both tails, ``fold``) on the ``variables`` that
    have a spread in the fitting rows; a column whose quartiles are equal (mostly one value)
    or missing has no range to cap to and is passed through (``uncapped_``), where
    ``Winsorizer`` alone refuses the whole fit ("low variation").

    :param fold: how many IQRs beyond the quartiles a value is capped
    :param variables: the numeric columns to cap
    """

    def __init__(self, fold: float = 3.0, variables: tuple[str, ...] = ()) -> None:
        self.fold = fold
        self.variables = variables

    def fit(self, X: pd.DataFrame, y: Any = None) -> CapOutliers:
        from feature_engine.outliers import Winsorizer

        present = [c for c in self.variables if c in X.columns]
        quartiles = X[present].quantile((0.25, 0.75)) if present else pd.DataFrame()
        spread = quartiles.diff().iloc[-1] if present else pd.Series(dtype=float)
        self.capped_: list[str | int] = [
            c for c in present if np.isfinite(spread[c]) and spread[c] > 0
        ]
        self.uncapped_ = [c for c in present if c not in self.capped_]
        self.winsorizer_ = None
        if self.capped_:
            self.winsorizer_ = Winsorizer(
                capping_method="iqr",
                tail="both",
                fold=self.fold,
                variables=self.capped_,
                missing_values="ignore",
            ).fit(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if self.winsorizer_ is None else self.winsorizer_.transform(X)


def feature_steps(
    columns: FeatureColumns, block: FeaturesSpec, seed: int = 0, encoding: str = "target"
) -> list[tuple[str, Any]]:
    """The feature steps of the pipeline (unfitted), in order: ``[(name, transformer), ...]``.
    ``encoding`` of the categories: ``"target"`` (step 6, for the tree models) or ``"ordinal"``
    (feature-engine ``OrdinalEncoder``, arbitrary codes, ``-1`` for unseen: the network embeds
    them)."""
    from category_encoders import TargetEncoder
    from category_encoders.wrapper import NestedCVWrapper
    from feature_engine.creation import RelativeFeatures
    from feature_engine.datetime import DatetimeFeatures
    from feature_engine.encoding import RareLabelEncoder
    from feature_engine.imputation import AddMissingIndicator, CategoricalImputer, MeanMedianImputer

    categorical: list[str | int] = list(columns.categorical)
    numbers: list[str | int] = [*columns.numeric, *columns.flags]
    steps: list[tuple[str, Any]] = [
        (
            "conform",
            ConformColumns(
                columns.categorical,
                (*columns.numeric, *columns.flags),
                columns.dates,
                columns.texts,
            ),
        )
    ]
    if columns.fill_from_text:
        steps.append(("fill_from_text", FillFromText(columns.fill_from_text)))
    if numbers:
        steps.append(("missing_indicator", AddMissingIndicator(variables=numbers)))
        steps.append(("impute_numeric", MeanMedianImputer("median", variables=numbers)))
    if categorical:
        steps.append(
            (
                "impute_categorical",
                CategoricalImputer(fill_value=MISSING_LABEL, variables=categorical),
            )
        )
        steps.append(
            (
                "rare_labels",
                RareLabelEncoder(
                    tol=block.rare_tolerance,
                    n_categories=1,
                    replace_with=RARE_LABEL,
                    variables=categorical,
                ),
            )
        )
    if columns.numeric and block.outlier_fold is not None:
        steps.append(("cap_outliers", CapOutliers(block.outlier_fold, columns.numeric)))
    for numerator, denominator in columns.ratios:
        steps.append(
            (
                f"ratio_{numerator}_{denominator}",
                RelativeFeatures(
                    variables=[numerator], reference=[denominator], func=["div"], fill_value=np.nan
                ),
            )
        )
    if columns.dates:
        steps.append(
            (
                "date_parts",
                DatetimeFeatures(
                    variables=list(columns.dates),
                    features_to_extract=DATE_PARTS,
                    missing_values="ignore",
                ),
            )
        )
    if categorical and encoding == "ordinal":
        from feature_engine.encoding import OrdinalEncoder

        steps.append(
            (
                "ordinal_encoding",
                OrdinalEncoder(encoding_method="arbitrary", variables=categorical, unseen="encode"),
            )
        )
    elif categorical:
        encoder = TargetEncoder(cols=categorical, handle_unknown="value", handle_missing="value")
        steps.append(
            (
                "target_encoding",
                NestedCVWrapper(
                    encoder, cv=KFold(TARGET_ENCODING_FOLDS, shuffle=True, random_state=seed)
                ),
            )
        )
    return steps


def build_pipeline(
    columns: FeatureColumns,
    block: FeaturesSpec,
    model: Any,
    seed: int = 0,
    encoding: str = "target",
) -> Pipeline:
    """The whole pipeline: :func:`feature_steps` then ``model`` as the last step ``"model"``."""
    return Pipeline([*feature_steps(columns, block, seed, encoding), ("model", model)])


def transform_features(pipeline: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input matrix: ``frame`` through every fitted step but the model (one column
    per feature, all numeric, ``NaN`` where a date part is missing)."""
    matrix = frame
    for _name, step in pipeline.steps[:-1]:
        matrix = step.transform(matrix)
    return matrix
