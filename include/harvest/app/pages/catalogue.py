"""Catalogue: search an item; its versions over time (a step chart of a number field), and
when it appeared, changed, was unobserved and disappeared."""

from __future__ import annotations

import streamlit as st

from harvest.app import history, ui

st.title("Catalogue")
with ui.shown_errors():
    warehouse = ui.warehouse()
    spec = ui.choose_source()
    if spec is not None:
        if spec.mode != "catalogue":
            st.info(
                f"Source {spec.name} is a listings source (each record appears once): its "
                "records are on the Browse page. Choose a catalogue source for versions."
            )
        text_fields = [n for n, f in spec.detail.fields.items() if f.kind == "text"]
        label = text_fields[0] if text_fields else None
        text = st.text_input(f"Search by key, URL{' or ' + label if label else ''}", key="item")
        found = warehouse.item_search(spec, text, label, limit=50)
        if found.empty:
            raise ui.NoData(f"Source {spec.name}: no item matches {text!r}.")
        st.dataframe(found, hide_index=True)
        key = st.selectbox("Item", list(found["record_key"]), key="record_key")
        versions = warehouse.item_versions(spec, key)
        if spec.mode == "catalogue":
            loads = warehouse.partition_loads(spec.name)
            observed = list(loads["logical_date"])
            events = history.item_events(versions, list(spec.detail.fields), observed)
            st.subheader(f"{key}: {len(versions)} version(s)")
            st.dataframe(
                [{"date": e.logical_date, "event": e.event, "detail": e.detail} for e in events],
                hide_index=True,
            )
            numbers = history.numeric_columns(spec, versions)
            if numbers:
                column = st.selectbox("Chart", numbers, key="step_column")
                until = observed[-1] if observed else versions["last_seen"].max()
                ui.plotly(
                    history.step_figure(versions, column, until, f"{key}: {column} over time"),
                    key="catalogue_steps",
                )
        st.dataframe(versions, hide_index=True)
