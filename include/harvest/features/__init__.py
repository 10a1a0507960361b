"""Features: which columns feed the model (from the spec) and the scikit-learn pipeline that
turns warehouse rows into the model's matrix, fitted together with the model."""

from harvest.features.columns import FeatureColumns, FeatureSpecError, feature_columns
from harvest.features.pipeline import (
    ConformColumns,
    build_pipeline,
    feature_steps,
    transform_features,
)

__all__ = [
    "ConformColumns",
    "FeatureColumns",
    "FeatureSpecError",
    "build_pipeline",
    "feature_columns",
    "feature_steps",
    "transform_features",
]
