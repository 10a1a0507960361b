"""The Harvest app's entry point: ``streamlit run include/harvest/app/main.py`` (``make app``).
One page per view (Streamlit's ``st.navigation``); the pages are in :mod:`harvest.app.pages`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from harvest.config.settings import Settings
from harvest.logjson import log_json_to_stream

PAGES = Path(__file__).parent / "pages"

if Settings.from_env().log_format == "json":  # JSON lines on stdout, for Logstash
    log_json_to_stream("app")

st.set_page_config(page_title="Harvest", layout="wide")
navigation = st.navigation(
    [
        st.Page(PAGES / "sources.py", title="Sources", default=True),
        st.Page(PAGES / "partition.py", title="Partition"),
        st.Page(PAGES / "trends.py", title="Trends"),
        st.Page(PAGES / "catalogue.py", title="Catalogue"),
        st.Page(PAGES / "models.py", title="Models"),
        st.Page(PAGES / "browse.py", title="Browse"),
        st.Page(PAGES / "repairs.py", title="Repairs"),
    ]
)
navigation.run()
