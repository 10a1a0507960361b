"""A real Airflow for end-to-end tests: PostgreSQL metadata DB, api-server, scheduler and
dag-processor as subprocesses (LocalExecutor), the demo site, and a REST client."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

import harvest_local as local
from harvest_demo.catalogue import CatalogueConfig
from harvest_demo.generator import SiteConfig
from harvest_demo.server import DemoSite

ADMIN_PASSWORD = "e2e-" + uuid.uuid4().hex[:12]
# Small enough to keep the whole e2e run short on 2 cores: 2 index + 40 detail pages a day.
SITE = SiteConfig(seed=11, listings_per_day=40, page_size=20)
# The catalogue beside it: about ten products a day in four categories (one list page each),
# changing fast (products appear, disappear and change price from one day to the next).
CATALOGUE = CatalogueConfig(
    seed=1, products=12, lifetime_days=(6, 16), gap_days=(1, 3), price_days=(2, 4)
)
RUN_TIMEOUT = 420  # scrape + validate + clean + load


@dataclass
class Airflow:
    """The running stack and a tiny REST API v2 client."""

    base_url: str
    env: dict[str, str]
    harvest_home: Path
    logs: dict[str, Path]
    site: DemoSite
    password: str = ADMIN_PASSWORD
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    _token: str = field(default="", repr=False)

    def token(self) -> str:
        if not self._token:
            self._token = self.request(
                "POST",
                "/auth/token",
                {"username": local.ADMIN_USER, "password": self.password},
                auth=False,
            )["access_token"]
        return self._token

    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 - local server
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise AssertionError(
                f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')[:1000]}"
            ) from exc
        return json.loads(text) if text else {}

    def task_result(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The return value (XCom) of one task instance of a run."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return self.request("GET", f"{path}/xcomEntries/return_value")["value"]

    def dag_runs(self, dag_id: str = "harvest_demo") -> list[dict[str, Any]]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def wait_for_runs(
        self, run_ids: set[str], dag_id: str = "harvest_demo", timeout: float = RUN_TIMEOUT
    ) -> dict[str, dict[str, Any]]:
        """Poll until every run is finished; fail on any run that did not succeed."""
        deadline = time.monotonic() + timeout
        runs: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            try:
                listed = self.dag_runs(dag_id)
            except TimeoutError:  # an api-server slow under load: ask again until the deadline
                time.sleep(3)
                continue
            runs = {r["dag_run_id"]: r for r in listed if r["dag_run_id"] in run_ids}
            if len(runs) == len(run_ids) and all(
                r["state"] in ("success", "failed") for r in runs.values()
            ):
                break
            time.sleep(3)
        else:
            pytest.fail(
                f"runs not finished after {timeout:.0f} s: {_states(runs)}\n{self.log_tails()}"
            )
        failed = {rid: r for rid, r in runs.items() if r["state"] != "success"}
        assert not failed, f"runs failed: {_states(failed)}\n{self.task_logs(failed, dag_id)}"
        return runs

    def backfill(self, days: Sequence[dt.date], dag_id: str = "harvest_demo") -> set[str]:
        """``airflow backfill create`` over ``days`` (one run per date: the DAG runs at 02:00,
        so the range ends at the last day's end); the ids of the backfill runs it created."""
        before = {r["dag_run_id"] for r in self.dag_runs(dag_id)}
        self.airflow(
            "backfill",
            "create",
            "--dag-id",
            dag_id,
            "--from-date",
            days[0].isoformat(),
            "--to-date",
            f"{days[-1].isoformat()}T23:59:59+00:00",
        )
        deadline = time.monotonic() + 60
        new: set[str] = set()
        while time.monotonic() < deadline and len(new) < len(days):
            new = {
                r["dag_run_id"]
                for r in self.dag_runs(dag_id)
                if r["dag_run_id"] not in before and r["run_type"] == "backfill"
            }
            time.sleep(2)
        return new

    def task_logs(self, runs: dict[str, dict[str, Any]], dag_id: str) -> str:
        out = []
        for run_id in runs:
            for path in (Path(self.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}").glob(
                f"run_id={run_id}/task_id=*/attempt=*.log"
            ):
                out.append(f"--- {path}\n{local.tail(path, 30)}")
        return "\n".join(out) or self.log_tails()

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"===== {name} ({path})\n{local.tail(path, lines)}" for name, path in self.logs.items()
        )

    def airflow(self, *args: str) -> None:
        local.run_airflow(args, self.env, self.logs["cli"])


def _states(runs: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{rid}={r['state']}" for rid, r in runs.items()) or "(none found)"


def _with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{name}"))


@contextmanager
def fresh_database(postgres_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database named ``<prefix>_<random>`` on the server of ``postgres_url``;
    its ``postgresql://`` URL. Dropped on exit."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_url, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def metadata_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one Airflow's metadata (SQLAlchemy URL), dropped after."""
    with fresh_database(postgres_url, "harvest_e2e") as url:
        yield url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture
def new_database(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """``new_database(prefix)``: the URL of a fresh PostgreSQL database, dropped after the test."""
    with ExitStack() as stack:
        yield lambda prefix: stack.enter_context(fresh_database(postgres_url, prefix))


@pytest.fixture(scope="session")
def e2e_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata, dropped afterwards."""
    with metadata_database(postgres_url) as url:
        yield url


@contextmanager
def running_airflow(
    root: Path,
    database: str,
    *,
    extra_env: Mapping[str, str] | None = None,
    workers: Mapping[str, tuple[Sequence[str], Mapping[str, str]]] | None = None,
    site_sources: Sequence[str] = ("demo",),
    failed: Callable[[], bool] = lambda: False,
) -> Iterator[Airflow]:
    """Start the demo site, api-server, scheduler and dag-processor on ``database`` under
    ``root``, with ``extra_env`` over the environment, and ``workers`` (name -> ``airflow`` CLI
    arguments such as ``celery worker ...`` and that process's own extra variables); the
    sources in ``site_sources`` crawl the demo site. Stop them all on exit, printing the log
    tails when ``failed()``."""
    harvest_home, airflow_home, log_dir = root / "harvest", root / "airflow", root / "logs"
    site = DemoSite(SITE, catalogue=CATALOGUE)
    site_url = site.start()
    port = local.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = local.local_env(harvest_home, airflow_home, base=os.environ)
    env.update(
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database,
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=base_url,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url}/execution/",
        # Start paused: the tests decide what runs (no surprise scheduled run).
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"HARVEST_SOURCE_{name.upper()}_BASE_URL": site_url for name in site_sources})
    for name in (
        "HARVEST_RAW_STORE_URL",
        "HARVEST_CACHE_URL",
        "HARVEST_SOURCES_DIR",
        "HARVEST_WAREHOUSE_URL",  # the embedded SQLite warehouse under harvest_home
        "HARVEST_STAGING_URL",
    ):
        env.pop(name, None)
    env.update(extra_env or {})
    workers = workers or {}
    logs = {
        name: log_dir / f"{name}.log"
        for name in ("cli", "api-server", "scheduler", "dag-processor", *workers)
    }
    stack = Airflow(base_url=base_url, env=env, harvest_home=harvest_home, logs=logs, site=site)
    procs = stack.procs
    started = time.monotonic()
    try:
        local.migrate_db(env, logs["cli"])
        local.ensure_pool(env, logs["cli"])
        local.ensure_admin_password(env, ADMIN_PASSWORD)
        procs["api-server"] = local.start_process(
            local.airflow_cmd("api-server", "--port", str(port)), env, logs["api-server"]
        )
        local.wait_for_http(
            f"{base_url}/api/v2/monitor/health", 240, procs["api-server"], logs["api-server"]
        )
        for name in ("scheduler", "dag-processor"):
            procs[name] = local.start_process(local.airflow_cmd(name), env, logs[name])
        for name, (args, worker_env) in workers.items():
            procs[name] = local.start_process(
                local.airflow_cmd(*args), {**env, **worker_env}, logs[name]
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited with {proc.returncode}\n{stack.log_tails()}")
            try:
                stack.request("GET", "/api/v2/dags/harvest_demo")
                break
            except AssertionError:
                time.sleep(2)
        else:
            pytest.fail(f"harvest_demo never showed up in the API\n{stack.log_tails()}")
        sys.stderr.write(
            f"\n[e2e] Airflow up in {time.monotonic() - started:.0f} s at {base_url}\n"
        )
        yield stack
    finally:
        for proc in reversed(procs.values()):
            local.stop_process_group(proc.pid, timeout=20)
        site.stop()
        if failed():
            sys.stderr.write(f"\n[e2e] log tails after failures:\n{stack.log_tails(60)}\n")


@pytest.fixture(scope="session")
def airflow_stack(
    request: pytest.FixtureRequest, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Airflow]:
    with running_airflow(
        tmp_path_factory.mktemp("e2e"),
        e2e_database,
        site_sources=("demo", "catalogue"),
        failed=lambda: bool(request.session.testsfailed),
    ) as stack:
        yield stack


@pytest.fixture
def airflow(airflow_stack: Airflow) -> Airflow:
    """The stack with harvest_demo unpaused."""
    airflow_stack.request("PATCH", "/api/v2/dags/harvest_demo", {"is_paused": False})
    return airflow_stack
