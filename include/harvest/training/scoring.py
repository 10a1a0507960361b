"""Batch scoring: the ``@champion`` model of a source on one partition, with explanations.

``predictions_<source>`` (:func:`harvest.storage.warehouse.schema.predictions_table`) holds,
per processed row and date, the prediction, the model name and version that made it and the top
SHAP contributions (``[{"feature", "value", "contribution"}]``, contributions in target units),
so a user can see why an item got its value. A partition is replaced in one transaction:
re-scoring a date leaves exactly one row per record.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.features.pipeline import transform_features
from harvest.storage.warehouse import Warehouse, open_warehouse
from harvest.training import explain, tracking
from harvest.training.data import read_training_set
from harvest.training.second_opinion import second_opinion
from harvest.training.settings import TrainingSettings

log = logging.getLogger(__name__)


class NoChampion(HarvestError, RuntimeError):
    """A source has no ``champion`` model to score with yet."""

    retryable = False


@dataclass(frozen=True)
class ScoringReport:
    source: str
    logical_date: str
    rows: int
    model_name: str
    model_version: str
    table: str
    # LIME beside SHAP on a sample of the scored rows: rows, disagreements (top feature), share
    second_opinion: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_partition(
    spec: SourceSpec,
    settings: Settings,
    logical_date: dt.date | None = None,
    training: TrainingSettings | None = None,
) -> ScoringReport:
    """Score the processed rows of ``logical_date`` (default: the latest partition) with the
    ``@champion`` model and replace that partition in ``predictions_<source>``; the report and
    every row name the version used. LIME explains ``training.lime_sample`` of the rows (a
    seeded sample, the partition as its background) and the report counts those whose top
    feature differs from SHAP's (:mod:`harvest.training.second_opinion`). Raises :class:`NoChampion` when no model holds the alias
    yet, :class:`~harvest.training.tracking.ModelUnavailable` when its files are lost."""
    training = training or TrainingSettings.from_env()
    with open_warehouse(settings) as warehouse:
        return _score(spec, settings, warehouse, logical_date, training)


def _score(
    spec: SourceSpec,
    settings: Settings,
    warehouse: Warehouse,
    logical_date: dt.date | None,
    training: TrainingSettings,
) -> ScoringReport:
    day = logical_date or warehouse.latest_date(spec.name)
    if day is None:
        raise ValueError(f"source {spec.name}: no processed rows to score")
    rows = read_training_set(warehouse, spec, on=day)
    mlflow = tracking.connect(settings.mlflow_tracking_uri)
    name = tracking.registered_model_name(spec.name)
    champion = tracking.champion_version(mlflow.MlflowClient(), name)
    if champion is None:
        raise NoChampion(
            f"source {spec.name}: no {name}@{tracking.CHAMPION} model in "
            f"{settings.mlflow_tracking_uri} yet; train first"
        )
    version = str(champion.version)
    try:
        pipeline = tracking.load_version(mlflow, name, version)
    except tracking.ModelUnavailable as exc:
        raise tracking.ModelUnavailable(
            f"source {spec.name}: {name}@{tracking.CHAMPION} cannot score {day}: {exc}; the next "
            f"training (harvest_train_{spec.name}) registers a new champion in its place"
        ) from exc
    out = pd.DataFrame(
        {
            "source": spec.name,
            "record_key": rows["record_key"].astype(str),
            "logical_date": day,
            "model_name": name,
            "model_version": version,
            "scored_at": dt.datetime.now(dt.UTC),
        }
    )
    if len(rows):
        matrix = transform_features(pipeline, rows)  # once, for the prediction and SHAP
        model = pipeline.steps[-1][1]
        out["prediction"] = model.predict(matrix).astype(float)
        values = explain.shap_values(model, matrix)
        out["explanation"] = explain.top_contributions(values, matrix)
        rng = np.random.default_rng(training.seed)
        picked = rng.permutation(len(matrix))[: training.lime_sample]
        opinion = second_opinion(
            model, matrix.iloc[picked], values[picked], matrix, len(picked), training.seed
        )
    else:
        opinion = second_opinion(None, pd.DataFrame(), np.empty((0, 0)), pd.DataFrame(), 0)
    table = warehouse.replace_predictions(spec.name, day, out)
    log.info(
        "source %s %s: %d rows scored by %s version %s into %s; LIME second opinion: %d of %d "
        "row(s) with another top feature than SHAP's",
        spec.name, day, len(out), name, version, table, opinion.disagreements, opinion.rows,
    )  # fmt: skip
    return ScoringReport(
        spec.name, day.isoformat(), len(out), name, version, table, opinion.summary()
    )
