"""Partition: one source and date: every stage's count, the quarantine with reasons and the
offending values, the expectations and the crawl monitors."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from harvest.app import ui, views
from harvest.storage.warehouse import Warehouse


@ui.cached
def _detail(  # type: ignore[no-untyped-def]
    _warehouse: Warehouse, source: str, day: dt.date, version: tuple[int, str]
):
    return views.partition_detail(_warehouse, source, day)


st.title("Partition")
with ui.shown_errors():
    warehouse = ui.warehouse()
    spec = ui.choose_source()
    if spec is not None:
        version = ui.version(spec.name)
        days = list(warehouse.partition_loads(spec.name)["logical_date"])
        if not days:
            raise ui.NoData(f"Source {spec.name}: no partition loaded yet.")
        day = st.sidebar.selectbox("Logical date", days[::-1], key="logical_date")
        detail = _detail(warehouse, spec.name, day, version)
        if detail is None:
            raise ui.NoData(f"Source {spec.name}: no partition for {day}.")
        ui.plotly(detail.figures["stages"], key="partition_stages")
        st.subheader("Quarantine")
        if detail.quarantine.empty:
            st.write("No record of this partition was quarantined.")
        else:
            st.dataframe(detail.quarantine_by_reason, hide_index=True, key="partition_by_reason")
            st.dataframe(detail.quarantine, hide_index=True, key="partition_quarantine")
        st.subheader("Expectations")
        st.dataframe(detail.expectations, hide_index=True, key="partition_expectations")
        st.subheader("Crawl monitors")
        st.dataframe(detail.monitors, hide_index=True, key="partition_monitors")
