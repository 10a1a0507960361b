"""Training knobs, read from ``HARVEST_TRAINING_*`` environment variables (defaults here only).

Per-source choices (features, baseline groups, holdout size, noise floor) live in the source
spec's ``features:`` block; these are the ones that depend on the machine and the budget.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

MODEL_KINDS = ("lightgbm", "xgboost", "keras")
"""Candidate kinds; ``keras`` (the network, :mod:`harvest.training.network`) needs the ``dl``
extra and is skipped with a warning without it."""


@dataclass(frozen=True)
class TrainingSettings:
    """How hard to tune and when a challenger may replace the champion.

    :param trials: Optuna trials per model kind (``HARVEST_TRAINING_TRIALS``)
    :param timeout_seconds: time budget per model kind, ``None`` for none
        (``HARVEST_TRAINING_TIMEOUT_SECONDS``); tuning stops at whichever comes first
    :param promotion_confidence: confidence of the paired bootstrap interval of the RMSE
        difference that decides promotion (``HARVEST_TRAINING_PROMOTION_CONFIDENCE``, 0.95;
        :mod:`harvest.training.promotion`)
    :param promotion_margin: how far below zero that interval must lie against the champion, as
        a share of the champion's RMSE (``HARVEST_TRAINING_PROMOTION_MARGIN``; 0 = better at all, with the
        interval's confidence; 0.01 = better by at least 1%)
    :param min_rows: fewest training rows to train at all (``HARVEST_TRAINING_MIN_ROWS``)
    :param min_window_rows: fewest rows in each of the fit, validation and holdout windows
        (``HARVEST_TRAINING_MIN_WINDOW_ROWS``): fewer and the error measured on it is noise
    :param seed: seed of samplers, folds and models (``HARVEST_TRAINING_SEED``)
    :param shap_sample: holdout rows SHAP explains for the plots (``HARVEST_TRAINING_SHAP_SAMPLE``)
    :param lime_sample: of those, rows LIME explains too, a second opinion compared with SHAP's
        top feature (``HARVEST_TRAINING_LIME_SAMPLE``; also per scored partition; 0 = off;
        :mod:`harvest.training.second_opinion`)
    :param models: candidate kinds (``HARVEST_TRAINING_MODELS``, comma separated)
    :param n_jobs: threads per model fit (``HARVEST_TRAINING_N_JOBS``); 1 by default because
        LightGBM's threads spin-wait: on 2 busy cores ``n_jobs=2`` fitted 10x slower than 1
    """

    trials: int = 20
    timeout_seconds: float | None = None
    promotion_confidence: float = 0.95
    promotion_margin: float = 0.0
    min_rows: int = 200
    min_window_rows: int = 30
    seed: int = 0
    shap_sample: int = 500
    lime_sample: int = 50
    models: tuple[str, ...] = MODEL_KINDS
    n_jobs: int = 1

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODEL_KINDS]
        if unknown or not self.models:
            raise ValueError(
                f"HARVEST_TRAINING_MODELS: unknown model kind(s) {unknown or 'none given'}; "
                f"known: {', '.join(MODEL_KINDS)}"
            )
        if self.trials < 1:
            raise ValueError(f"HARVEST_TRAINING_TRIALS must be >= 1, got {self.trials}")
        if not 0.5 <= self.promotion_confidence < 1:
            raise ValueError(
                "HARVEST_TRAINING_PROMOTION_CONFIDENCE must be in [0.5, 1), got "
                f"{self.promotion_confidence}"
            )
        if self.lime_sample < 0:
            raise ValueError(f"HARVEST_TRAINING_LIME_SAMPLE must be >= 0, got {self.lime_sample}")
        if self.promotion_margin < 0:
            raise ValueError(
                f"HARVEST_TRAINING_PROMOTION_MARGIN must be >= 0, got {self.promotion_margin}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainingSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float | None, kind: type = float) -> object:
            text = env.get(f"HARVEST_TRAINING_{name}")
            if text is None or text == "":
                return default
            try:
                return kind(text)
            except ValueError as exc:
                raise ValueError(f"HARVEST_TRAINING_{name}: not a number: {text!r}") from exc

        models = env.get("HARVEST_TRAINING_MODELS")
        return cls(
            trials=number("TRIALS", cls.trials, int),  # type: ignore[arg-type]
            timeout_seconds=number("TIMEOUT_SECONDS", None),  # type: ignore[arg-type]
            promotion_confidence=number("PROMOTION_CONFIDENCE", cls.promotion_confidence),  # type: ignore[arg-type]
            promotion_margin=number("PROMOTION_MARGIN", cls.promotion_margin),  # type: ignore[arg-type]
            min_rows=number("MIN_ROWS", cls.min_rows, int),  # type: ignore[arg-type]
            min_window_rows=number("MIN_WINDOW_ROWS", cls.min_window_rows, int),  # type: ignore[arg-type]
            seed=number("SEED", cls.seed, int),  # type: ignore[arg-type]
            shap_sample=number("SHAP_SAMPLE", cls.shap_sample, int),  # type: ignore[arg-type]
            lime_sample=number("LIME_SAMPLE", cls.lime_sample, int),  # type: ignore[arg-type]
            models=tuple(m.strip() for m in models.split(",") if m.strip())
            if models
            else MODEL_KINDS,
            n_jobs=number("N_JOBS", cls.n_jobs, int),  # type: ignore[arg-type]
        )

    def with_overrides(self, **changes: object) -> TrainingSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
