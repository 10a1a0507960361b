"""Harvest's Airflow plugin: the listener that tags Sentry errors with the source and version.

The adapters themselves live in the ``harvest_airflow`` package (kept out of the plugin loader by
``.airflowignore``); this module is the only one Airflow loads as a plugin.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from harvest_airflow import sentry_tags


class HarvestPlugin(AirflowPlugin):
    """Registers :mod:`harvest_airflow.sentry_tags` as a task instance listener."""

    name = "harvest"
    listeners = [sentry_tags]
