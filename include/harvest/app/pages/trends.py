"""Trends: each nightly quality metric of a source (records, quarantine rate, field coverage,
price level) with a trend and a change-point test (statsmodels); drifting metrics first."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from harvest.app import trends, ui, views
from harvest.config import SourceSpec
from harvest.storage.warehouse import Warehouse


@ui.cached
def _trends(  # type: ignore[no-untyped-def]
    _warehouse: Warehouse, _spec: SourceSpec, source: str, since: dt.date, version: tuple[int, str]
):
    return trends.trends(_warehouse, _spec, since)


st.title("Trends")
with ui.shown_errors():
    warehouse = ui.warehouse()
    spec = ui.choose_source()
    if spec is not None:
        version = ui.version(spec.name)
        if version[0] == 0:
            raise ui.NoData(f"Source {spec.name}: no partition loaded yet.")
        nights = st.sidebar.slider("Nights", 1, 365, 30, key="trend_nights")
        newest = warehouse.partition_loads(spec.name)["logical_date"].iloc[-1]
        metrics, found = _trends(
            warehouse, spec, spec.name, views.since_for(nights, newest), version
        )
        flagged = [d for d in found if d.flagged]
        st.caption(
            f"OLS trend and CUSUM change-point tests at alpha = {trends.ALPHA} over "
            f"{len(metrics)} night(s); fewer than {trends.MIN_NIGHTS} nights are not judged."
        )
        if flagged:
            st.warning("Drifting: " + ", ".join(d.metric for d in flagged))
        else:
            st.success("No metric drifts.")
        table = pd.DataFrame(
            [
                {
                    "metric": d.metric,
                    "drift": d.flagged,
                    "judged": "yes" if d.judged else f"no: {d.why}",
                    "slope per night": d.slope_per_night,
                    "trend p": d.trend_p,
                    "change p": d.change_p,
                    "change on": d.change_date,
                }
                for d in found
            ]
        )
        st.dataframe(table, hide_index=True)
        names = [d.metric for d in found]
        default = [d.metric for d in flagged] or [n for n in trends.HEADLINE if n in names]
        shown = st.multiselect("Charts", names, default=default, key="trend_charts")
        for d in found:
            if d.metric in shown:
                ui.plotly(trends.drift_figure(metrics, d), key=f"trend_{d.metric}")
