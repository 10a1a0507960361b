"""``dag.test()``'s in-process Task Execution API, built for the one API version it is asked in.

``dag.test()`` runs each task in this process against an in-process copy of Airflow's Task
Execution API (``airflow.sdk.execution_time.supervisor.in_process_api_server``, one per
process). That app is a Cadwyn app: on its first request it generates the routes and schemas of
every API version Airflow still serves (the head and nine dated versions in Airflow 3.3.2), 2.5
to 3.3 s of CPU on the path of the first task of ``make demo``, though the only client it ever
has is the task SDK of this same process, which asks in one version (``Airflow-API-Version``,
the SDK's ``API_VERSION``).

:func:`serve_sdk_version_only` builds that cached app itself, before ``dag.test()`` asks for it,
from a Cadwyn version bundle of the head and the SDK's version alone (0.3-0.5 s of CPU);
``dag.test()`` then finds it built. Airflow has no setting for this, so it is a shim on
internals, pinned by the lock and guarded:

* it is used only when the SDK speaks the newest dated version of the bundle and the head
  version changes nothing (then the newest version's routes are the head's, which is all the
  reduced bundle serves); otherwise Airflow builds its full app, as without this module;
* every internal it relies on is checked, and :class:`ExecutionApiShimError` names the one that
  changed rather than serving something else (``tests/dags/test_execution_api.py`` also checks
  that the reduced app's OpenAPI document for the SDK's version is the full app's).

Routes that exist only in older versions (Cadwyn's ``only_exists_in_older_versions``) are left
out of the reduced app: Cadwyn removes them from every version newer than the one that restores
them, so the SDK's version never had them.
"""

from __future__ import annotations

import logging
from typing import Any

from harvest.errors import HarvestError

log = logging.getLogger(__name__)

# Cadwyn's tag for a route that exists only in older versions (cadwyn.route_generation); read
# from Cadwyn and compared with this, so that a renamed tag fails here and not at the first task.
DELETED_ROUTE_TAG = "_CADWYN_DELETED_ROUTE"


class ExecutionApiShimError(HarvestError, RuntimeError):
    """An Airflow or Cadwyn internal that :func:`serve_sdk_version_only` relies on changed: the
    message names it. Remove the call (``dag.test()`` then builds Airflow's full app) or adapt
    the shim to the new versions. Running again meets it again."""

    retryable = False


def _internals() -> tuple[Any, Any, str]:
    """(the ``versions`` module whose ``bundle`` the app is built from, the cached
    ``in_process_api_server`` factory, the SDK's API version), each checked."""
    try:
        import airflow.api_fastapi.execution_api.versions as versions
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from airflow.sdk.execution_time.supervisor import in_process_api_server
        from cadwyn import VersionBundle
        from cadwyn.route_generation import _DELETED_ROUTE_TAG
    except ImportError as exc:
        raise ExecutionApiShimError(f"an import it needs is gone: {exc}") from exc
    if _DELETED_ROUTE_TAG != DELETED_ROUTE_TAG:
        raise ExecutionApiShimError(
            f"Cadwyn's deleted-route tag is now {_DELETED_ROUTE_TAG!r}, not {DELETED_ROUTE_TAG!r}"
        )
    if not isinstance(getattr(versions, "bundle", None), VersionBundle):
        raise ExecutionApiShimError(
            "airflow.api_fastapi.execution_api.versions.bundle is no longer a Cadwyn VersionBundle"
        )
    if not hasattr(in_process_api_server, "cache_info"):
        raise ExecutionApiShimError(
            "airflow.sdk.execution_time.supervisor.in_process_api_server is no longer cached: "
            "dag.test() would not use the app built here"
        )
    return versions, in_process_api_server, API_VERSION


def why_not_reduced(bundle: Any, sdk_version: str) -> str | None:
    """Why the reduced app would not serve ``sdk_version`` as ``bundle`` does; ``None`` when it
    would (the SDK speaks the newest dated version and the head version changes nothing)."""
    values = [str(v) for v in bundle.version_values]
    if sdk_version not in values:
        return f"the task SDK's API version {sdk_version} is not served (served: {values})"
    if values[0] != sdk_version:
        return f"the task SDK speaks {sdk_version}, older than the newest served {values[0]}"
    if bundle.head_version.changes:
        return "the head version has changes of its own"
    return None


def serve_sdk_version_only() -> Any:
    """Build the in-process execution API ``dag.test()`` uses (the process's cached
    ``InProcessExecutionAPI``) with the routes of the task SDK's API version only, unless it
    exists already (then it is returned as it is: a later ``dag.test()`` of the same process)
    or the reduced app would not serve that version as the full one does (then Airflow's full
    app is built, and the reason logged). Returns the ``InProcessExecutionAPI``; its routes
    are generated at its first request, as Airflow's are. Raises
    :class:`ExecutionApiShimError` when an internal it relies on changed."""
    from cadwyn import HeadVersion, Version, VersionBundle
    from fastapi.routing import APIRouter

    versions, in_process_api_server, sdk_version = _internals()
    if in_process_api_server.cache_info().currsize:  # built by an earlier call or dag.test()
        return in_process_api_server()
    full = versions.bundle
    api = in_process_api_server()
    reason = why_not_reduced(full, sdk_version)
    if reason is not None:
        log.info("in-process execution API: every version (%s)", reason)
        api.app  # noqa: B018 - builds it, as dag.test() would
        return api
    reduced = VersionBundle(HeadVersion(), Version(sdk_version))
    versions.bundle = reduced  # read by create_task_execution_api_app() when it builds the app
    try:
        app = api.app
    finally:
        versions.bundle = full
    if getattr(app, "versions", None) is not reduced:
        raise ExecutionApiShimError(
            "the in-process execution API was not built from "
            "airflow.api_fastapi.execution_api.versions.bundle"
        )
    router = getattr(app, "_latest_version_router", None)
    if not isinstance(router, APIRouter):
        raise ExecutionApiShimError("Cadwyn's app has no _latest_version_router any more")
    older_only = [r for r in router.routes if DELETED_ROUTE_TAG in (getattr(r, "tags", None) or ())]
    router.routes = [r for r in router.routes if r not in older_only]
    log.info(
        "in-process execution API: version %s only (%d routes; %d of older versions left out)",
        sdk_version,
        len(router.routes),
        len(older_only),
    )
    return api
