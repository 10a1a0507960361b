"""Training's pure parts: the checks that refuse bad training sets, the time split, the target
outlier filter, the median baseline, the promotion rule and the settings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.training.data import (
    TrainingDataError,
    check_training_set,
    drop_target_outliers,
    time_split,
)
from harvest.training.metrics import MedianBaseline, regression_metrics, relative_metrics
from harvest.training.settings import TrainingSettings
from harvest.training.tracking import promotion_decision

SPEC = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")


def _frame(days: int = 5, per_day: int = 10, price: object = None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = days * per_day
    return pd.DataFrame(
        {
            "logical_date": pd.to_datetime("2026-03-01")
            + pd.to_timedelta(np.repeat(np.arange(days), per_day), unit="D"),
            "city": rng.choice(["Berlin", "Köln"], n),
            "price": rng.normal(1000, 100, n) if price is None else price,
        }
    ).assign(price_eur=lambda f: f["price"])  # the target column: price with convert_to: EUR


def test_missing_target_column_names_source_table_and_column() -> None:
    with pytest.raises(
        TrainingDataError,
        match=r"source demo, table processed_demo: target column 'price_eur' is missing",
    ):
        check_training_set(_frame().drop(columns="price_eur"), SPEC, min_rows=1)


def test_too_few_rows_says_how_many_and_the_setting() -> None:
    frame = _frame()
    frame.loc[:44, "price_eur"] = None
    with pytest.raises(
        TrainingDataError, match=r"5 rows with a price_eur value, fewer than the 20.*MIN_ROWS"
    ):
        check_training_set(frame, SPEC, min_rows=20)


def test_constant_target_is_refused() -> None:
    with pytest.raises(
        TrainingDataError, match=r"target 'price_eur' is constant \(1200.0 in all 50"
    ):
        check_training_set(_frame(price=1200.0), SPEC, min_rows=1)


def test_time_split_holds_out_the_latest_dates() -> None:
    split = time_split(_frame(days=5), holdout_days=2, where="source demo")
    assert split.fit["logical_date"].dt.day.unique().tolist() == [1, 2]
    assert split.valid["logical_date"].dt.day.unique().tolist() == [3]
    assert split.holdout["logical_date"].dt.day.unique().tolist() == [4, 5]
    assert split.summary()["split_holdout_dates"] == "2026-03-04..2026-03-05"
    with pytest.raises(TrainingDataError, match=r"source demo: 3 date\(s\) of data.*at least 4"):
        time_split(_frame(days=3), holdout_days=2, where="source demo")


def test_target_outliers_are_dropped_and_counted() -> None:
    frame = _frame(days=5)
    frame.loc[[3, 47], "price"] = 10_000.0  # one in fit, one in the holdout
    split = drop_target_outliers(time_split(frame, 2, "s"), "price", 3.0, "s")
    assert split.target_outliers == 2
    assert split.holdout["price"].max() < 5000
    assert drop_target_outliers(time_split(frame, 2, "s"), "price", None, "s").target_outliers == 0


def test_median_baseline_per_group_with_overall_fallback() -> None:
    train = pd.DataFrame({"city": ["A", "A", "A", "B", None], "price": [1, 2, 9, 10, 4]})
    baseline = MedianBaseline(["city"]).fit(train, train["price"])
    predicted = baseline.predict(pd.DataFrame({"city": ["A", "B", "Z", None]}))
    assert predicted.tolist() == [2.0, 10.0, 4.0, 4.0]
    assert MedianBaseline([]).fit(train, train["price"]).predict(train).tolist() == [4.0] * 5


def test_metrics_and_ratios() -> None:
    metrics = regression_metrics([1, 2, 3], [1, 2, 6])
    assert metrics["rmse"] == pytest.approx(math.sqrt(3))
    assert metrics["mae"] == pytest.approx(1.0)
    ratios = relative_metrics(metrics, {"rmse": 2 * math.sqrt(3), "mae": 2.0}, noise_floor=1.0)
    assert ratios == pytest.approx(
        {"rmse_vs_baseline": 0.5, "mae_vs_baseline": 0.5, "rmse_vs_noise_floor": math.sqrt(3)}
    )


@pytest.mark.parametrize(
    ("challenger", "champion", "promoted", "reason"),
    [
        (100.0, None, True, "first model: no champion yet"),
        (90.0, 100.0, True, "holdout RMSE 90.00 beats the champion's 100.00 by at least 5.0%"),
        (97.0, 100.0, False, "kept the champion: holdout RMSE 97.00 is not at least 5.0% better"),
        (120.0, 100.0, False, "kept the champion: holdout RMSE 120.00"),
    ],
)
def test_promotion_needs_the_margin(
    challenger: float, champion: float | None, promoted: bool, reason: str
) -> None:
    decision, why = promotion_decision(challenger, champion, margin=0.05)
    assert decision is promoted
    assert why.startswith(reason)


def test_settings_from_env_and_their_errors() -> None:
    settings = TrainingSettings.from_env(
        {"HARVEST_TRAINING_TRIALS": "7", "HARVEST_TRAINING_MODELS": "xgboost"}
    )
    assert (settings.trials, settings.models, settings.timeout_seconds) == (7, ("xgboost",), None)
    with pytest.raises(ValueError, match="HARVEST_TRAINING_MODELS: unknown model kind"):
        TrainingSettings.from_env({"HARVEST_TRAINING_MODELS": "catboost"})
    with pytest.raises(ValueError, match="HARVEST_TRAINING_TRIALS: not a number: 'many'"):
        TrainingSettings.from_env({"HARVEST_TRAINING_TRIALS": "many"})


def test_importing_training_does_not_import_mlflow() -> None:
    """MLflow reconfigures logging when imported: only the functions that track import it."""
    import subprocess
    import sys

    code = (
        "import sys, harvest.training.run, harvest.training.scoring, harvest.features; "
        "sys.exit('mlflow' in sys.modules or 'shap' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
