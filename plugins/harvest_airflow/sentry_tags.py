"""Sentry tags for Harvest tasks: the Harvest version and the source a task works on.

Airflow's own ``[sentry]`` integration (``airflow.sdk.execution_time.sentry``) initialises the
SDK in each task process from the ``[sentry]`` options (``sentry_dsn``, ``release``,
``environment``...) and tags every captured error with ``dag_id``, ``task_id``, ``try_number``
and the run's dates. It knows nothing of Harvest, so this Airflow listener adds, when a task
starts running and ``[sentry] sentry_on`` is true:

- ``harvest_version``: the installed ``harvest`` package version (``importlib.metadata``);
- ``source``: the operator's ``source`` (every Harvest stage operator has one); no tag for tasks
  of no single source (the supervisor, training across sources).

The tags go on Sentry's global scope: Airflow's ``sentry_sdk.init()`` in the same process and its
per-task scope keep them, and without a DSN the SDK has no client, so nothing is sent.
Registered by ``plugins/harvest_plugin.py``.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from airflow.listeners import hookimpl

__all__ = ["on_task_instance_running", "sentry_tags"]


def sentry_tags(task_instance: Any) -> dict[str, str]:
    """The tags for a running task instance: ``harvest_version`` and, when known, ``source``."""
    tags = {"harvest_version": importlib.metadata.version("harvest")}
    task = getattr(task_instance, "task", None)
    source = getattr(task, "source", None)
    if source:
        tags["source"] = str(source)
    return tags


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    """Tag Sentry's global scope for this task process (only when ``[sentry] sentry_on``)."""
    from airflow.sdk.configuration import conf

    if not conf.getboolean("sentry", "sentry_on", fallback=False):
        return
    import sentry_sdk

    scope = sentry_sdk.get_global_scope()
    for key, value in sentry_tags(task_instance).items():
        scope.set_tag(key, value)
