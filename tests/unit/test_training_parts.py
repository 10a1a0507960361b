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
    check_windows,
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


def test_infinite_targets_are_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """With ``target_outlier_fold: null`` an infinite price reached XGBoost (crash) and
    LightGBM (an RMSE of 1e36): it is no value to learn, so it goes like a missing one."""
    frame = _frame()
    frame.loc[[3, 48], "price_eur"] = [np.inf, -np.inf]
    with caplog.at_level("WARNING", logger="harvest.training.data"):
        rows = check_training_set(frame, SPEC, min_rows=1)
    assert len(rows) == 48 and np.isfinite(rows["price_eur"]).all()
    assert "2 row(s) with an infinite price_eur (date(s) 2026-03-01, 2026-03-05)" in caplog.text
    frame["price_eur"] = np.inf
    with pytest.raises(TrainingDataError, match="0 rows with a price_eur value"):
        check_training_set(frame, SPEC, min_rows=1)


@pytest.mark.parametrize("bad_day", [8, 9, 10])  # the validation date, then each holdout date
def test_a_bad_night_is_left_out_whole_and_the_windows_move(
    bad_day: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Prices x100 on one date emptied the validation or holdout window (LightGBM: "0
    feature(s) (shape=(0, 8))"); the date is now named and left out, the split drawn again."""
    frame = _frame(days=10)
    night = frame["logical_date"].dt.day == bad_day
    frame.loc[night, "price"] *= 100
    with caplog.at_level("WARNING", logger="harvest.training.data"):
        split = drop_target_outliers(time_split(frame, 2, "source demo"), "price", 3.0, "s")
    day = f"2026-03-{bad_day:02d}"
    assert split.bad_dates == (day,)
    assert split.target_outliers == 10
    days = [d for d in range(1, 11) if d != bad_day]
    assert split.holdout["logical_date"].dt.day.unique().tolist() == days[-2:]
    assert split.valid["logical_date"].dt.day.unique().tolist() == [days[-3]]
    assert f"date(s) {day} left out of training: 100% of their rows" in caplog.text
    assert split.summary()["bad_dates_dropped"] == day
    check_windows(split, 10, 2, "s")  # every window still has its rows


def test_too_few_dates_left_after_a_bad_night_waits_for_more() -> None:
    frame = _frame(days=4)
    frame.loc[frame["logical_date"].dt.day == 4, "price"] *= 100
    with pytest.raises(TrainingDataError, match=r"3 date\(s\) of data") as caught:
        drop_target_outliers(time_split(frame, 2, "source demo"), "price", 3.0, "s")
    assert caught.value.more_data_helps


def test_a_window_too_small_to_measure_is_refused() -> None:
    """A holdout of one row decided the promotion; a window below the minimum now fails with
    what to do, and (holdout, validation) not as 'wait for more data'."""
    frame = _frame(days=5)
    frame = frame[(frame["logical_date"].dt.day < 4) | (frame.index % 10 == 0)]
    split = time_split(frame, 2, "source demo")
    with pytest.raises(
        TrainingDataError,
        match=r"source demo: the holdout window \(2026-03-04..2026-03-05\) has 2 row\(s\), "
        r"fewer than the 5 needed.*MIN_WINDOW_ROWS\); raise features.holdout_days \(now 2\)",
    ) as caught:
        check_windows(split, 5, 2, "source demo")
    assert not caught.value.more_data_helps and not caught.value.retryable
    with pytest.raises(TrainingDataError, match="the fit window") as caught:
        check_windows(split, 30, 2, "source demo")
    assert caught.value.more_data_helps


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
        "import sys, harvest.training.train, harvest.training.scoring, harvest.features; "
        "sys.exit('mlflow' in sys.modules or 'shap' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
