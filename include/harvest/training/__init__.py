"""Training: read a source's processed rows, tune LightGBM and XGBoost with Optuna, track in
MLflow, explain with SHAP, register and promote the ``champion``; score partitions with it.

The stage's two entry points: :func:`train` (a ``TrainingReport``) and :func:`score` (a
``ScoringReport``); the ML libraries are imported when they run.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from harvest.training.data import TrainingDataError
from harvest.training.settings import TrainingSettings
from harvest.training.tracking import TrackingUnavailable

if TYPE_CHECKING:
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.training.run import TrainingReport
    from harvest.training.scoring import ScoringReport

__all__ = ["TrackingUnavailable", "TrainingDataError", "TrainingSettings", "score", "train"]


def train(
    spec: SourceSpec,
    settings: Settings,
    training: TrainingSettings | None = None,
    until: dt.date | None = None,
) -> TrainingReport:
    """Tune, fit, track, register and maybe promote a model of ``spec``'s target on its rows up
    to ``until`` (:func:`harvest.training.run.train_source`). Raises
    :class:`TrainingDataError` (too little data) and :class:`TrackingUnavailable`."""
    from harvest.training.run import train_source

    return train_source(spec, settings, training, until)


def score(spec: SourceSpec, settings: Settings, day: dt.date | None = None) -> ScoringReport:
    """Score partition ``day`` (default: the latest) with the ``@champion`` model into
    ``predictions_<source>`` (:func:`harvest.training.scoring.score_partition`). Raises
    :class:`~harvest.training.scoring.NoChampion` when no model holds the alias yet."""
    from harvest.training.scoring import score_partition

    return score_partition(spec, settings, day)
