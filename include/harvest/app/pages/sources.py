"""Sources: every source at a glance, then one source's last nights: records per stage, crawl
completeness, quarantine by reason, field coverage over time, crawl monitors, freshness."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from harvest.app import ui, views
from harvest.config import SourceSpec
from harvest.storage.warehouse import Warehouse


@ui.cached
def _overview(_warehouse: Warehouse, versions: tuple[tuple[str, int, str], ...], now: dt.datetime):  # type: ignore[no-untyped-def]
    return views.overview(_warehouse, ui.specs(), now)


@ui.cached
def _health(  # type: ignore[no-untyped-def]
    _warehouse: Warehouse,
    _spec: SourceSpec,
    source: str,
    since: dt.date,
    version: tuple[int, str],
    now: dt.datetime,
):
    return views.source_health(_warehouse, _spec, since, now)


st.title("Sources")
with ui.shown_errors():
    warehouse = ui.warehouse()
    names = sorted(set(ui.specs()) | set(warehouse.sources()))
    versions = tuple((name, *ui.version(name)) for name in names)
    st.dataframe(_overview(warehouse, versions, ui.now()), hide_index=True, key="overview")
    spec = ui.choose_source()
    if spec is not None:
        nights = st.sidebar.slider("Nights", 1, 90, 14, key="nights")
        version = ui.version(spec.name)
        if version[0] == 0:
            raise ui.NoData(f"Source {spec.name}: no partition loaded yet.")
        loads = warehouse.partition_loads(spec.name)
        newest_day = loads["logical_date"].iloc[-1]
        since = views.since_for(nights, newest_day)
        health = _health(warehouse, spec, spec.name, since, version, ui.now())
        newest = health.newest or {}
        st.subheader(f"{spec.name}: newest partition {newest.get('logical_date')}")
        columns = st.columns(len(views.STAGE_COUNTS) + 2)
        if not health.crawls.empty:
            columns[0].metric("pages", int(health.crawls.iloc[-1]["pages"]))
        for column, count in zip(columns[1:], views.STAGE_COUNTS, strict=False):
            column.metric(count, int(newest.get(count, 0)))
        columns[-1].metric(
            "freshness",
            "stale" if health.freshness.missed else "fresh",
            help=health.freshness.message,
        )
        st.caption(health.freshness.message)
        for name, figure in health.figures.items():
            ui.plotly(figure, key=f"sources_{name}")
