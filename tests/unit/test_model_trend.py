"""The supervisor's model_error_trend check (harvest.monitoring.model_trend): a champion whose
holdout error rises over the newest trainings is a miss, a flat or noisy one is not, and it
goes through supervise() to an alert, a gauge and the supervisor's error account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pytest
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec
from harvest.monitoring.metrics import status_gauges
from harvest.monitoring.model_trend import (
    MIN_TRAININGS,
    TrainingError,
    TrainingHistoryUnavailable,
    check_model_error_trend,
    error_trend,
)
from harvest.monitoring.supervise import supervise

NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)


def _spec(**sla: object) -> SourceSpec:
    data = yaml.safe_load((DEFAULT_SOURCES_DIR / "demo.yaml").read_text())
    data["sla"] = {**data.get("sla", {}), **sla}
    return SourceSpec.model_validate(data)


def _history(errors: Sequence[float]) -> list[TrainingError]:
    return [TrainingError(f"run{i}", float(e), promoted=i == 0) for i, e in enumerate(errors)]


# ten nightly trainings of a champion drifting away (RMSE 64 -> 92, with noise and one bad
# night), and of one that stays at the noise floor with noise of the same size
RISING = [64.0, 66.5, 65.1, 70.2, 69.0, 150.0, 77.4, 80.1, 86.3, 92.0]
FLAT = [64.0, 71.5, 62.1, 68.2, 60.9, 70.3, 63.8, 66.0, 61.2, 67.4]


def test_a_rising_champion_error_is_a_miss_named_with_its_figures() -> None:
    result = check_model_error_trend(_spec(), _history(RISING))
    assert result.missed is True and result.key == "run9"
    assert result.observed is not None and result.observed < 0.05
    assert result.message.startswith(
        "champion holdout RMSE over the last 10 trainings 64.0 -> 92.0"
    )
    assert "Mann-Kendall tau +0." in result.message and "Theil-Sen slope +" in result.message


def test_a_flat_or_noisy_error_is_not_a_miss() -> None:
    assert check_model_error_trend(_spec(), _history(FLAT)).missed is False
    rng = np.random.default_rng(7)  # pure noise around the floor: misses at about the level
    misses = sum(error_trend(list(60 + rng.normal(0, 5, 10))).p_value < 0.05 for _ in range(400))
    assert 5 <= misses <= 40  # 5% of 400 is 20
    assert check_model_error_trend(_spec(), _history([70.0] * 10)).missed is False
    falling = check_model_error_trend(_spec(), _history(RISING[::-1]))
    assert falling.missed is False  # getting better is no alert


def test_only_the_newest_trainings_count_and_too_few_are_not_judged() -> None:
    # an old rise followed by a flat stretch as long as the window: no miss
    old_rise = check_model_error_trend(_spec(model_error_trend=6), _history(RISING + FLAT[:6]))
    assert old_rise.missed is False
    few = check_model_error_trend(_spec(), _history(RISING[: MIN_TRAININGS - 1]))
    assert few.missed is None and "a trend needs at least 5" in few.message
    off = check_model_error_trend(_spec(model_error_trend=None), _history(RISING))
    assert off.missed is None


class NoRuns:
    def dag_runs(self, dag_ids: object, since: object) -> dict[str, list[object]]:
        return {}


def test_supervise_alerts_once_and_publishes_the_p_value() -> None:
    spec = _spec()
    histories = {"rising": RISING, "flat": FLAT}
    reads: list[tuple[str, int]] = []

    def trainings(source_spec: SourceSpec, last: int) -> list[TrainingError]:
        reads.append((source_spec.name, last))
        return _history(histories[source_spec.name])

    specs = [spec.model_copy(update={"name": name}) for name in histories]
    run = supervise(specs, NoRuns(), lambda s, d: [], {}, NOW, trainings=trainings)
    assert reads == [("rising", 10), ("flat", 10)] and run.ok
    trend = {s.source: s.check("model_error_trend") for s in run.statuses}
    assert trend["rising"].missed is True and trend["flat"].missed is False
    alerts = [a for a in run.alerts if a.check == "model_error_trend"]
    assert [(a.kind, a.source) for a in alerts] == [("miss", "rising")]
    assert run.state["rising"]["model_error_trend"] == "run9"
    gauges = status_gauges(run.statuses[0])
    assert gauges["sla.model_error_trend.rising"] == 1.0
    assert gauges["model.error_trend_p_value.rising"] == pytest.approx(trend["rising"].observed)
    again = supervise(specs, NoRuns(), lambda s, d: [], run.state, NOW, trainings=trainings)
    assert not [a for a in again.alerts if a.check == "model_error_trend"]  # alerted once


def test_an_unreadable_tracking_store_is_the_supervisors_error_not_a_crash() -> None:
    def gone(spec: SourceSpec, last: int) -> list[TrainingError]:
        raise TrainingHistoryUnavailable("MLflow tracking server http://mlflow:5000 is down")

    run = supervise([_spec()], NoRuns(), lambda s, d: [], {}, NOW, trainings=gone)
    assert not run.ok and "http://mlflow:5000 is down" in run.errors["mlflow"]
    assert [c.check for c in run.statuses[0].checks].count("model_error_trend") == 0
