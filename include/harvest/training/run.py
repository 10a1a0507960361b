"""Train one source: read, split by date, tune LightGBM, XGBoost and (with the ``dl`` extra) a
Keras network, fit the chosen pipeline,
measure it against the naive baseline, the noise floor and the champion, track it in MLflow,
register it, and move the ``champion`` alias only when it beats the baseline and the champion
on the same holdout rows with statistics (:mod:`harvest.training.promotion`).

Nothing is tracked or registered before the training set passed its checks and the tracking
store answered: bad input fails with :class:`~harvest.training.data.TrainingDataError`, an
unreachable store with :class:`~harvest.training.tracking.TrackingUnavailable`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.features import FeatureColumns, build_pipeline, feature_columns, feature_steps
from harvest.features.select import uninformative_features, without_features
from harvest.training import explain, tracking, tuning
from harvest.training.data import (
    Split,
    TrainingDataError,
    check_training_set,
    check_windows,
    drop_target_outliers,
    read_training_set,
    time_split,
)
from harvest.training.metrics import (
    MedianBaseline,
    regression_metrics,
    relative_metrics,
    rmse_interval_metrics,
)
from harvest.training.promotion import compare_paired, promotion_decision
from harvest.training.settings import TrainingSettings

log = logging.getLogger(__name__)

EXAMPLE_ROWS = 5
PROMOTION_TEST = (
    "paired percentile bootstrap {confidence:.0%} CI of RMSE(candidate) - RMSE(reference) below 0 "
    "against the baseline and below -{margin} x RMSE(champion) against the champion "
    "(harvest.training.promotion)"
)


@dataclass
class TrainingReport:
    """What one training run did (what the Airflow task returns as XCom)."""

    source: str
    run_id: str
    model_kind: str
    model_name: str
    version: str
    promoted: bool
    reason: str
    holdout_rmse: float
    baseline_rmse: float
    champion_rmse: float | None
    noise_floor: float | None
    split: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    dropped_features: dict[str, str] = field(default_factory=dict)
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_candidates: dict[str, str] = field(default_factory=dict)
    # LIME beside SHAP on a sample of holdout rows: rows, disagreements (top feature), share
    second_opinion: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Prepared:
    """The checked, split training set of a source and its feature columns."""

    spec: SourceSpec
    columns: FeatureColumns
    split: Split
    dropped_features: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"source {self.spec.name}"

    def y(self, part: pd.DataFrame) -> pd.Series:
        return part[self.columns.target].astype(float)


def prepare(
    spec: SourceSpec, settings: Settings, training: TrainingSettings, until: dt.date | None = None
) -> Prepared:
    """Read and check the training set of ``spec``, split it by date, check every window and
    leave out the features that carry no information (named in a warning). Raises
    :class:`TrainingDataError` (nothing tracked yet) when the data cannot give a model."""
    from harvest.storage.warehouse import open_warehouse

    columns = feature_columns(spec)
    with open_warehouse(settings) as warehouse:
        frame = read_training_set(warehouse, spec, until)
    rows = check_training_set(frame, spec, training.min_rows)
    block, where = spec.features, f"source {spec.name}"
    split = time_split(rows, block.holdout_days, where)
    split = drop_target_outliers(split, columns.target, block.target_outlier_fold, where)
    check_windows(split, training.min_window_rows, block.holdout_days, where)
    dropped = uninformative_features(columns, split.train, block.constant_tol)
    if dropped:
        log.warning(
            "%s: feature(s) left out, they carry no information in the %d training rows: %s",
            where, len(split.train), "; ".join(f"{k}: {v}" for k, v in dropped.items()),
        )  # fmt: skip
        columns = without_features(columns, dropped)
        if not columns.inputs:
            raise TrainingDataError(
                f"{where}: no feature carries information in the {len(split.train)} training "
                f"rows ({'; '.join(f'{k}: {v}' for k, v in dropped.items())}); check the "
                "spec's selectors and the loaded partitions"
            )
    return Prepared(spec, columns, split, dropped)


def study_name(source: str, kind: str, until: dt.date | None) -> str:
    return f"harvest_{source}_{kind}_{until.isoformat() if until else 'all'}"


def candidate_kinds(
    kinds: tuple[str, ...], where: str, warn: bool = True
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The candidate ``kinds`` that can run here, and those skipped with why (the network
    without the ``dl`` extra: a warning, never an error)."""
    from harvest.training import network

    skipped = {}
    if "keras" in kinds and (why := network.available()) is not None:
        skipped["keras"] = why
        if warn:
            log.warning("%s: the deep-learning challenger was skipped: %s", where, why)
    return tuple(k for k in kinds if k not in skipped), skipped


def tune_candidates(
    prepared: Prepared,
    settings: Settings,
    training: TrainingSettings,
    until: dt.date | None = None,
    kinds: tuple[str, ...] | None = None,
    worker: int = 0,
) -> dict[str, Any]:
    """Tune each model kind in its shared study (``worker`` offsets the sampler's seed, for
    mapped tasks); return the studies by kind. Features are fitted once on the fit part."""
    split = prepared.split
    storage = tuning.study_storage(tuning.storage_url(settings.warehouse_url, settings.home))
    chosen, _skipped = candidate_kinds(kinds or training.models, prepared.where)
    matrices: dict[str, tuple[Any, Any, Any, Any]] = {}
    studies = {}
    for kind in chosen:
        encoding = tuning.encoding(kind)
        if encoding not in matrices:  # features fitted once per encoding, on the fit part
            steps = feature_steps(prepared.columns, prepared.spec.features, training.seed, encoding)
            x_fit: Any = split.fit
            for _name, step in steps:
                x_fit = step.fit_transform(x_fit, prepared.y(split.fit))
            x_valid: Any = split.valid
            for _name, step in steps:
                x_valid = step.transform(x_valid)
            matrices[encoding] = (x_fit, prepared.y(split.fit), x_valid, prepared.y(split.valid))
        studies[kind] = tuning.tune(
            kind,
            matrices[encoding],
            storage=storage,
            study_name=study_name(prepared.spec.name, kind, until),
            trials=training.trials,
            timeout_seconds=training.timeout_seconds,
            seed=training.seed + worker,
            n_jobs=training.n_jobs,
            categorical=prepared.columns.categorical,
        )
    return studies


def train_source(
    spec: SourceSpec,
    settings: Settings,
    training: TrainingSettings | None = None,
    until: dt.date | None = None,
) -> TrainingReport:
    """Train, track and register a model of ``spec``'s target on the data up to ``until``."""
    training = training or TrainingSettings.from_env()
    prepared = prepare(spec, settings, training, until)
    mlflow = tracking.connect(settings.mlflow_tracking_uri)
    studies = tune_candidates(prepared, settings, training, until)
    kind = min(studies, key=lambda k: studies[k].best_value)
    split, block = prepared.split, spec.features
    model = tuning.make_model(
        kind,
        tuning.best_params(kind, studies[kind]),
        training.seed,
        training.n_jobs,
        prepared.columns.categorical,
    )
    pipeline = build_pipeline(prepared.columns, block, model, training.seed, tuning.encoding(kind))
    started = time.perf_counter()
    pipeline.fit(split.train, prepared.y(split.train))
    fit_seconds = time.perf_counter() - started
    _chosen, skipped = candidate_kinds(training.models, prepared.where, warn=False)
    y_holdout = prepared.y(split.holdout)
    predicted = pipeline.predict(split.holdout)
    metrics = regression_metrics(y_holdout, predicted)
    baseline = MedianBaseline(block.baseline_by).fit(split.train, prepared.y(split.train))
    baseline_predicted = baseline.predict(split.holdout)
    baseline_metrics = regression_metrics(y_holdout, baseline_predicted)
    compare = functools.partial(
        compare_paired, y_holdout, predicted, confidence=training.promotion_confidence,
        seed=training.seed,
    )  # fmt: skip
    vs_baseline = compare(baseline_predicted, "baseline")

    name = tracking.registered_model_name(spec.name)
    client = mlflow.MlflowClient()
    champion = tracking.champion_version(client, name)
    vs_champion = None
    lost = None
    if champion is not None:
        try:
            champion_model = tracking.load_version(mlflow, name, str(champion.version))
        except tracking.ModelUnavailable as exc:
            lost = f"replaces version {champion.version}, the champion could not be loaded ({exc})"
            log.warning("source %s: %s", spec.name, lost)
        else:
            vs_champion = compare(champion_model.predict(split.holdout), "champion")
    promote, reason = promotion_decision(vs_baseline, vs_champion, training.promotion_margin)
    if lost is not None and promote:
        reason = f"{lost}; {reason}"

    all_metrics = {f"holdout_{k}": v for k, v in metrics.items()}
    all_metrics |= {f"baseline_{k}": v for k, v in baseline_metrics.items()}
    all_metrics |= relative_metrics(metrics, baseline_metrics, block.noise_floor)
    all_metrics |= rmse_interval_metrics(
        y_holdout, predicted, block.noise_floor, training.promotion_confidence, training.seed
    )
    if block.noise_floor:
        all_metrics["baseline_rmse_vs_noise_floor"] = baseline_metrics["rmse"] / block.noise_floor
    for comparison in (vs_baseline, vs_champion):
        if comparison is not None:
            all_metrics |= comparison.metrics()
    champion_rmse = None if vs_champion is None else vs_champion.reference_rmse
    if champion_rmse is not None:
        all_metrics["champion_holdout_rmse"] = champion_rmse
    for other, study in studies.items():
        all_metrics[f"{other}_valid_rmse"] = study.best_value
    all_metrics["fit_seconds"] = fit_seconds

    experiment_id = tracking.ensure_experiment(
        mlflow, tracking.experiment_name(spec.name), _artifact_root(settings)
    )
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{spec.name} {until or 'all'} {kind}"
    ) as run:
        mlflow.log_params(
            {
                "model_kind": kind,
                "trials": training.trials,
                "seed": training.seed,
                "until": str(until),
                **{f"param_{k}": v for k, v in tuning.best_params(kind, studies[kind]).items()},
                **prepared.split.summary(),
                "features": ",".join(prepared.columns.inputs),
                "baseline_by": ",".join(block.baseline_by) or "(overall)",
                "promotion_test": PROMOTION_TEST.format(
                    confidence=training.promotion_confidence, margin=training.promotion_margin
                ),
                "candidates_skipped": "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none",
                "features_dropped": "; ".join(
                    f"{k}: {v}" for k, v in prepared.dropped_features.items()
                )
                or "none",
            }
        )
        mlflow.log_metrics(all_metrics)
        mlflow.set_tags({"source": spec.name, "promotion": reason, "promoted": str(promote)})
        opinion = explain.log_explanations(mlflow, pipeline, split, studies, training)
        all_metrics |= opinion.metrics()  # the report's too: statsd harvest_train_metrics
        mlflow.log_metrics(opinion.metrics())
        example = split.holdout[list(prepared.columns.inputs)].head(EXAMPLE_ROWS)
        required = [n for n, f in spec.detail.fields.items() if f.required]
        info = tracking.log_pipeline(mlflow, pipeline, _plain(example), required)
        run_id = run.info.run_id
    version = tracking.register(
        mlflow, info.model_uri, name, promote, reason, {"source": spec.name, "run_id": run_id}
    )
    log.info(
        "source %s: %s model version %s, holdout RMSE %.2f (baseline %.2f%s); %s; LIME "
        "second opinion: %d of %d holdout row(s) with another top feature than SHAP's",
        spec.name,
        kind,
        version,
        metrics["rmse"],
        baseline_metrics["rmse"],
        f", noise floor {block.noise_floor:.2f}" if block.noise_floor else "",
        f"promoted to @{tracking.CHAMPION}: {reason}" if promote else reason,
        opinion.disagreements,
        opinion.rows,
    )
    return TrainingReport(
        source=spec.name,
        run_id=run_id,
        model_kind=kind,
        model_name=name,
        version=version,
        promoted=promote,
        reason=reason,
        holdout_rmse=metrics["rmse"],
        baseline_rmse=baseline_metrics["rmse"],
        champion_rmse=champion_rmse,
        noise_floor=block.noise_floor,
        split=prepared.split.summary(),
        metrics=all_metrics,
        dropped_features=prepared.dropped_features,
        comparisons={c.reference: asdict(c) for c in (vs_baseline, vs_champion) if c is not None},
        skipped_candidates=skipped,
        second_opinion=opinion.summary(),
    )


def _artifact_root(settings: Settings) -> Path | None:
    """Local artifact folder for a local tracking store; a server keeps its own."""
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        return None
    return settings.home / "mlartifacts"


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with JSON-friendly column types (text as object, dates as ISO strings), which
    is what scoring callers send and what MLflow's signature can describe."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if (
            pd.api.types.is_datetime64_any_dtype(series)
            or series.map(lambda v: isinstance(v, dt.date)).any()
        ):
            out[column] = pd.to_datetime(series, errors="coerce").dt.strftime("%Y-%m-%d")
        elif not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            out[column] = series.astype(object).where(series.notna(), None)
        else:
            out[column] = series.astype("float64")
    return out
