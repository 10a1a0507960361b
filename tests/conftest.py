"""Shared fixtures: the real services tests need, and what happens when one is missing.

On a laptop a missing service skips its tests with the reason in the summary; with ``CI=true``
a missing service fails the run instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import Phase, settings

# Hypothesis's "explain" phase rewrites the failing test's source with libcst, which crashes
# pytest (INTERNALERROR, AttributeError: __provides__) and hides the failure itself: leave it out.
settings.register_profile(
    "harvest", phases=[p for p in Phase if p is not Phase.explain], deadline=None
)
settings.load_profile("harvest")

# Every cleaned partition gets a profiling report (harvest.cleaning.profile); its per-column
# distribution plots are most of its cost (~0.3 s a column here), and the suite cleans hundreds
# of partitions: they are off unless a test asks (tests/unit/test_profile.py, the app's tests).
os.environ.setdefault("HARVEST_PROFILE_PLOTS", "false")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("HARVEST_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HARVEST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def missing_service(reason: str) -> None:
    """Skip on a laptop, fail in CI."""
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


# Every variable that points Harvest somewhere other than its embedded defaults.
HARVEST_LOCATION_VARS = (
    "HARVEST_RAW_STORE_URL",
    "HARVEST_CACHE_URL",
    "HARVEST_SOURCES_DIR",
    "HARVEST_WAREHOUSE_URL",
    "HARVEST_STAGING_URL",
    "AIRFLOW_CONN_HARVEST_WAREHOUSE",
    "AIRFLOW_CONN_HARVEST_CACHE",
    "AIRFLOW_CONN_HARVEST_RAW_STORE",
)


@pytest.fixture
def harvest_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HARVEST_HOME under the test's tmp_path with nothing else configured (embedded
    defaults), whatever the developer's shell exports; returns the home folder."""
    home = tmp_path / "harvest"
    monkeypatch.setenv("HARVEST_HOME", str(home))
    for name in HARVEST_LOCATION_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL (HARVEST_TEST_POSTGRES_URL, default the local trust-auth server)."""
    if not _reachable(POSTGRES_URL, 5432):
        missing_service(
            f"PostgreSQL not reachable at {POSTGRES_URL} (set HARVEST_TEST_POSTGRES_URL)"
        )
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real Redis (HARVEST_TEST_REDIS_URL, default db 15 of the local server)."""
    if not _reachable(REDIS_URL, 6379):
        missing_service(f"Redis not reachable at {REDIS_URL} (set HARVEST_TEST_REDIS_URL)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis at {REDIS_URL} does not answer: {exc}")
    return REDIS_URL


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[str]:
    """A Redis URL whose database is empty at the start and the end of the test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of headless Chromium and its chromedriver."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        missing_service(
            "Chromium or chromedriver not installed (apt-get install chromium chromium-driver)"
        )
    return browser, driver  # type: ignore[return-value]


@pytest.fixture
def mongo_client() -> Iterator[object]:
    """A real MongoDB when HARVEST_TEST_MONGO_URI is set, else mongomock (pymongo's API, in memory)."""
    uri = os.environ.get("HARVEST_TEST_MONGO_URI")
    if uri:
        from pymongo import MongoClient

        client: object = MongoClient(uri, serverSelectionTimeoutMS=5000)
        name = f"harvest_test_{uuid.uuid4().hex[:8]}"
        yield client, name
        client.drop_database(name)  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
    else:
        import mongomock

        _teach_mongomock_current_pymongo(mongomock)
        yield mongomock.MongoClient(), "harvest_test"


def _teach_mongomock_current_pymongo(mongomock: object) -> None:
    """mongomock 4.3 predates pymongo's ``sort=`` on bulk updates (pymongo >= 4.11 always passes
    it, as ``None`` unless asked); accept and ignore it, since Harvest never sorts bulk writes."""
    builder = mongomock.collection.BulkOperationBuilder  # type: ignore[attr-defined]
    if getattr(builder, "_harvest_patched", False):
        return
    for name in ("add_replace", "add_update"):
        original = getattr(builder, name)

        def accept_sort(self, *args, _original=original, sort=None, **kwargs):  # type: ignore[no-untyped-def]
            assert sort is None, "mongomock cannot sort bulk writes"
            return _original(self, *args, **kwargs)

        setattr(builder, name, accept_sort)
    builder._harvest_patched = True


# --- Airflow -------------------------------------------------------------------------------------
# Tests never touch the user's .harvest/airflow: before anything imports Airflow, point
# AIRFLOW_HOME at a temporary folder (SQLite metadata DB, logs, generated keys) and AIRFLOW_CONFIG
# at the repository's airflow.cfg, as the Makefile does for the real thing.

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_AIRFLOW_TMP: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _AIRFLOW_TMP
    import tempfile

    _AIRFLOW_TMP = tempfile.mkdtemp(prefix="harvest-pytest-airflow-")
    os.environ["AIRFLOW_HOME"] = _AIRFLOW_TMP
    os.environ["AIRFLOW_CONFIG"] = os.path.join(REPO_ROOT, "airflow.cfg")
    os.environ["HARVEST_REPO"] = REPO_ROOT
    os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    paths = [os.path.join(REPO_ROOT, "include"), os.path.join(REPO_ROOT, "plugins")]
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + rest)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _AIRFLOW_TMP:
        shutil.rmtree(_AIRFLOW_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated SQLite metadata DB in the session's temporary AIRFLOW_HOME; returns that folder."""
    import subprocess
    import sys

    home = os.environ["AIRFLOW_HOME"]
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    for args in (["db", "migrate"], ["pools", "set", "scraping", "4", "Harvest crawls"]):
        proc = subprocess.run([airflow, *args], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail(
                f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    return home
