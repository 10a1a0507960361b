"""Optuna tuning of the LightGBM, XGBoost and Keras network candidates on an already-transformed
matrix (the network's with its categories as codes, :func:`encoding`).

Studies live where the warehouse lives when it is PostgreSQL (``RDBStorage`` with a heartbeat,
so a trial whose worker was killed is marked failed instead of running forever) and in a SQLite
file under ``HARVEST_HOME`` otherwise. A study is named after (source, model kind, logical date):
several workers (mapped Airflow tasks, each with its own seed) share it, and each runs only the
trials still missing, so a re-run of a finished study costs nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harvest.progress import track

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180
# Boosting rounds between pruning reports: each report is a write to the study's database
# (every round made a 2-trial study on PostgreSQL take a minute).
REPORT_EVERY = 25


def storage_url(warehouse_url: str, home: Path) -> str:
    """The Optuna storage URL: the warehouse itself when it is PostgreSQL, else
    ``sqlite:///<home>/optuna.db``."""
    if warehouse_url.startswith(("postgresql", "postgres:")):
        return warehouse_url
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'optuna.db'}"


def study_storage(url: str) -> Any:
    """An ``optuna.storages.RDBStorage`` on ``url`` with the heartbeat on."""
    import optuna

    return optuna.storages.RDBStorage(
        url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS
    )


def encoding(kind: str) -> str:
    """How ``kind`` takes categories: target-encoded (trees) or as codes it embeds (network)."""
    return "ordinal" if kind == "keras" else "target"


def make_model(
    kind: str, params: dict[str, Any], seed: int, n_jobs: int, categorical: tuple[str, ...] = ()
) -> Any:
    """An unfitted ``LGBMRegressor``, ``XGBRegressor`` or
    :class:`~harvest.training.network.NetworkRegressor` (whose ``categorical`` columns are
    embedded) with ``params``."""
    if kind == "keras":
        from harvest.training.network import NetworkRegressor

        return NetworkRegressor(categorical=categorical, **params, seed=seed)
    if kind == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**params, random_state=seed, n_jobs=n_jobs, verbose=-1)
    if kind == "xgboost":
        from xgboost import XGBRegressor

        return XGBRegressor(**params, tree_method="hist", random_state=seed, n_jobs=n_jobs)
    raise ValueError(f"unknown model kind {kind!r}")


def suggest(kind: str, trial: Any) -> dict[str, Any]:
    """The search space of ``kind`` (trees: number, depth, rate, sampling, regularisation;
    network: width, depth, dropout, rate, batch size)."""
    if kind == "keras":
        return {
            "units": trial.suggest_int("units", 16, 128, log=True),
            "layers": trial.suggest_int("layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        }
    params: dict[str, Any] = {
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=50),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.6, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }
    if kind == "lightgbm":
        params["num_leaves"] = trial.suggest_int("num_leaves", 8, 128, log=True)
        params["min_child_samples"] = trial.suggest_int("min_child_samples", 5, 100, log=True)
        params["subsample_freq"] = 1
    else:
        params["max_depth"] = trial.suggest_int("max_depth", 3, 10)
        params["min_child_weight"] = trial.suggest_float("min_child_weight", 1.0, 50.0, log=True)
    return params


def best_params(kind: str, study: Any) -> dict[str, Any]:
    """The best trial's parameters as model arguments (fixed ones included)."""
    params = dict(study.best_params)
    if kind == "lightgbm":
        params["subsample_freq"] = 1
    return params


def _rmse(y: pd.Series, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, dtype=float) - predicted) ** 2)))


def tune(
    kind: str,
    matrices: tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series],
    *,
    storage: Any,
    study_name: str,
    trials: int,
    timeout_seconds: float | None,
    seed: int,
    n_jobs: int,
    categorical: tuple[str, ...] = (),
) -> Any:
    """Run the trials of study ``study_name`` still missing (of ``trials``) within
    ``timeout_seconds``; return the study. ``matrices`` = (X_fit, y_fit, X_valid, y_valid); a
    trial scores its model's RMSE on the valid part. LightGBM trials are pruned per boosting
    round (``optuna_integration.LightGBMPruningCallback`` with a ``MedianPruner``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one summary line per study instead
    x_fit, y_fit, x_valid, y_valid = matrices
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2 * REPORT_EVERY),
    )
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = trials - len(study.get_trials(deepcopy=False, states=states))
    if remaining <= 0:
        log.info("study %s already has its %d trials", study_name, trials)
        return study

    def objective(trial: optuna.Trial) -> float:
        model = make_model(kind, suggest(kind, trial), seed, n_jobs, categorical)
        if kind == "keras":
            model.fit(x_fit, y_fit, eval_set=(x_valid, y_valid))
        elif kind == "lightgbm":
            from optuna_integration import LightGBMPruningCallback

            model.fit(
                x_fit,
                y_fit,
                eval_X=(x_valid,),
                eval_y=(y_valid,),
                eval_names=["valid"],
                eval_metric="rmse",
                callbacks=[
                    LightGBMPruningCallback(
                        trial, "rmse", valid_name="valid", report_interval=REPORT_EVERY
                    )
                ],
            )
        else:
            model.fit(x_fit, y_fit)
        return _rmse(y_valid, model.predict(x_valid))

    # Workers sharing the study stop once it holds ``trials`` finished trials in total.
    enough = optuna.study.MaxTrialsCallback(trials, states=states)

    def finished(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        step.update(len(study.get_trials(deepcopy=False, states=states)))  # every worker's

    with track(f"tuning {kind}", trials, unit="trials") as step:
        step.update(trials - remaining)
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=timeout_seconds,
            callbacks=[enough, finished],
        )
    log.info(
        "study %s: %d trials, best valid RMSE %.2f with %s",
        study_name,
        len(study.trials),
        study.best_value,
        study.best_params,
    )
    return study
