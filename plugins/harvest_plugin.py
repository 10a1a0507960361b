"""Harvest's Airflow plugin: the listener that tags Sentry errors with the source and version,
and the links to the Harvest app (``HARVEST_APP_URL``): a menu entry, on each DAG a link to
its source in the app, and on each run a link to its partition (the app's Partition page).

The adapters themselves live in the ``harvest_airflow`` package (kept out of the plugin loader by
``.airflowignore``); this module is the only one Airflow loads as a plugin.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from harvest.config.settings import Settings
from harvest_airflow import sentry_tags

_APP_URL = Settings.from_env().app_url


class HarvestPlugin(AirflowPlugin):
    """Registers :mod:`harvest_airflow.sentry_tags` as a task instance listener and the app's
    links as external views (Airflow 3's plugin interface: ``nav`` and ``dag`` destinations)."""

    name = "harvest"
    listeners = [sentry_tags]
    external_views = [
        {"name": "Harvest app", "href": _APP_URL, "destination": "nav", "category": "browse"},
        {
            "name": "Harvest app: this source",
            "href": _APP_URL + "/?dag_id={DAG_ID}",
            "destination": "dag",
        },
        {
            "name": "Harvest app: this partition",
            "href": _APP_URL + "/partition?dag_id={DAG_ID}&run_id={RUN_ID}",
            "destination": "dag_run",
        },
    ]
