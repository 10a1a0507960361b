"""Regression metrics and the naive baseline every candidate is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``rmse``, ``mae`` (target units) and ``r2`` of ``y_pred`` against ``y_true``."""
    truth = np.asarray(y_true, dtype=float)
    error = np.asarray(y_pred, dtype=float) - truth
    total = float(((truth - truth.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - float((error**2).sum()) / total if total > 0 else float("nan"),
    }


def relative_metrics(
    metrics: dict[str, float], baseline: dict[str, float], noise_floor: float | None
) -> dict[str, float]:
    """Each error against the baseline's (``rmse_vs_baseline`` = rmse / baseline rmse) and the
    RMSE against the noise floor when it is known (1.0 = as good as any model can be)."""
    out = {f"{k}_vs_baseline": metrics[k] / baseline[k] for k in ("rmse", "mae") if baseline[k]}
    if noise_floor:
        out["rmse_vs_noise_floor"] = metrics["rmse"] / noise_floor
    return out


def rmse_interval_metrics(
    y_true: Any,
    y_pred: Any,
    noise_floor: float | None,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
) -> dict[str, float]:
    """The percentile bootstrap ``confidence`` interval of the holdout RMSE (rows resampled,
    seeded; ``scipy.stats.bootstrap``; Efron & Tibshirani, *An Introduction to the Bootstrap*,
    1993, ch. 13): ``holdout_rmse_low``/``_high`` in target units and, with a known noise floor,
    ``rmse_vs_noise_floor_low``/``_high`` (the floor is the site's known noise, a constant).
    How far the error is from the floor, and how sure: a holdout of few rows gives a wide one."""
    from scipy import stats

    errors = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    if len(errors) < 2 or not np.any(errors != errors[0]):
        low = high = float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan")
    else:
        interval = stats.bootstrap(
            (errors,),
            lambda e, axis=-1: np.sqrt(np.mean(e**2, axis=axis)),
            vectorized=True,
            method="percentile",
            confidence_level=confidence,
            n_resamples=resamples,
            batch=100,
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    out = {"holdout_rmse_low": low, "holdout_rmse_high": high}
    if noise_floor:
        out |= {"rmse_vs_noise_floor_low": low / noise_floor}
        out |= {"rmse_vs_noise_floor_high": high / noise_floor}
    return out


class MedianBaseline:
    """The median target per group (e.g. per city and district), the overall median for groups
    unseen in training: what a model must beat to be worth anything.

    :param by: the grouping columns; ``[]`` gives the overall median
    """

    def __init__(self, by: list[str]) -> None:
        self.by = list(by)

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> MedianBaseline:
        self.overall_ = float(np.median(y))
        if self.by:
            keys = frame[self.by].astype(object).where(frame[self.by].notna(), None)
            self.medians_ = (
                pd.Series(y.to_numpy(), index=pd.MultiIndex.from_frame(keys))
                .groupby(level=list(range(len(self.by))), dropna=False)
                .median()
            )
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.by:
            return np.full(len(frame), self.overall_)
        missing = [c for c in self.by if c not in frame.columns]
        if missing:
            return np.full(len(frame), self.overall_)
        keys = pd.MultiIndex.from_frame(
            frame[self.by].astype(object).where(frame[self.by].notna(), None)
        )
        values = self.medians_.reindex(keys).to_numpy(dtype=float)
        return np.where(np.isnan(values), self.overall_, values)
