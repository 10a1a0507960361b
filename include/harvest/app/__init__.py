"""The Harvest app: one read-only view of crawl health, data quality, history and models
(Streamlit pages with Plotly charts; ``make app``).

Every figure comes from the warehouse (opened read-only with
:func:`harvest.storage.warehouse.open_warehouse`, statements in
:mod:`harvest.storage.warehouse.monitoring`, aggregated in the database), the crawl's own figures
(``crawl_stats``) or MLflow; nothing is computed twice (freshness is the supervisor's
:func:`harvest.monitoring.sla.check_freshness`). :mod:`.views` builds each page's frames and
figures without Streamlit, so tests and benchmarks call it directly; :mod:`.main` and
:mod:`.pages` only render them.
"""
