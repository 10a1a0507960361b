"""What MLflow knows of a source's models, for the app's Models page: every training run (its
holdout error, the baseline's, the error against the noise floor, the model kind), the
registered versions with the ``champion`` alias, and the champion run's SHAP artifacts. Read
with the MLflow client (the tracking store of the settings: a local SQLite store or the
server's REST API); nothing is written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.training import tracking

RUN_METRICS = (
    "holdout_rmse",
    "baseline_rmse",
    "rmse_vs_noise_floor",
    "rmse_vs_baseline",
    "champion_holdout_rmse",
    # the paired comparison with the baseline (harvest.training.promotion): the RMSE difference
    # (negative = better) and its bootstrap confidence interval, in target units
    "vs_baseline_difference",
    "vs_baseline_low",
    "vs_baseline_high",
    "vs_baseline_p_value",
    # the holdout RMSE's bootstrap interval, and against the noise floor
    "holdout_rmse_low",
    "holdout_rmse_high",
    "rmse_vs_noise_floor_low",
    "rmse_vs_noise_floor_high",
    # LIME's second opinion: holdout rows explained, and those whose top feature is not SHAP's
    "lime_rows",
    "lime_shap_top_disagreements",
)


@dataclass
class ModelHistory:
    """One source's trainings (oldest first), versions and champion."""

    source: str
    runs: pd.DataFrame  # run_id, start_time, model_kind, promoted, promotion, *RUN_METRICS
    versions: pd.DataFrame  # version, run_id, champion, promoted, promotion
    champion: str | None = None  # the version holding the alias
    champion_run: str | None = None
    importances: dict[str, float] = field(default_factory=dict)  # of the champion's run


def model_history(tracking_uri: str, source: str) -> ModelHistory:
    """The trainings, versions and champion of ``source`` in the tracking store; empty frames
    before the first training. Raises :class:`~.tracking.TrackingUnavailable`."""
    mlflow = tracking.connect(tracking_uri)
    client = mlflow.MlflowClient()
    name = tracking.registered_model_name(source)
    experiment = mlflow.get_experiment_by_name(tracking.experiment_name(source))
    runs = pd.DataFrame(columns=["run_id", "start_time", "model_kind", *RUN_METRICS])
    if experiment is not None:
        found = mlflow.search_runs(
            experiment_ids=[experiment.experiment_id], order_by=["attributes.start_time ASC"]
        )
        if not found.empty:
            runs = pd.DataFrame(
                {
                    "run_id": found["run_id"],
                    "start_time": found["start_time"],
                    "model_kind": found.get("params.model_kind"),
                    "promoted": found.get("tags.promoted"),
                    "promotion": found.get("tags.promotion"),
                    **{m: found.get(f"metrics.{m}") for m in RUN_METRICS},
                }
            )
    versions = [
        {"version": str(v.version), "run_id": v.run_id, "promotion": v.tags.get("promotion")}
        for v in client.search_model_versions(f"name = '{name}'")
    ]
    champion = tracking.champion_version(client, name)
    history = ModelHistory(
        source,
        runs,
        pd.DataFrame(versions, columns=["version", "run_id", "promotion"]),
        str(champion.version) if champion is not None else None,
        champion.run_id if champion is not None else None,
    )
    if not history.versions.empty:
        history.versions["champion"] = history.versions["version"] == history.champion
    if history.champion_run:
        history.importances = _importances(mlflow, history.champion_run)
    return history


def champion_errors(tracking_uri: str, source: str, last: int) -> list[tuple[str, float, bool]]:
    """The champion's holdout RMSE after each of the newest ``last`` trainings of ``source``,
    oldest first, as ``(run_id, rmse, promoted)``: the new model's ``holdout_rmse`` when it
    was promoted, else the kept champion's ``champion_holdout_rmse`` on the same holdout
    (trainings before any champion are left out). What the supervisor's trend check reads
    (:mod:`harvest.monitoring.model_trend`); none, and no store created, when a local SQLite
    store does not exist yet. Raises :class:`~.tracking.TrackingUnavailable`."""
    local = tracking_uri.startswith("sqlite:///")
    if local and not Path(tracking_uri.removeprefix("sqlite:///")).expanduser().exists():
        return []  # nothing trained here yet: the supervisor does not create the store
    mlflow = tracking.connect(tracking_uri)
    experiment = mlflow.get_experiment_by_name(tracking.experiment_name(source))
    if experiment is None:
        return []
    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=last,
    )
    out = []
    for _, run in found.iloc[::-1].iterrows():
        promoted = run.get("tags.promoted") == "True"
        rmse = run.get("metrics.holdout_rmse" if promoted else "metrics.champion_holdout_rmse")
        if rmse is not None and pd.notna(rmse):
            out.append((str(run["run_id"]), float(rmse), promoted))
    return out


def _importances(mlflow: Any, run_id: str) -> dict[str, float]:
    """The run's mean |SHAP| per feature (``feature_importances.json``), or {} without one."""
    try:
        data = mlflow.artifacts.load_dict(f"runs:/{run_id}/feature_importances.json")
    except Exception:  # an older run without the artifact
        return {}
    return {str(k): float(v) for k, v in data.items()}


def shap_summary(tracking_uri: str, run_id: str, folder: Path) -> Path | None:
    """The run's SHAP summary plot (``shap/shap_summary.png``) downloaded into ``folder``, or
    ``None`` when the run has none."""
    mlflow = tracking.connect(tracking_uri)
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="shap/shap_summary.png", dst_path=str(folder)
        )
    except Exception:
        return None
    return Path(path)


def contributions(explanation: Any) -> pd.DataFrame:
    """A scored row's top SHAP contributions (``predictions_<source>.explanation``) as a frame
    (feature, value, contribution), largest first by size."""
    items = json.loads(explanation) if isinstance(explanation, str) else list(explanation or [])
    frame = pd.DataFrame(items, columns=["feature", "value", "contribution"])
    return frame.reindex(frame["contribution"].abs().sort_values(ascending=False).index)
