"""LIME beside SHAP (harvest.training.second_opinion) on a small fitted LightGBM: the top
features are compared row by row, the weights are seeded, and the cost is bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harvest.training.explain import shap_values
from harvest.training.second_opinion import compare, lime_weights, second_opinion


@pytest.fixture(scope="module")
def fitted() -> tuple[object, pd.DataFrame]:
    """price = 40 x area + 5 x rooms + noise; ``age`` is noise only; a few missing rooms."""
    from lightgbm import LGBMRegressor

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {"area": rng.uniform(20, 120, 400), "rooms": rng.integers(1, 5, 400).astype(float)}
    )
    x["age"] = rng.normal(0, 1, 400)
    y = 40 * x["area"] + 5 * x["rooms"] + rng.normal(0, 20, 400)
    x.loc[::50, "rooms"] = np.nan
    model = LGBMRegressor(n_estimators=60, random_state=0, n_jobs=1, verbose=-1).fit(x, y)
    return model, x


def test_rows_where_shap_and_lime_name_another_top_feature_are_counted() -> None:
    names = ["area", "rooms", "age"]
    shap = np.array([[300.0, -20.0, 1.0], [10.0, 50.0, 0.0], [-5.0, 1.0, 2.0]])
    lime = np.array([[-250.0, 30.0, 0.0], [60.0, 40.0, 1.0], [1.0, 0.5, -3.0]])
    rows = compare(shap, lime, np.array([0.9, 0.8, 0.1]), names)
    assert [(r["shap_top"], r["lime_top"], r["agree"]) for r in rows] == [
        ("area", "area", True),  # the size decides, not the sign
        ("rooms", "area", False),
        ("area", "age", False),
    ]
    assert rows[0]["lime"] == [["area", -250.0], ["rooms", 30.0], ["age", 0.0]]
    assert rows[2]["lime_score"] == 0.1


def test_lime_agrees_with_shap_where_one_feature_drives_the_price(fitted: tuple) -> None:
    model, x = fitted
    sample = x.sample(12, random_state=1)
    values = shap_values(model, sample)
    opinion = second_opinion(model, sample, values, x, rows=12, seed=0)
    assert opinion.rows == 12 and opinion.seconds > 0
    assert opinion.disagreements == sum(not e["agree"] for e in opinion.explanations)
    assert opinion.disagreements <= 2  # area moves the price most, whoever is asked
    assert {e["shap_top"] for e in opinion.explanations} == {"area"}
    metrics = opinion.metrics()
    assert metrics["lime_rows"] == 12 and metrics["lime_shap_top_disagreements"] == float(
        opinion.disagreements
    )
    assert 0 < metrics["lime_local_r2_median"] <= 1
    assert opinion.summary() == {
        "rows": 12,
        "disagreements": opinion.disagreements,
        "share": round(opinion.disagreements / 12, 4),
    }


def test_lime_is_seeded_and_explains_only_the_rows_asked(fitted: tuple) -> None:
    model, x = fitted
    sample = x.head(5)  # row 0 has no rooms: filled for LIME only
    first, scores = lime_weights(model, sample, x, seed=3, perturbations=300)
    again, scores_again = lime_weights(model, sample, x, seed=3, perturbations=300)
    other, _ = lime_weights(model, sample, x, seed=4, perturbations=300)
    assert first.shape == (5, 3) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(scores, scores_again)
    assert not np.array_equal(first, other)
    values = shap_values(model, sample)
    assert second_opinion(model, sample, values, x, rows=2).rows == 2  # the bound
    assert second_opinion(model, sample, values, x, rows=0).rows == 0  # switched off


def test_nothing_explained_gives_counts_and_no_nan() -> None:
    empty = second_opinion(None, pd.DataFrame(), np.empty((0, 0)), pd.DataFrame(), rows=10)
    assert empty.metrics() == {
        "lime_rows": 0.0,
        "lime_shap_top_disagreements": 0.0,
        "lime_shap_top_disagreement_share": 0.0,
        "lime_seconds": 0.0,
    }
