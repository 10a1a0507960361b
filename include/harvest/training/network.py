"""The deep-learning challenger: a tabular network in Keras 3, on CPU, as a scikit-learn
regressor that ends the same feature pipeline as LightGBM and XGBoost.

Categories arrive as ordinal codes (feature-engine ``OrdinalEncoder``, ``-1`` for a category
never seen in training) and each gets an embedding (``min(8, (levels + 1) // 2)`` wide, index 0
kept for unseen); numeric columns are standardised with the training mean and standard deviation
(missing values, e.g. a missing date part, become the mean). Then ``layers`` dense ReLU layers of
``units`` with dropout, and one linear output on the standardised target. Adam on the mean
squared error, early stopping on the validation loss (the best epoch's weights kept), seeded
with ``keras.utils.set_random_seed``.

Keras 3 is multi-backend: the same code runs on TensorFlow (``KERAS_BACKEND=tensorflow``, the
default, what the ``dl`` extra installs) or PyTorch (``KERAS_BACKEND=torch``). Keras is an
optional extra (``requirements-dl.txt``): :func:`available` says whether it can be used, and
training skips the challenger with a warning when it cannot.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

log = logging.getLogger(__name__)

INSTALL_HINT = "make venv-dl, or pip install -r requirements-dl.lock"
MAX_EMBEDDING = 8
PREDICT_BATCH = 8192
# batches run per call into the backend: Keras' per-step Python overhead dominated small
# tabular fits (1 s per epoch of 10 batches on a loaded machine)
STEPS_PER_EXECUTION = 32


def available() -> str | None:
    """``None`` when Keras and its backend can be imported, else why not (for the warning)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    # one thread per op, like HARVEST_TRAINING_N_JOBS=1 for the trees: TensorFlow's pools
    # sized to the machine spin on cores that other tasks hold (read when TensorFlow starts)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    if importlib.util.find_spec("keras") is None:
        return f"keras is not installed ({INSTALL_HINT})"
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if importlib.util.find_spec({"torch": "torch", "jax": "jax"}.get(backend, backend)) is None:
        return f"Keras' backend {backend!r} is not installed ({INSTALL_HINT})"
    return None


# scikit-learn ships no type information, so its base classes are Any to mypy
class NetworkRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A tabular network (see the module docstring) with scikit-learn's ``fit``/``predict``.

    :param categorical: the input columns holding ordinal category codes (embedded)
    :param units: width of each dense layer
    :param layers: number of dense layers
    :param dropout: dropout rate after each dense layer
    :param learning_rate: Adam's learning rate
    :param batch_size: rows per gradient step
    :param epochs: most epochs; early stopping usually ends sooner
    :param patience: epochs without a better validation loss before stopping
    :param validation_fraction: share of the training rows (the last ones: the latest dates)
        that early stopping watches when ``fit`` gets no ``eval_set``
    :param seed: seed of the weights, dropout and shuffling
    """

    def __init__(
        self,
        categorical: tuple[str, ...] = (),
        units: int = 64,
        layers: int = 2,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        epochs: int = 100,
        patience: int = 8,
        validation_fraction: float = 0.15,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed

    def _inputs(self, X: pd.DataFrame) -> list[np.ndarray]:
        numbers = X[self.numeric_].to_numpy(dtype="float32", na_value=np.nan)
        numbers = (numbers - self.mean_) / self.scale_
        inputs = [np.nan_to_num(numbers, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")]
        for column, levels in zip(self.categorical_, self.levels_, strict=True):
            codes = pd.to_numeric(X[column], errors="coerce").fillna(-1).to_numpy() + 1
            inputs.append(np.clip(codes, 0, levels - 1).astype("int32").reshape(-1, 1))
        return inputs

    def _build(self) -> Any:
        import keras

        numbers = keras.Input(shape=(len(self.numeric_),), name="numeric")
        parts, inputs = [numbers], [numbers]
        for i, levels in enumerate(self.levels_):
            code = keras.Input(shape=(1,), dtype="int32", name=f"category_{i}")
            width = min(MAX_EMBEDDING, (levels + 1) // 2)
            parts.append(keras.layers.Flatten()(keras.layers.Embedding(levels, width)(code)))
            inputs.append(code)
        x = keras.layers.Concatenate()(parts) if len(parts) > 1 else numbers
        for _ in range(self.layers):
            x = keras.layers.Dense(self.units, activation="relu")(x)
            if self.dropout:
                x = keras.layers.Dropout(self.dropout)(x)
        model = keras.Model(inputs, keras.layers.Dense(1)(x))
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="mse",
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        return model

    def fit(
        self, X: pd.DataFrame, y: Any, eval_set: tuple[pd.DataFrame, Any] | None = None
    ) -> NetworkRegressor:
        """Fit on ``X``/``y``; early stopping watches ``eval_set`` (X, y) when given, else the
        last ``validation_fraction`` of the rows."""
        import keras

        keras.utils.set_random_seed(self.seed)
        self.categorical_ = [c for c in self.categorical if c in X.columns]
        self.numeric_ = [c for c in X.columns if c not in self.categorical_]
        numbers = X[self.numeric_].to_numpy(dtype="float64", na_value=np.nan)
        self.mean_ = np.nan_to_num(np.nanmean(numbers, axis=0)).astype("float32")
        scale = np.nan_to_num(np.nanstd(numbers, axis=0))
        self.scale_ = np.where(scale > 0, scale, 1.0).astype("float32")
        self.levels_ = [
            int(np.nanmax(pd.to_numeric(X[c], errors="coerce").to_numpy(), initial=0)) + 2
            for c in self.categorical_
        ]
        target = np.asarray(y, dtype="float64")
        self.y_mean_, self.y_scale_ = float(target.mean()), float(target.std() or 1.0)
        scaled = ((target - self.y_mean_) / self.y_scale_).astype("float32")
        if eval_set is not None:
            train_x, train_y = self._inputs(X), scaled
            valid_y = (np.asarray(eval_set[1], dtype="float64") - self.y_mean_) / self.y_scale_
            validation = (self._inputs(eval_set[0]), valid_y.astype("float32"))
        else:
            cut = max(1, int(len(X) * (1 - self.validation_fraction)))
            inputs = self._inputs(X)
            train_x, train_y = [a[:cut] for a in inputs], scaled[:cut]
            validation = ([a[cut:] for a in inputs], scaled[cut:])
        self.model_ = self._build()
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=self.patience, restore_best_weights=True
        )
        history = self.model_.fit(
            train_x,
            train_y,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            callbacks=[stop],
            verbose=0,
        )
        self.epochs_ = len(history.history["loss"])
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions in target units, shape (rows,)."""
        if not len(X):
            return np.empty(0)
        inputs = self._inputs(X)
        if len(X) <= PREDICT_BATCH:  # one call, without predict()'s per-call set-up
            import keras

            out = keras.ops.convert_to_numpy(self.model_(inputs, training=False))
        else:
            out = self.model_.predict(inputs, batch_size=PREDICT_BATCH, verbose=0)
        return np.asarray(out, dtype=float).reshape(-1) * self.y_scale_ + self.y_mean_
