"""The training set: the rows of one source read from the warehouse, checked, and split by date
(train on earlier dates, hold out the most recent ones).

A ``listings`` source trains on its processed rows (one per record, at the date it was last
loaded). A ``catalogue`` source trains on its versions as they were on each observed date: one
row per item and date it was valid on (``valid_from <= date < valid_to``), with that version's
values, so an item seen on 30 nights at two prices gives 30 rows, each with the price of its
night."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.features.columns import target_column
from harvest.storage.warehouse.training import training_table_name

if TYPE_CHECKING:
    from harvest.storage.warehouse import Warehouse

log = logging.getLogger(__name__)

BAD_DATE_SHARE = 0.5
"""A date with more than this share of target outliers is left out whole (a bad night)."""


class TrainingDataError(HarvestError, ValueError):
    """The training set cannot give a model (too few rows or dates, constant or missing target):
    nothing is tracked or registered; the message says what and where. ``more_data_helps`` is
    true when loading more partitions would fix it (a scheduler may skip rather than fail)."""

    retryable = False

    def __init__(self, message: str, *, more_data_helps: bool = False) -> None:
        super().__init__(message)
        self.more_data_helps = more_data_helps


@dataclass(frozen=True)
class Split:
    """Rows by role; every frame keeps the warehouse columns (``logical_date`` included).

    ``fit`` trains the candidates while tuning, ``valid`` (the last training date) scores the
    Optuna trials, ``train`` = ``fit`` + ``valid`` refits the chosen candidate, ``holdout`` (the
    most recent dates) compares candidates, baseline and champion. ``target_outliers`` counts the
    rows left out for their target, ``bad_dates`` the dates left out whole (see
    :func:`drop_target_outliers`).
    """

    fit: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    target_outliers: int = 0
    bad_dates: tuple[str, ...] = ()

    @property
    def train(self) -> pd.DataFrame:
        return pd.concat([self.fit, self.valid])

    @property
    def rows(self) -> pd.DataFrame:
        return pd.concat([self.fit, self.valid, self.holdout])

    def summary(self) -> dict[str, object]:
        """Rows and date ranges of each part (what MLflow records as the split)."""
        out: dict[str, object] = {}
        for name in ("fit", "valid", "holdout"):
            part = getattr(self, name)
            dates = part["logical_date"]
            out[f"split_{name}_rows"] = len(part)
            out[f"split_{name}_dates"] = f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}"
        out["target_outliers_dropped"] = self.target_outliers
        out["bad_dates_dropped"] = ",".join(self.bad_dates) or "none"
        return out


def read_training_set(
    warehouse: Warehouse, spec: SourceSpec, until: dt.date | None = None, on: dt.date | None = None
) -> pd.DataFrame:
    """The rows ``spec``'s model learns from (up to ``until`` inclusive, or only of date ``on``),
    as a frame with ``record_key``, ``logical_date`` (``datetime64``) and a column per field:
    the processed rows that are not duplicates (listings), or the versions valid on each observed
    date (catalogue, see the module docstring; ``logical_date`` is the observed date, plus the
    version's ``valid_from``/``valid_to``/``last_seen``). Ordered by date and key. Raises
    :class:`TrainingDataError` if the table is missing. The only read of the warehouse here."""
    frame = warehouse.training_rows(spec, until=until, on=on)
    if frame is None:
        raise TrainingDataError(
            f"source {spec.name}: no table {training_table_name(spec)} in the warehouse; load a "
            "partition first",
            more_data_helps=True,
        )
    frame["logical_date"] = pd.to_datetime(frame["logical_date"])
    return frame


def check_training_set(frame: pd.DataFrame, spec: SourceSpec, min_rows: int) -> pd.DataFrame:
    """The rows with a finite target value; raise :class:`TrainingDataError` when the target
    column is missing, fewer than ``min_rows`` rows have a finite target, or the target is
    constant. Infinite targets (``inf``, ``-inf``: no model can learn them, and one of them
    makes every RMSE infinite) are left out with a warning, like missing ones."""
    target = target_column(spec)
    where = f"source {spec.name}, table {training_table_name(spec)}"
    if target is None or target not in frame.columns:
        raise TrainingDataError(
            f"{where}: target column {target!r} is missing (columns: {', '.join(frame.columns)})"
        )
    values = pd.to_numeric(frame[target], errors="coerce").astype(float)
    present = values.notna()
    finite = present & np.isfinite(values.fillna(0.0))
    infinite = frame[present & ~finite]
    if len(infinite):
        dates = sorted({f"{d:%Y-%m-%d}" for d in infinite["logical_date"]})
        log.warning(
            "%s: %d row(s) with an infinite %s (date(s) %s) left out of training and of the "
            "holdout metrics",
            where, len(infinite), target, ", ".join(dates),
        )  # fmt: skip
    rows = frame[finite]
    if len(rows) < min_rows:
        raise TrainingDataError(
            f"{where}: {len(rows)} rows with a {target} value, fewer than the {min_rows} "
            "needed to train (HARVEST_TRAINING_MIN_ROWS); load more dates",
            more_data_helps=True,
        )
    if rows[target].nunique() < 2:
        raise TrainingDataError(
            f"{where}: target {target!r} is constant ({rows[target].iloc[0]} in all "
            f"{len(rows)} rows); there is nothing to learn"
        )
    return rows.assign(**{target: values[finite]}) if len(infinite) else rows


def time_split(frame: pd.DataFrame, holdout_days: int, where: str) -> Split:
    """Hold out the ``holdout_days`` most recent dates, validate on the date before them and fit
    on the rest; needs ``holdout_days + 2`` distinct dates, else :class:`TrainingDataError`."""
    dates = sorted(frame["logical_date"].unique())
    if len(dates) < holdout_days + 2:
        raise TrainingDataError(
            f"{where}: {len(dates)} date(s) of data, a time-aware split needs at least "
            f"{holdout_days + 2} (features.holdout_days={holdout_days} held out, one to "
            "validate the tuning, one or more to fit)",
            more_data_helps=True,
        )
    holdout_start, valid_date = dates[-holdout_days], dates[-holdout_days - 1]
    return Split(
        fit=frame[frame["logical_date"] < valid_date],
        valid=frame[frame["logical_date"] == valid_date],
        holdout=frame[frame["logical_date"] >= holdout_start],
    )


def drop_target_outliers(split: Split, target: str, fold: float | None, where: str) -> Split:
    """``split`` without the rows whose target lies beyond ``fold`` x IQR of the training
    targets (e.g. a price shown ten times too high: no feature can explain it, and one such row
    outweighs hundreds of good ones in an RMSE). The count is logged and kept in the split.

    A date where more than :data:`BAD_DATE_SHARE` of the rows are such outliers is a bad night
    (prices in cents, a wrong currency), not a few odd rows: it is left out whole, named in a
    warning, and the windows are drawn again from the remaining dates, so a bad night on the
    validation or holdout date neither empties that window nor decides the promotion."""
    if fold is None:
        return split
    values = split.train[target].astype(float)
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    low, high = q1 - fold * (q3 - q1), q3 + fold * (q3 - q1)
    rows = split.rows
    outside = ~rows[target].astype(float).between(low, high)
    share = outside.groupby(rows["logical_date"]).mean()
    bad = share[share > BAD_DATE_SHARE].index
    if len(bad):
        names = tuple(f"{d:%Y-%m-%d}" for d in bad)
        log.warning(
            "%s: date(s) %s left out of training: %s of their rows have %s outside "
            "[%.2f, %.2f] (%.1f x IQR of the training targets), a bad night rather than odd rows; "
            "fix and re-load those partitions to use them",
            where, ", ".join(names),
            ", ".join(f"{share[d]:.0%}" for d in bad), target, low, high, fold,
        )  # fmt: skip
        holdout_days = split.holdout["logical_date"].nunique()
        split = time_split(rows[~rows["logical_date"].isin(bad)], holdout_days, where)
    else:
        names = ()

    def keep(part: pd.DataFrame) -> pd.DataFrame:
        return part[part[target].astype(float).between(low, high)]

    parts = {name: keep(getattr(split, name)) for name in ("fit", "valid", "holdout")}
    dropped = sum(len(getattr(split, n)) - len(p) for n, p in parts.items())
    if dropped:
        log.warning(
            "%s: %d row(s) with %s outside [%.2f, %.2f] (%.1f x IQR) left out of training and "
            "of the holdout metrics",
            where, dropped, target, low, high, fold,
        )  # fmt: skip
    bad_rows = int(rows["logical_date"].isin(bad).sum())
    return Split(**parts, target_outliers=dropped + bad_rows, bad_dates=names)


def check_windows(split: Split, min_rows: int, holdout_days: int, where: str) -> None:
    """Raise :class:`TrainingDataError` (not retryable: the same data gives the same windows)
    when the fit, validation or holdout window has fewer than ``min_rows`` rows: an RMSE on a
    handful of rows is noise, and a holdout of one row would decide the promotion."""
    hint = {
        "fit": "load more dates",
        "valid": "the validation date is the one before the holdout; a source with few rows a "
        "day needs more of them",
        "holdout": f"raise features.holdout_days (now {holdout_days}) so more dates are held out",
    }
    for name, label in (("fit", "fit"), ("valid", "validation"), ("holdout", "holdout")):
        part = getattr(split, name)
        if len(part) < min_rows:
            dates = part["logical_date"]
            span = f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}" if len(part) else "no date"
            raise TrainingDataError(
                f"{where}: the {label} window ({span}) has {len(part)} row(s), fewer than the "
                f"{min_rows} needed to measure an error (HARVEST_TRAINING_MIN_WINDOW_ROWS); "
                f"{hint[name]}",
                more_data_helps=name == "fit",
            )
