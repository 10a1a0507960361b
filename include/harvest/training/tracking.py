"""MLflow: where runs go, how the pipeline is logged, and the registry's ``champion`` alias.

MLflow is imported inside functions only, after ``MLFLOW_CONFIGURE_LOGGING=false``: importing
it otherwise reconfigures the root logger, which broke Airflow's task log handlers.

The pipeline is logged with ``serialization_format="cloudpickle"``, not skops. skops loads only
types listed as trusted, and this pipeline holds feature-engine transformers, category-encoders'
``NestedCVWrapper``/``TargetEncoder`` (with their fitted pandas objects), Harvest's own
``ConformColumns`` and a LightGBM/XGBoost estimator: the trusted list would name dozens of
internal types and break at each library upgrade, and anything missing fails only at load time.
The pickle's risk (code runs on load) is the registry's integrity: models are only loaded from
Harvest's own tracking store, written by Harvest's training. Loading needs ``harvest`` importable
(``ConformColumns`` is pickled by reference), which it is wherever scoring runs.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any

from harvest.errors import HarvestError
from harvest.text import redact_url

log = logging.getLogger(__name__)

CHAMPION = "champion"
PROBE_TIMEOUT_SECONDS = 5
PIP_PACKAGES = (
    "scikit-learn",
    "pandas",
    "numpy",
    "feature-engine",
    "category-encoders",
    "lightgbm",
    "xgboost",
    "keras",
    "tensorflow-cpu",
)


class TrackingUnavailable(HarvestError, RuntimeError):
    """The MLflow tracking store cannot be reached; names the URI."""


class ModelUnavailable(HarvestError, RuntimeError):
    """A registered model version cannot be loaded (its files lost or unreadable); names the
    model, the version and where it was looked for. Not retryable: the files stay lost."""

    retryable = False


def load_version(mlflow: ModuleType, name: str, version: str) -> Any:
    """The fitted pipeline of model ``name`` version ``version``; raise
    :class:`ModelUnavailable` when it cannot be loaded (its artifacts deleted, a storage that
    lost them, a pickle that no longer unpickles)."""
    uri = f"models:/{name}/{version}"
    try:
        return mlflow.sklearn.load_model(uri)
    except Exception as exc:  # any failure to load leaves the version unusable, whatever it is
        source = ""
        with contextlib.suppress(Exception):  # the source only makes the message more precise
            source = f" from {mlflow.MlflowClient().get_model_version(name, version).source}"
        raise ModelUnavailable(
            f"model {name} version {version} cannot be loaded{source}: {type(exc).__name__}: {exc}"
        ) from exc


def registered_model_name(source: str) -> str:
    return f"harvest_{source}"


def experiment_name(source: str) -> str:
    return f"harvest_{source}"


def _redacted(uri: str) -> str:
    if uri.startswith(("http://", "https://", "file:")):
        return uri.split("@")[-1] if "@" in uri.split("//", 1)[-1] else uri
    try:
        return redact_url(uri)
    except ValueError:
        return uri


def connect(tracking_uri: str) -> ModuleType:
    """``mlflow`` pointed at ``tracking_uri``, after checking that the store answers; raise
    :class:`TrackingUnavailable` naming the URI if it does not (before anything is logged)."""
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    shown = _redacted(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        url = tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS):  # noqa: S310 - http(s) only
                pass
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailable(
                f"MLflow tracking server {shown} is unreachable ({reason}); start it or set "
                "HARVEST_MLFLOW_TRACKING_URI (nothing was logged or registered)"
            ) from exc
    elif tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).expanduser().parent.mkdir(
            parents=True, exist_ok=True
        )
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        mlflow.MlflowClient().search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingUnavailable(f"MLflow tracking store {shown} does not answer: {exc}") from exc
    return mlflow


def ensure_experiment(mlflow: ModuleType, name: str, artifact_root: Path | None) -> str:
    """The id of experiment ``name``, created on first use; with a local store its artifacts go
    under ``artifact_root`` (MLflow's default would be ``./mlruns`` of whatever the cwd is)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = (artifact_root / name).as_uri() if artifact_root is not None else None
    return str(mlflow.create_experiment(name, artifact_location=location))


def pip_requirements() -> list[str]:
    """The installed versions of what the pipeline needs to load (no slow inference)."""
    found = []
    for package in PIP_PACKAGES:
        try:
            found.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def log_pipeline(
    mlflow: ModuleType, pipeline: Any, example: Any, required: Collection[str] = ()
) -> Any:
    """Log the fitted pipeline as the run's model ``"model"`` with its signature and input
    example; return MLflow's ``ModelInfo``. Only the ``required`` columns (the spec's required
    fields) are required in the signature: the pipeline scores a row without an optional column
    as missing, and ``mlflow.pyfunc`` would otherwise refuse it ("Model is missing inputs")."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    inferred = infer_signature(example, pipeline.predict(example))
    columns = inferred.inputs.inputs if inferred.inputs is not None else []
    inputs = Schema([ColSpec(c.type, c.name, required=c.name in required) for c in columns])
    signature = ModelSignature(inputs=inputs, outputs=inferred.outputs)
    return mlflow.sklearn.log_model(
        pipeline,
        name="model",
        serialization_format="cloudpickle",
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
    )


def champion_version(client: Any, name: str) -> Any | None:
    """The model version holding the ``champion`` alias of ``name``, or ``None``."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def register(
    mlflow: ModuleType, model_uri: str, name: str, promote: bool, reason: str, tags: dict[str, str]
) -> str:
    """Register ``model_uri`` as a new version of ``name`` with ``tags`` and the promotion
    ``reason``; move the ``champion`` alias to it when ``promote``. If any step fails the new
    version is deleted again, so nothing is left half-registered. Returns the version."""
    client = mlflow.MlflowClient()
    version = mlflow.register_model(model_uri, name, await_registration_for=60).version
    try:
        for key, value in {**tags, "promotion": reason, "promoted": str(promote)}.items():
            client.set_model_version_tag(name, version, key, value)
        if promote:
            client.set_registered_model_alias(name, CHAMPION, version)
    except Exception:
        log.exception("registering %s version %s failed; deleting that version", name, version)
        client.delete_model_version(name, version)
        raise
    return str(version)
