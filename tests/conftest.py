"""Shared fixtures: the real services tests need, and what happens when one is missing.

On a laptop a missing service skips its tests with the reason in the summary; with ``CI=true``
a missing service fails the run instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
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


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a MongoDB wire-protocol server: HARVEST_TEST_MONGO_URI (a real MongoDB) when set,
    else a SecantusDB server (the test-only ``secantusdb`` package: a beta MongoDB-compatible
    server on WiredTiger, not MongoDB itself) started for the session on a free local port and
    stopped at its end. A server that cannot be started skips the mongo tests (fails in CI)."""
    uri = os.environ.get("HARVEST_TEST_MONGO_URI")
    if uri:
        yield uri
        return
    server = os.path.join(os.path.dirname(sys.executable), "secantusd-py")
    if not os.path.exists(server):
        missing_service(
            f"no MongoDB server: set HARVEST_TEST_MONGO_URI or install secantusdb "
            f"(requirements-dev.txt; {server} not found)"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("secantus")
    log_path = folder / "secantusd.log"
    command = [server, "--host", "127.0.0.1", "--port", str(port), "--standalone"]
    command += ["--storage-path", str(folder / "data"), "--cache-size", "128M"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        _wait_for_mongo(uri, proc, log_path)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_mongo(
    uri: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 60
) -> None:
    """Return once the server at ``uri`` answers ``ping``; skip (fail in CI) with its log's tail
    when the process exits or ``timeout_s`` seconds pass first."""
    import time

    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout_s
    while True:
        exited = proc.poll()
        if exited is None:
            client: Any = MongoClient(uri, serverSelectionTimeoutMS=1000)
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                pass
            finally:
                client.close()
        if exited is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-2000:]
            why = f"exited with {exited}" if exited is not None else f"no ping in {timeout_s} s"
            missing_service(f"SecantusDB at {uri} {why}; its log:\n{tail}")
        time.sleep(0.2)


@pytest.fixture
def mongo_client(mongo_uri: str) -> Iterator[tuple[Any, str]]:
    """A pymongo client of :func:`mongo_uri`'s server and a database name of this test alone,
    dropped at its end."""
    from pymongo import MongoClient

    client: Any = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    name = f"harvest_test_{uuid.uuid4().hex[:8]}"
    try:
        yield client, name
        client.drop_database(name)
    finally:
        client.close()


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

    home = os.environ["AIRFLOW_HOME"]
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    for args in (["db", "migrate"], ["pools", "set", "scraping", "4", "Harvest crawls"]):
        proc = subprocess.run([airflow, *args], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail(
                f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    return home
