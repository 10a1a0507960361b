"""Partition: one source and date: every stage's count, the quarantine with reasons and the
offending values, the expectations, the crawl monitors, the profiling report of the cleaned
records and the Data Docs page (as the pipeline recorded them), and the run in Airflow."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from harvest.app import links, ui, views
from harvest.storage.warehouse import Warehouse


@ui.cached
def _detail(  # type: ignore[no-untyped-def]
    _warehouse: Warehouse, source: str, day: dt.date, version: tuple[int, str]
):
    return views.partition_detail(_warehouse, source, day)


@ui.cached
def _files(
    staging_url: str, source: str, day: dt.date, version: tuple[int, str]
) -> links.PartitionFiles:
    return links.partition_files(staging_url, source, day)


def _airflow_links(dag_id: str, schedule: str | None, day: dt.date, run_id: str | None) -> None:
    """The partition's run in Airflow and each task's log: ``run_id`` (the run a link from
    Airflow named), else the scheduled run of ``day``."""
    run_id = run_id or links.scheduled_run_id(schedule, day)
    if run_id is None:
        return
    urls = links.airflow_run_links(ui.settings().airflow_url, dag_id, run_id)
    st.sidebar.link_button("This run in Airflow", urls.pop("run"))
    st.sidebar.markdown(
        "Task logs: " + " · ".join(f"[{task}]({url})" for task, url in urls.items())
    )


def _profile(files: links.PartitionFiles, day: dt.date) -> None:
    record = files.profile
    if record is None:
        st.info("No profiling report was recorded for this partition (cleaned before it existed?).")
        return
    if files.profile_html is None:
        st.warning(f"No profiling report to show: {record.get('message') or record.get('status')}")
        return
    st.caption(
        f"{record['rows_profiled']} of {record['rows']} rows, {record['columns_profiled']} of "
        f"{record['columns']} columns, built in {record['seconds']:.1f} s (budget "
        f"{record['budget_seconds']:g} s) by skrub's TableReport"
    )
    st.download_button(
        "Download the profiling report (HTML)", files.profile_html,
        file_name=f"profile-{day}.html", mime="text/html", key="profile_download",
    )  # fmt: skip
    st.iframe(files.profile_html, height=720, alt="Profiling report")


def _data_docs(files: links.PartitionFiles, day: dt.date) -> None:
    if files.data_docs is None:
        st.info("No Data Docs page was recorded for this partition.")
    elif files.data_docs_html is None:
        st.info(f"The Data Docs page is not readable from here: {files.data_docs.get('path')}")
    else:
        st.download_button(
            "Download the Data Docs page (HTML)", files.data_docs_html,
            file_name=f"data-docs-{day}.html", mime="text/html", key="data_docs_download",
        )  # fmt: skip
        st.iframe(files.data_docs_html, height=720, alt="Data Docs")


st.title("Partition")
with ui.shown_errors():
    warehouse = ui.warehouse()
    spec = ui.choose_source()
    if spec is not None:
        version = ui.version(spec.name)
        days = list(warehouse.partition_loads(spec.name)["logical_date"])
        if not days:
            raise ui.NoData(f"Source {spec.name}: no partition loaded yet.")
        run_id = st.query_params.get("run_id")  # a link from a run in the Airflow UI
        linked = links.day_of_run(run_id, spec.schedule, days) if run_id else None
        newest_first = days[::-1]
        index = newest_first.index(linked) if linked is not None else 0
        day = st.sidebar.selectbox("Logical date", newest_first, index=index, key="logical_date")
        _airflow_links(spec.dag_id, spec.schedule, day, run_id if day == linked else None)
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
        st.subheader("Profiling report of the cleaned records")
        files = _files(ui.settings().staging_url, spec.name, day, version)
        _profile(files, day)
        st.subheader("Data Docs")
        _data_docs(files, day)
