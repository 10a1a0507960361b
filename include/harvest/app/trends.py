"""Drift tests of a nightly quality metric (records per night, coverage, quarantine rate, price
level), with statsmodels:

- **trend**: ordinary least squares of the metric on the night's index (``statsmodels.api.OLS``);
  the slope's two-sided p-value;
- **change point**: the CUSUM test for parameter stability on the residuals of a constant mean
  (``statsmodels.stats.diagnostic.breaks_cusumolsresid``, Ploberger and Krämer 1992); the
  night where the cumulative sum of deviations from the mean peaks is the likely change.

A metric is flagged drifting when either p-value is under ``alpha`` (0.01 by default: a month of
nights gives ~60 tests per source, and a false alarm each night would teach users to ignore it).
Fewer than :data:`MIN_NIGHTS` nights, or a constant series, are not judged.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse import Warehouse

MIN_NIGHTS = 8
"""Fewer nights than this are not judged: the CUSUM test's asymptotic p-value needs a series."""

ALPHA = 0.01

HEADLINE = ("loaded", "quarantine_rate")
"""The metrics charted when none drifts."""


@dataclass(frozen=True)
class Drift:
    """One metric's tests: the slope per night and its p-value, the CUSUM statistic's p-value
    and the night the mean most likely changed on; ``flagged`` when either p-value < alpha;
    ``judged`` False (with ``why``) for a series too short or constant."""

    metric: str
    nights: int
    judged: bool
    flagged: bool = False
    slope_per_night: float | None = None
    trend_p: float | None = None
    change_p: float | None = None
    change_date: dt.date | None = None
    why: str = ""


def drift(metric: str, dates: list[dt.date], values: list[float], alpha: float = ALPHA) -> Drift:
    """The trend and change-point tests of ``values`` (a value per night, in date order; NaNs
    are dropped with their nights)."""
    import statsmodels.api as sm
    from statsmodels.stats.diagnostic import breaks_cusumolsresid

    series = pd.Series(values, index=dates, dtype=float).dropna()
    n = len(series)
    if n < MIN_NIGHTS:
        return Drift(metric, n, False, why=f"{n} night(s), fewer than {MIN_NIGHTS}")
    y = series.to_numpy()
    if np.allclose(y, y[0]):
        return Drift(metric, n, False, why="constant over the nights")
    x = sm.add_constant(np.arange(n, dtype=float))
    fit = sm.OLS(y, x).fit()
    slope, trend_p = float(fit.params[1]), float(fit.pvalues[1])
    residuals = y - y.mean()
    _stat, change_p, _crit = breaks_cusumolsresid(residuals, ddof=1)
    at = int(np.argmax(np.abs(np.cumsum(residuals))))
    # the cumulative deviation peaks on the last night before the change
    change_date = series.index[min(at + 1, n - 1)]
    flagged = bool(trend_p < alpha or change_p < alpha)
    return Drift(
        metric,
        n,
        True,
        flagged,
        slope,
        trend_p if math.isfinite(trend_p) else None,
        float(change_p),
        change_date,
    )


def price_columns(spec: SourceSpec) -> list[str]:
    """The number columns of the spec's price fields (``price_eur`` when converted, else the
    field's own column): what "price level" means for a source."""
    columns = []
    for name, field_spec in spec.detail.fields.items():
        if field_spec.kind != "price":
            continue
        numbers = [c for c, kind in field_spec.columns(name).items() if kind == "number"]
        columns.append(numbers[0] if numbers else name)
    return columns


def nightly_metrics(
    loads: pd.DataFrame, coverage: pd.DataFrame, means: pd.DataFrame
) -> pd.DataFrame:
    """A row per night, a column per metric: records loaded and scraped, the quarantine rate
    (quarantined / scraped, as the supervisor's ``quarantine_rate``), each field's coverage
    (``coverage:<field>``) and each price column's mean (``mean:<column>``)."""
    frame = pd.DataFrame(index=pd.Index(list(loads["logical_date"]), name="logical_date"))
    frame["loaded"] = [float(v) for v in loads["loaded"]]
    frame["scraped"] = [float(v) for v in loads["scraped"]]
    scraped = loads["scraped"].astype(float).where(loads["scraped"] > 0)
    frame["quarantine_rate"] = list(loads["quarantined"].astype(float) / scraped)
    if not coverage.empty:
        rows = coverage.set_index("logical_date")
        for column in rows.columns.drop("rows"):
            share = rows[column].astype(float) / rows["rows"].where(rows["rows"] > 0)
            frame[f"coverage:{column}"] = share.reindex(frame.index)
    if not means.empty:
        rows = means.set_index("logical_date")
        for column in rows.columns:
            frame[f"mean:{column}"] = rows[column].astype(float).reindex(frame.index)
    return frame


def drifts(metrics: pd.DataFrame, alpha: float = ALPHA) -> list[Drift]:
    """:func:`drift` of every column of :func:`nightly_metrics`, flagged first."""
    dates = list(metrics.index)
    found = [drift(str(c), dates, list(metrics[c]), alpha) for c in metrics.columns]
    return sorted(found, key=lambda d: (not d.flagged, not d.judged, d.metric))


def drift_figure(metrics: pd.DataFrame, found: Drift) -> go.Figure:
    """One metric per night, its OLS trend line, and the change night marked when flagged."""
    series = metrics[found.metric].dropna()
    dates = [d.isoformat() for d in series.index]
    fig = go.Figure()
    fig.add_scatter(name=found.metric, x=dates, y=[float(v) for v in series], mode="lines+markers")
    if found.judged and found.slope_per_night is not None:
        n = len(series)
        start = float(series.mean()) - found.slope_per_night * (n - 1) / 2
        trend = [start + found.slope_per_night * i for i in range(n)]
        fig.add_scatter(name="trend (OLS)", x=dates, y=trend, mode="lines", line={"dash": "dot"})
    if found.flagged and found.change_date is not None:
        fig.add_vline(x=found.change_date.isoformat(), line_dash="dash", line_color="red")
    state = "DRIFT" if found.flagged else ("steady" if found.judged else "not judged")
    fig.update_layout(title=f"{found.metric}: {state}")
    fig.update_xaxes(type="category")
    return fig


def trends(
    warehouse: Warehouse, spec: SourceSpec, since: dt.date | None, alpha: float = ALPHA
) -> tuple[pd.DataFrame, list[Drift]]:
    """The nightly metrics of ``spec`` since ``since`` and their drift tests."""
    loads = warehouse.partition_loads(spec.name, since)
    coverage = warehouse.field_coverage_by_date(spec, since)
    means = warehouse.means_by_date(spec, price_columns(spec), since)
    metrics = nightly_metrics(loads, coverage, means)
    return metrics, drifts(metrics, alpha)
