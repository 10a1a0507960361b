"""A second opinion on SHAP: LIME explanations of a bounded sample of scored rows, and where the
two disagree on a row's top feature.

SHAP (:mod:`harvest.training.explain`) and LIME answer "why this prediction" in different ways:
SHAP shares the prediction out as Shapley values; LIME (Ribeiro, Singh & Guestrin, "Why Should
I Trust You?", KDD 2016; ``lime.lime_tabular.LimeTabularExplainer``) fits a weighted ridge
regression to the model's answers on perturbations around the row. When both name the same
feature as the one that moved a row's prediction most, the explanation is more than one
method's artefact; when they disagree it is worth a look, so the count is reported.

Choices, and why:

- LIME sees the model's input matrix (the pipeline's output features, as SHAP does), so both
  name the same features; the network's category codes are LIME categorical features (sampled
  from their training frequencies), every other column continuous, discretised in quartiles
  (LIME's default: a weight then reads "being in this quartile moved the price by ...").
- A row's missing values (a date part) are filled with the background's median for LIME only:
  its quartiles and perturbations need numbers.
- All features enter the local model (``feature_selection="none"``: the top one is the largest
  absolute weight, no forward selection to pay for); :data:`PERTURBATIONS` samples per row
  (LIME's default is 5,000; 1,000 keeps the weights' order stable on the demo and the cost a
  fifth). Cost: ``rows x PERTURBATIONS`` model predictions in ``rows`` batches.
- Seeded (``random_state``): the same rows, model and seed give the same weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PERTURBATIONS = 1000
BACKGROUND_ROWS = 1000  # rows LIME takes its statistics (quartiles, frequencies) from


@dataclass(frozen=True)
class SecondOpinion:
    """SHAP's and LIME's top feature for each of ``rows`` explained rows.

    :param rows: rows explained by both
    :param disagreements: rows whose top feature (largest absolute SHAP value, largest absolute
        LIME weight) differs
    :param seconds: wall time of the LIME explanations
    :param explanations: per row ``{"row", "shap_top", "lime_top", "agree", "lime_score",
        "lime": [[feature, weight], ...]}`` (LIME's three largest weights, target units;
        ``lime_score`` the local model's R² on its perturbations)
    """

    rows: int
    disagreements: int
    seconds: float
    explanations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def disagreement_share(self) -> float:
        return self.disagreements / self.rows if self.rows else 0.0

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: ``lime_rows``, ``lime_shap_top_disagreements`` and its share,
        ``lime_seconds``, ``lime_local_r2_median`` (when a row was explained)."""
        scores = [e["lime_score"] for e in self.explanations]
        out = {
            "lime_rows": float(self.rows),
            "lime_shap_top_disagreements": float(self.disagreements),
            "lime_shap_top_disagreement_share": self.disagreement_share,
            "lime_seconds": self.seconds,
        }
        if scores:  # none when nothing was explained: no figure rather than a NaN
            out["lime_local_r2_median"] = float(np.median(scores))
        return out

    def summary(self) -> dict[str, float]:
        """The counts for a report (training's and scoring's)."""
        return {
            "rows": self.rows,
            "disagreements": self.disagreements,
            "share": round(self.disagreement_share, 4),
        }


def lime_weights(
    model: Any,
    matrix: pd.DataFrame,
    background: pd.DataFrame,
    seed: int = 0,
    perturbations: int = PERTURBATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """LIME weights, shape (rows, features) in target units, and each row's local R², for
    every row of ``matrix`` (the model's input features), with statistics from ``background``
    (up to :data:`BACKGROUND_ROWS` of its rows, seeded)."""
    from lime.lime_tabular import LimeTabularExplainer

    names = list(matrix.columns)
    stats = background.astype(float).sample(
        min(len(background), BACKGROUND_ROWS), random_state=seed
    )
    medians = stats.median().fillna(0.0)
    stats = stats.fillna(medians)
    codes = set(getattr(model, "categorical", ()) or ())  # the network's embedded categories
    explainer = LimeTabularExplainer(
        stats.to_numpy(),
        mode="regression",
        feature_names=names,
        categorical_features=[i for i, name in enumerate(names) if name in codes],
        feature_selection="none",
        random_state=seed,
    )

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(pd.DataFrame(rows, columns=names)), dtype=float)

    rows = matrix.astype(float).fillna(medians).to_numpy()
    weights = np.zeros(rows.shape, dtype=float)
    scores = np.zeros(len(rows), dtype=float)
    for i, row in enumerate(rows):
        found = explainer.explain_instance(
            row, predict, num_features=len(names), num_samples=perturbations
        )
        for j, weight in found.local_exp[1]:
            weights[i, j] = weight
        scores[i] = float(found.score)
    return weights, scores


def compare(
    shap_values: np.ndarray, weights: np.ndarray, scores: np.ndarray, names: list[str]
) -> list[dict[str, Any]]:
    """Per row, SHAP's and LIME's top feature and whether they agree (see :class:`SecondOpinion`)."""
    shap_top = np.argmax(np.abs(shap_values), axis=1)
    lime_top = np.argmax(np.abs(weights), axis=1)
    out = []
    for i in range(len(weights)):
        largest = np.argsort(-np.abs(weights[i]))[:3]
        out.append(
            {
                "row": i,
                "shap_top": names[shap_top[i]],
                "lime_top": names[lime_top[i]],
                "agree": bool(shap_top[i] == lime_top[i]),
                "lime_score": round(float(scores[i]), 4),
                "lime": [[names[j], round(float(weights[i, j]), 2)] for j in largest],
            }
        )
    return out


def second_opinion(
    model: Any,
    matrix: pd.DataFrame,
    shap_values: np.ndarray,
    background: pd.DataFrame,
    rows: int,
    seed: int = 0,
) -> SecondOpinion:
    """LIME on the first ``rows`` rows of ``matrix`` (whose SHAP values are the first rows of
    ``shap_values``; pass a sample already drawn at random), compared with SHAP row by row.
    ``rows`` 0 explains nothing."""
    count = min(rows, len(matrix))
    if count == 0:
        return SecondOpinion(0, 0, 0.0)
    started = time.perf_counter()
    weights, scores = lime_weights(model, matrix.iloc[:count], background, seed)
    seconds = time.perf_counter() - started
    explanations = compare(shap_values[:count], weights, scores, list(matrix.columns))
    disagreements = sum(not e["agree"] for e in explanations)
    return SecondOpinion(count, disagreements, seconds, explanations)
