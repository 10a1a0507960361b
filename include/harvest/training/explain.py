"""SHAP explanations of a fitted model: plots for the run, top contributions per row, and
LIME's second opinion beside them (:mod:`harvest.training.second_opinion`).

``shap.TreeExplainer`` on the booster itself (exact and fast for trees; the model-agnostic
explainers would take minutes), on the already-transformed feature matrix, so contributions are
named after the pipeline's output features (``city``, ``area_div_rooms``,
``available_from_month`` ...).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harvest.features.pipeline import transform_features
from harvest.training.second_opinion import BACKGROUND_ROWS as LIME_BACKGROUND_ROWS
from harvest.training.second_opinion import SecondOpinion, second_opinion

if TYPE_CHECKING:
    from harvest.training.data import Split
    from harvest.training.settings import TrainingSettings

BACKGROUND_ROWS = 20  # rows the permutation explainer masks with (the network only)
TOP_CONTRIBUTIONS = 3
DEPENDENCE_PLOTS = 3


def shap_values(model: Any, matrix: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """SHAP values, shape (rows, features), in target units. Trees: ``shap.TreeExplainer``;
    the network (no tree to walk): ``shap.PermutationExplainer`` on its ``predict`` against
    :data:`BACKGROUND_ROWS` rows of ``matrix`` (model-agnostic, approximate, slower)."""
    import shap

    if not hasattr(model, "model_"):  # a LightGBM or XGBoost estimator
        return np.asarray(shap.TreeExplainer(model).shap_values(matrix), dtype=float)
    numbers = matrix.astype(float)
    background = numbers.sample(min(len(numbers), BACKGROUND_ROWS), random_state=seed)
    explainer = shap.PermutationExplainer(
        lambda x: model.predict(pd.DataFrame(x, columns=numbers.columns)),
        shap.maskers.Independent(background, max_samples=BACKGROUND_ROWS),
        seed=seed,
    )
    # one forward and one backward pass through a permutation per row: 2 x features + 1 calls
    evaluations = 2 * numbers.shape[1] + 1
    return np.asarray(explainer(numbers, max_evals=evaluations, silent=True).values, dtype=float)


def top_contributions(
    values: np.ndarray, matrix: pd.DataFrame, top: int = TOP_CONTRIBUTIONS
) -> list[list[dict[str, Any]]]:
    """Per row, the ``top`` features with the largest absolute contribution:
    ``[{"feature", "value", "contribution"}, ...]`` (contribution in target units)."""
    names = list(matrix.columns)
    order = np.argsort(-np.abs(values), axis=1)[:, :top]
    data = matrix.to_numpy(dtype=float)
    rows = []
    for i, columns in enumerate(order):
        rows.append(
            [
                {
                    "feature": names[j],
                    "value": None if np.isnan(data[i, j]) else float(data[i, j]),
                    "contribution": round(float(values[i, j]), 2),
                }
                for j in columns
            ]
        )
    return rows


def importances(values: np.ndarray, matrix: pd.DataFrame) -> pd.Series:
    """Mean absolute SHAP value per feature, largest first."""
    return pd.Series(np.abs(values).mean(axis=0), index=matrix.columns).sort_values(ascending=False)


def write_plots(values: np.ndarray, matrix: pd.DataFrame, folder: Path) -> list[Path]:
    """The SHAP summary plot and dependence plots of the top features, as PNGs in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    shap.summary_plot(values, matrix, show=False)
    paths.append(folder / "shap_summary.png")
    plt.savefig(paths[-1], bbox_inches="tight", dpi=80)
    plt.close("all")
    for feature in importances(values, matrix).index[:DEPENDENCE_PLOTS]:
        shap.dependence_plot(feature, values, matrix, show=False, interaction_index=None)
        paths.append(folder / f"shap_dependence_{feature}.png")
        plt.savefig(paths[-1], bbox_inches="tight", dpi=80)
        plt.close("all")
    return paths


def log_explanations(
    mlflow: Any, pipeline: Any, split: Split, studies: dict[str, Any], training: TrainingSettings
) -> SecondOpinion:
    """Log to the active MLflow run: SHAP plots and feature importances on up to
    ``training.shap_sample`` holdout rows (seeded sample), LIME's second opinion on the first
    ``training.lime_sample`` of them (``lime/explanations.json``; the caller logs its
    metrics), and the Optuna study summaries. Returns the second opinion."""
    holdout = split.holdout
    sample = holdout.sample(min(len(holdout), training.shap_sample), random_state=training.seed)
    matrix = transform_features(pipeline, sample)
    model = pipeline.steps[-1][1]
    values = shap_values(model, matrix)
    with tempfile.TemporaryDirectory() as folder:
        for path in write_plots(values, matrix, Path(folder)):
            mlflow.log_artifact(str(path), artifact_path="shap")
    importance = importances(values, matrix)
    mlflow.log_dict({k: float(v) for k, v in importance.items()}, "feature_importances.json")
    train = split.train
    sampled = train.sample(min(len(train), LIME_BACKGROUND_ROWS), random_state=training.seed)
    background = transform_features(pipeline, sampled)
    opinion = second_opinion(model, matrix, values, background, training.lime_sample, training.seed)
    if opinion.rows:
        keys = list(sample["record_key"].astype(str)) if "record_key" in sample else []
        rows = [{**e, "record_key": keys[e["row"]]} if keys else e for e in opinion.explanations]
        mlflow.log_dict({**opinion.summary(), "explanations": rows}, "lime/explanations.json")
    for kind, study in studies.items():
        summary = {
            "study": study.study_name,
            "best_value": study.best_value,
            "best_params": study.best_params,
            "trials": len(study.trials),
            "states": study.trials_dataframe(attrs=("state",))["state"].value_counts().to_dict(),
        }
        mlflow.log_text(json.dumps(summary, indent=2, default=str), f"optuna/{kind}.json")
    return opinion
