"""Training's pure parts: the checks that refuse bad training sets, the time split, the target
outlier filter, the median baseline, the promotion rule and the settings."""

from __future__ import annotations

import dataclasses
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
from harvest.training.metrics import (
    MedianBaseline,
    regression_metrics,
    relative_metrics,
    rmse_interval_metrics,
)
from harvest.training.promotion import compare_paired, promotion_decision
from harvest.training.settings import TrainingSettings

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


def test_the_error_against_the_noise_floor_has_an_interval_that_narrows_with_rows() -> None:
    """A model at the floor (errors of sd 60): the interval holds the RMSE, is seeded, and is
    much wider on 30 holdout rows than on 3,000 (a holdout of few rows says little)."""
    rng = np.random.default_rng(0)
    truth = rng.normal(1000, 300, 3000)
    predicted = truth + rng.normal(0, 60, 3000)
    rmse = regression_metrics(truth, predicted)["rmse"]
    wide = rmse_interval_metrics(truth[:30], predicted[:30], 60.0, seed=1)
    narrow = rmse_interval_metrics(truth, predicted, 60.0, seed=1)
    assert narrow["holdout_rmse_low"] < rmse < narrow["holdout_rmse_high"]
    assert narrow["rmse_vs_noise_floor_low"] < 1.0 < narrow["rmse_vs_noise_floor_high"]
    assert narrow["rmse_vs_noise_floor_high"] == pytest.approx(narrow["holdout_rmse_high"] / 60)
    width = {k: v["holdout_rmse_high"] - v["holdout_rmse_low"] for k, v in
             {"wide": wide, "narrow": narrow}.items()}  # fmt: skip
    assert width["wide"] > 5 * width["narrow"]
    assert rmse_interval_metrics(truth, predicted, 60.0, seed=1) == narrow  # seeded
    assert set(rmse_interval_metrics(truth, predicted, None)) == {
        "holdout_rmse_low", "holdout_rmse_high",
    }  # fmt: skip


def _predictions(n: int, candidate_sd: float, reference_sd: float, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    truth = rng.normal(1000, 300, n)
    return (
        truth,
        truth + rng.normal(0, candidate_sd, n),
        truth + rng.normal(0, reference_sd, n),
    )


def test_a_clearly_better_candidate_has_an_interval_below_zero() -> None:
    truth, candidate, reference = _predictions(200, 60, 150)
    result = compare_paired(truth, candidate, reference, "baseline", seed=0)
    assert result.rows == 200 and result.confidence == 0.95
    assert result.difference == pytest.approx(result.candidate_rmse - result.reference_rmse)
    assert result.low < result.difference < result.high < 0
    assert result.t_statistic < -5 and result.p_value < 1e-6
    assert result.better() and not result.better(margin=0.9)
    again = compare_paired(truth, candidate, reference, "baseline", seed=0)
    assert (again.low, again.high) == (result.low, result.high)  # seeded: the same interval
    assert set(result.metrics()) == {
        f"vs_baseline_{k}"
        for k in (
            "rows", "candidate_rmse", "reference_rmse", "difference", "low", "high",
            "t_statistic", "p_value",
        )
    }  # fmt: skip


def test_a_lucky_rmse_on_few_rows_is_not_a_win() -> None:
    """Equally good models: one has the lower RMSE on this holdout, but the interval says it
    could as well be the other way round; one row gives no interval at all."""
    truth, candidate, reference = _predictions(40, 100, 100, seed=3)
    result = compare_paired(truth, candidate, reference, "champion", seed=0)
    assert result.low < 0 < result.high and not result.better()
    same = compare_paired(truth, candidate, candidate, "champion")
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not same.better()


def test_promotion_needs_the_baseline_and_the_champion_beaten() -> None:
    truth, good, bad = _predictions(200, 60, 190)
    good_vs_bad = compare_paired(truth, good, bad, "baseline")
    bad_vs_good = compare_paired(truth, bad, good, "baseline")
    promoted, why = promotion_decision(good_vs_bad, None)
    assert promoted and why.startswith("first model: beats the naive baseline: RMSE")
    # a first model 3x worse than the baseline was promoted; never now
    promoted, why = promotion_decision(bad_vs_good, None)
    assert not promoted
    assert why.startswith("not promoted: not better than the naive baseline: RMSE 1")
    assert "95% CI +" in why and "Diebold-Mariano t" in why
    vs_champion = dataclasses.replace(good_vs_bad, reference="champion")
    assert promotion_decision(good_vs_bad, vs_champion)[1].startswith("beats the champion: RMSE")
    kept = dataclasses.replace(bad_vs_good, reference="champion")
    assert promotion_decision(good_vs_bad, kept)[1].startswith("kept the champion: the candidate")
    assert not promotion_decision(good_vs_bad, vs_champion, margin=0.9)[0]
    assert promotion_decision(good_vs_bad, None, margin=0.9)[0]  # the margin is the champion's


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
