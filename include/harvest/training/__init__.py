"""Training: read a source's processed rows, tune LightGBM and XGBoost with Optuna, track in
MLflow, explain with SHAP, register and promote the ``champion``; score partitions with it."""

from harvest.training.data import TrainingDataError
from harvest.training.settings import TrainingSettings
from harvest.training.tracking import TrackingUnavailable

__all__ = ["TrackingUnavailable", "TrainingDataError", "TrainingSettings"]
