"""Whether the champion's holdout error trends up over a source's newest trainings: the
supervisor's ``model_error_trend`` check.

Each training measures the model that is champion after it on that night's fresh holdout: the
new model's ``holdout_rmse`` when it was promoted, else the kept champion's
``champion_holdout_rmse`` on the same rows. A champion that gets worse night after night (the
site changed, prices drifted away from what it learnt) shows as a rising series, even while
every new candidate fails to beat it.

The test is **Mann-Kendall**: Kendall's tau between the trainings' order and their errors,
one-sided (``scipy.stats.kendalltau(alternative="greater")``, exact p-value for a short series
without ties); Mann, "Nonparametric tests against trend", *Econometrica* 13 (1945); Kendall,
*Rank Correlation Methods* (1975). Why this rather than an OLS slope t-test: it uses ranks only,
so one bad night (an RMSE ten times the others) cannot make or hide a trend, it needs no normal
residuals (ten RMSEs are far too few to check that), and it finds any monotonic rise, not only a
straight line. The size of the rise is reported as the Theil-Sen slope
(``scipy.stats.theilslopes``, target units per training), robust for the same reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.monitoring.sla import CheckResult

CHECK = "model_error_trend"
ALPHA = 0.05
"""One-sided significance level of the Mann-Kendall test: below it the trend is a miss."""
MIN_TRAININGS = 5
"""Fewer trainings are not judged: with 4 points even a perfect rise has p = 1/24 = 0.042,
one swap from 0.17; a trend needs more evidence than that."""


@dataclass(frozen=True)
class TrainingError:
    """The champion's holdout error after one training (oldest first in a history).

    :param run_id: the training's MLflow run
    :param rmse: the champion's holdout RMSE on that training's holdout (target units)
    :param promoted: whether that training's candidate became the champion
    """

    run_id: str
    rmse: float
    promoted: bool = False


class TrainingHistoryUnavailable(HarvestError, RuntimeError):
    """The trainings of a source cannot be read (the tracking store does not answer)."""


TrainingHistory = Callable[[SourceSpec, int], Sequence[TrainingError]]
"""The newest ``n`` trainings of a source, oldest first (read from MLflow by the adapter:
``harvest.training.history.champion_errors``); raises :class:`TrainingHistoryUnavailable`."""


@dataclass(frozen=True)
class Trend:
    """Mann-Kendall over ``n`` trainings: ``tau`` (-1..1), its one-sided ``p_value`` (rising)
    and the Theil-Sen ``slope`` (target units per training)."""

    n: int
    tau: float
    p_value: float
    slope: float


def error_trend(errors: Sequence[float]) -> Trend:
    """Mann-Kendall and Theil-Sen of ``errors`` in training order (see the module docstring).
    A constant series has no trend (tau 0, p 1)."""
    from scipy import stats

    order = list(range(len(errors)))
    if len(set(errors)) < 2:
        return Trend(len(errors), 0.0, 1.0, 0.0)
    test = stats.kendalltau(order, list(errors), alternative="greater")
    slope = float(stats.theilslopes(list(errors), order).slope)
    return Trend(len(errors), float(test.statistic), float(test.pvalue), slope)


def check_model_error_trend(
    spec: SourceSpec, trainings: Sequence[TrainingError], alpha: float = ALPHA
) -> CheckResult:
    """Missed when the champion's holdout RMSE over the newest ``sla.model_error_trend``
    trainings rises with Mann-Kendall p < ``alpha``; not judged for a source without a target,
    with the check off (``null``) or with fewer than :data:`MIN_TRAININGS` trainings. One miss
    per newest training (its run id is the key)."""
    window = spec.sla.model_error_trend
    if spec.target is None or window is None:
        return CheckResult(CHECK, None, "no target or switched off")
    newest = list(trainings)[-window:]
    if len(newest) < MIN_TRAININGS:
        return CheckResult(
            CHECK, None, f"{len(newest)} training(s), a trend needs at least {MIN_TRAININGS}"
        )
    trend = error_trend([t.rmse for t in newest])
    missed = trend.p_value < alpha and trend.slope > 0
    message = (
        f"champion holdout RMSE over the last {trend.n} trainings "
        f"{newest[0].rmse:.1f} -> {newest[-1].rmse:.1f}: Mann-Kendall tau {trend.tau:+.2f}, "
        f"p {trend.p_value:.3f} (miss below {alpha}), Theil-Sen slope {trend.slope:+.2f} per "
        "training"
    )
    return CheckResult(CHECK, missed, message, trend.p_value, alpha, newest[-1].run_id)
