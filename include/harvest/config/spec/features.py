"""The ``features:`` section: which transforms apply to which fields before the model."""

from __future__ import annotations

from pydantic import Field

from harvest.config.spec.base import _Model


class FeaturesSpec(_Model):
    """Which feature transforms apply to which fields before the model. Every list left out is
    derived from the field kinds (see :func:`harvest.features.feature_columns`): text fields are
    categorical, numeric and bool fields numeric, date fields give date parts; the key, the
    target (and its ``_currency`` column) and ``dedup.title_field`` are never features."""

    categorical: list[str] | None = None
    numeric: list[str] | None = None
    dates: list[str] | None = None
    exclude: list[str] = Field([], description="fields never used as features")
    ratios: list[tuple[str, str]] = Field(
        [], description="(numerator, denominator) pairs added as <num>_div_<den> features"
    )
    fill_from_text: dict[str, str] = Field(
        {},
        description="categorical field -> text field (e.g. district: title): a missing value is "
        "filled with the one category known from training that the text names",
    )
    rare_tolerance: float = Field(
        0.01, ge=0, lt=1, description="categories rarer than this share are grouped as 'Rare'"
    )
    constant_tol: float = Field(
        0.99,
        gt=0,
        le=1,
        description="a feature whose most frequent value (missing included) fills this share of "
        "the training rows carries no information and is left out, with a warning; 1 leaves out "
        "only constant and never-filled ones",
    )
    outlier_fold: float | None = Field(
        3.0, gt=0, description="numeric values beyond fold x IQR are capped; null disables"
    )
    baseline_by: list[str] = Field(
        [], description="fields the naive baseline takes the median target per; [] = overall"
    )
    holdout_days: int = Field(
        2, ge=1, le=365, description="most recent dates held out to score the candidates"
    )
    target_outlier_fold: float | None = Field(
        3.0,
        gt=0,
        description="rows whose target lies beyond fold x IQR of the training targets are left "
        "out of training and of the holdout metrics (and counted); null keeps every row",
    )
    noise_floor: float | None = Field(
        None, gt=0, description="the target's irreducible RMSE when known (demo site: 60 EUR)"
    )

    def named_fields(self) -> list[str]:
        """Every field this block names (for the check that they exist)."""
        names = [*(self.categorical or []), *(self.numeric or []), *(self.dates or [])]
        names += [*self.exclude, *self.baseline_by, *(f for pair in self.ratios for f in pair)]
        names += [*self.fill_from_text, *self.fill_from_text.values()]
        return names
