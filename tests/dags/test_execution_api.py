"""``make demo``'s in-process execution API for the task SDK's version only
(:mod:`harvest_airflow.execution_api`): it serves that version exactly as Airflow's full app does,
it is the app ``dag.test()`` uses, and a changed internal fails loudly instead of serving
something else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cadwyn import HeadVersion, Version, VersionBundle, VersionChange

from harvest_airflow.execution_api import (
    ExecutionApiShimError,
    serve_sdk_version_only,
    why_not_reduced,
)


@pytest.fixture
def fresh_api() -> Iterator[Any]:
    """Airflow's per-process ``in_process_api_server`` cache emptied before and after the test
    (a later ``dag.test()`` in the session builds its own); yields that factory."""
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    in_process_api_server.cache_clear()
    yield in_process_api_server
    in_process_api_server.cache_clear()


def openapi(app: Any, version: str) -> Any:
    """The app's OpenAPI document for ``version`` (``None`` when it does not serve it)."""
    from fastapi.testclient import TestClient

    # not entered: the document needs no lifespan (Airflow's full app's would want a JWT secret)
    response = TestClient(app).get("/openapi.json", params={"version": version})
    return response.json() if response.status_code == 200 else None


def test_the_sdk_version_is_served_as_the_full_app_serves_it(fresh_api: Any) -> None:
    """Same paths, parameters, request and response schemas for the version the task SDK sends;
    no other version; the app ``dag.test()`` asks for is this one, and a request of the SDK's
    in-process client (the one ``dag.test()`` builds) is answered."""
    from airflow.api_fastapi.execution_api.app import create_task_execution_api_app
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    api = serve_sdk_version_only()
    assert api.app.versions.version_values == (API_VERSION,)
    assert fresh_api() is api and serve_sdk_version_only() is api
    assert fresh_api.cache_info().misses == 1

    full = create_task_execution_api_app()
    assert len(full.versions.version_values) > 1  # else there is nothing to compare
    older = full.versions.version_values[1]
    expected = openapi(full, API_VERSION)
    assert expected is not None and openapi(full, older) is not None
    assert openapi(api.app, API_VERSION) == expected
    assert openapi(api.app, older) is None

    client = InProcessTestSupervisor._api_client()
    response = client.get("health")
    assert response.status_code == 200, response.text


def test_an_sdk_older_than_the_newest_version_gets_the_full_app(
    fresh_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task SDK older than Airflow core asks in an older version, whose routes differ from the
    head's: Airflow's full app is built, as without the shim."""
    import airflow.api_fastapi.execution_api.versions as versions
    import airflow.sdk.api.datamodels._generated as sdk

    older = str(versions.bundle.version_values[1])
    monkeypatch.setattr(sdk, "API_VERSION", older)
    api = serve_sdk_version_only()
    assert api.app.versions is versions.bundle


def test_an_app_built_elsewhere_than_from_the_bundle_fails_loudly(
    fresh_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If Airflow stopped building the app from ``versions.bundle``, the shim would serve every
    version again without saying so: it raises, naming what changed."""
    import airflow.api_fastapi.execution_api.app as app_module
    import airflow.api_fastapi.execution_api.versions as versions

    full, build = versions.bundle, app_module.create_task_execution_api_app

    def built_from_its_own_bundle(**kwargs: Any) -> Any:
        with monkeypatch.context() as patch:
            patch.setattr(versions, "bundle", full)
            return build(**kwargs)

    monkeypatch.setattr(app_module, "create_task_execution_api_app", built_from_its_own_bundle)
    with pytest.raises(ExecutionApiShimError, match="was not built from"):
        serve_sdk_version_only()
    assert versions.bundle is full  # put back whatever happened


def test_a_bundle_that_is_no_bundle_fails_loudly(
    fresh_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.api_fastapi.execution_api.versions as versions

    monkeypatch.setattr(versions, "bundle", ("2026-06-30",))
    with pytest.raises(ExecutionApiShimError, match="no longer a Cadwyn VersionBundle"):
        serve_sdk_version_only()
    assert fresh_api.cache_info().currsize == 0, "an app was built all the same"


def test_why_not_reduced() -> None:
    """Only the newest dated version, with a head that changes nothing, is served by the head's
    routes alone."""
    bundle = VersionBundle(HeadVersion(), Version("2026-06-30"), Version("2026-04-06"))
    assert why_not_reduced(bundle, "2026-06-30") is None
    assert "older than the newest served 2026-06-30" in str(why_not_reduced(bundle, "2026-04-06"))
    assert "is not served" in str(why_not_reduced(bundle, "2027-01-01"))

    class ChangeInHead(VersionChange):
        description = "a change the head version makes"
        instructions_to_migrate_to_previous_version = ()

    changed = VersionBundle(HeadVersion(ChangeInHead), Version("2026-06-30"))
    assert why_not_reduced(changed, "2026-06-30") == "the head version has changes of its own"
