"""Whether a candidate model takes the ``champion`` alias, decided with statistics on the same
holdout rows rather than by a fixed margin on two RMSEs.

A candidate is compared, row by row on the holdout, with a reference (the naive baseline, then
the champion). Two figures, both on the paired per-row errors:

- **the decision**: the percentile bootstrap confidence interval of
  ``RMSE(candidate) - RMSE(reference)``, resampling holdout rows with both models' errors kept
  together (paired), ``scipy.stats.bootstrap(paired=True, method="percentile")``; Efron &
  Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 13. The candidate wins when the whole
  interval lies below zero, i.e. it is better with the interval's confidence, not by the luck of
  which rows were held out. The interval is in
  target units (EUR), what the report and MLflow show. Against the champion the interval must lie
  below ``-margin x RMSE(champion)`` (``HARVEST_TRAINING_PROMOTION_MARGIN``, default 0).
- **a test beside it**: the Diebold-Mariano test with squared-error loss, i.e. the one-sided
  paired t-test of the per-row squared errors (``scipy.stats.ttest_rel(alternative="less")``);
  Diebold & Mariano, "Comparing Predictive Accuracy", *J. Business & Economic Statistics* 13
  (1995). Its t statistic and p-value are logged, not used to decide.

Rows of one date are treated as independent (no block bootstrap): the holdout is a few dates of
many items, and the same items are not repeated within a date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
BATCH = 100  # resamples per vectorised batch: memory stays at BATCH x holdout rows


@dataclass(frozen=True)
class PairedComparison:
    """A candidate against a reference on the same ``rows`` holdout rows.

    :param reference: what it was compared with (``"baseline"``, ``"champion"``)
    :param difference: ``candidate_rmse - reference_rmse`` (target units; negative = better)
    :param low: lower bound of the ``confidence`` interval of ``difference``
    :param high: upper bound of that interval
    :param t_statistic: Diebold-Mariano paired t of the squared errors (negative = better)
    :param p_value: its one-sided p-value (alternative: the candidate's errors are smaller)
    """

    reference: str
    rows: int
    candidate_rmse: float
    reference_rmse: float
    difference: float
    low: float
    high: float
    confidence: float
    t_statistic: float
    p_value: float

    def better(self, margin: float = 0.0) -> bool:
        """Whether the whole interval lies below ``-margin x reference_rmse``."""
        return bool(self.high < -margin * self.reference_rmse)

    def describe(self) -> str:
        """One line: ``RMSE 61.2 vs 142.0 on 160 holdout rows, difference -80.8 (95% CI
        -92.1..-70.3; Diebold-Mariano t -9.1, p 1e-16)``."""
        return (
            f"RMSE {self.candidate_rmse:.1f} vs {self.reference_rmse:.1f} on {self.rows} holdout "
            f"rows, difference {self.difference:+.1f} ({self.confidence:.0%} CI "
            f"{self.low:+.1f}..{self.high:+.1f}; Diebold-Mariano t {self.t_statistic:.2f}, "
            f"p {self.p_value:.2g})"
        )

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics, ``vs_<reference>_<figure>``."""
        figures = {k: v for k, v in asdict(self).items() if k not in ("reference", "confidence")}
        return {f"vs_{self.reference}_{k}": float(v) for k, v in figures.items()}


def _rmse_difference(candidate: Any, reference: Any, axis: int = -1) -> Any:
    return np.sqrt(np.mean(candidate**2, axis=axis)) - np.sqrt(np.mean(reference**2, axis=axis))


def compare_paired(
    y_true: Any,
    candidate: Any,
    reference: Any,
    name: str,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> PairedComparison:
    """Compare the ``candidate`` predictions with the ``reference`` ones on the same rows of
    ``y_true`` (see the module docstring for the methods and their sources). Needs 2+ rows."""
    from scipy import stats

    truth = np.asarray(y_true, dtype=float)
    errors_candidate = np.asarray(candidate, dtype=float) - truth
    errors_reference = np.asarray(reference, dtype=float) - truth
    difference = float(_rmse_difference(errors_candidate, errors_reference))
    losses = errors_candidate**2 - errors_reference**2
    if not np.any(losses):  # the same predictions: no interval, no test, and nothing better
        low = high = difference
        t_statistic, p_value = 0.0, 1.0
    else:
        interval = stats.bootstrap(
            (errors_candidate, errors_reference),
            _rmse_difference,
            paired=True,
            vectorized=True,
            method="percentile",
            confidence_level=confidence,
            n_resamples=resamples,
            batch=BATCH,
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
        test = stats.ttest_rel(errors_candidate**2, errors_reference**2, alternative="less")
        t_statistic, p_value = float(test.statistic), float(test.pvalue)
    return PairedComparison(
        reference=name,
        rows=len(truth),
        candidate_rmse=float(np.sqrt(np.mean(errors_candidate**2))),
        reference_rmse=float(np.sqrt(np.mean(errors_reference**2))),
        difference=difference,
        low=low,
        high=high,
        confidence=confidence,
        t_statistic=t_statistic,
        p_value=p_value,
    )


def promotion_decision(
    baseline: PairedComparison, champion: PairedComparison | None, margin: float = 0.0
) -> tuple[bool, str]:
    """Whether the candidate takes the ``champion`` alias, and why (the version's ``promotion``
    tag). It must beat the naive baseline (interval below zero), and the champion when there is
    one (interval below ``-margin x`` the champion's RMSE). A first model that does not beat the
    baseline is never promoted."""
    if not baseline.better():
        return False, f"not promoted: not better than the naive baseline: {baseline.describe()}"
    if champion is None:
        return True, f"first model: beats the naive baseline: {baseline.describe()}"
    if not champion.better(margin):
        return False, f"kept the champion: the candidate is not better: {champion.describe()}"
    return True, f"beats the champion: {champion.describe()}"
