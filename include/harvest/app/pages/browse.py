"""Browse: the processed table of a source, a page at a time, filtered by date range and by
equal values, downloadable as CSV or Parquet (the page shown)."""

from __future__ import annotations

import io

import streamlit as st

from harvest.app import ui

PAGE_ROWS = 1000

st.title("Browse")
with ui.shown_errors():
    warehouse = ui.warehouse()
    spec = ui.choose_source()
    if spec is not None:
        days = list(warehouse.partition_loads(spec.name)["logical_date"])
        if not days:
            raise ui.NoData(f"Source {spec.name}: no partition loaded yet.")
        first, last = st.select_slider(
            "Logical dates", options=days, value=(days[0], days[-1]), key="browse_dates"
        )
        equals = {}
        for column in st.multiselect("Filter on", list(spec.detail.fields), key="browse_filters"):
            value = st.text_input(f"{column} =", key=f"browse_{column}")
            if value:
                equals[column] = value
        page = st.number_input("Page", min_value=1, value=1, step=1, key="browse_page")
        rows, total = warehouse.browse(
            spec, first, last, equals, limit=PAGE_ROWS, offset=(int(page) - 1) * PAGE_ROWS
        )
        st.caption(f"{total} row(s) match; rows {len(rows)} of page {page} shown.")
        st.dataframe(rows, hide_index=True)
        name = f"{spec.name}_{first}_{last}_page{page}"
        st.download_button(
            "CSV", rows.to_csv(index=False), file_name=f"{name}.csv", mime="text/csv"
        )
        parquet = io.BytesIO()
        rows.astype({c: "string" for c in rows.columns if rows[c].dtype == object}).to_parquet(
            parquet, index=False
        )
        st.download_button(
            "Parquet",
            parquet.getvalue(),
            file_name=f"{name}.parquet",
            mime="application/vnd.apache.parquet",
        )
