"""Batch scoring: the ``@champion`` model of a source on one partition, with explanations.

``predictions_<source>`` holds, per processed row and date, the prediction, the model name and
version that made it and the top SHAP contributions (``[{"feature", "value", "contribution"}]``,
contributions in target units), so a user can see why an item got its value. A partition is
replaced in one transaction: re-scoring a date leaves exactly one row per record.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.features.pipeline import transform_features
from harvest.storage.warehouse.engine import engine_for
from harvest.storage.warehouse.schema import processed_table_name
from harvest.training import explain, tracking
from harvest.training.data import read_training_set

log = logging.getLogger(__name__)

PREDICTIONS_PREFIX = "predictions_"


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predictions_table_name(source: str) -> str:
    return f"{PREDICTIONS_PREFIX}{source}"


def predictions_table(source: str) -> Any:
    """The ``predictions_<source>`` table (SQLAlchemy Core)."""
    import sqlalchemy as sa

    return sa.Table(
        predictions_table_name(source),
        sa.MetaData(),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("record_key", sa.Text, primary_key=True),
        sa.Column("logical_date", sa.Date, primary_key=True),
        sa.Column("prediction", sa.Double, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    )


def latest_date(warehouse_url: str, source: str) -> dt.date | None:
    """The most recent ``logical_date`` with processed rows of ``source`` (one ``max()`` query,
    not a read of the whole table); ``None`` when the table is missing or empty."""
    import sqlalchemy as sa

    engine = engine_for(warehouse_url)
    try:
        table_name = processed_table_name(source)
        if not sa.inspect(engine).has_table(table_name):
            return None
        table = sa.Table(table_name, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(table.c.logical_date))).scalar_one()
    finally:
        engine.dispose()
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def score_partition(
    spec: SourceSpec, settings: Settings, logical_date: dt.date | None = None
) -> ScoringReport:
    """Score the processed rows of ``logical_date`` (default: the latest partition) with the
    ``@champion`` model and replace that partition in ``predictions_<source>``. Raises
    :class:`NoChampion` when no model holds the alias yet."""
    import sqlalchemy as sa

    day = logical_date or latest_date(settings.warehouse_url, spec.name)
    if day is None:
        raise ValueError(f"source {spec.name}: no processed rows to score")
    rows = read_training_set(settings.warehouse_url, spec, on=day)
    mlflow = tracking.connect(settings.mlflow_tracking_uri)
    name = tracking.registered_model_name(spec.name)
    champion = tracking.champion_version(mlflow.MlflowClient(), name)
    if champion is None:
        raise NoChampion(
            f"source {spec.name}: no {name}@{tracking.CHAMPION} model in "
            f"{settings.mlflow_tracking_uri} yet; train first"
        )
    version = str(champion.version)
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{version}")
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
    table = predictions_table(spec.name)
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.begin() as conn:
            table.create(conn, checkfirst=True)
            conn.execute(sa.delete(table).where(table.c.logical_date == day))
            if len(out):
                conn.execute(sa.insert(table), out.to_dict("records"))
    finally:
        engine.dispose()
    log.info(
        "source %s %s: %d rows scored by %s version %s into %s",
        spec.name, day, len(out), name, version, table.name,
    )  # fmt: skip
    return ScoringReport(spec.name, day.isoformat(), len(out), name, version, table.name)
