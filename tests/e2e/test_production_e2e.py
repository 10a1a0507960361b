"""End to end on a real Airflow configured like docker-compose.yml's production settings: the
FAB auth manager with PostgreSQL metadata, Sentry on (its DSN pointing at a local receiver),
and task logs to Elasticsearch with the Kibana link (no Elasticsearch runs here: the workers'
upload fails, which the provider logs and survives; the link is computed without it).

- Who may do what: a Viewer and an Op log in through ``/auth/token``; the Viewer reads DAGs and
  task logs but is refused (403) triggering, clearing and changing connections; the Op triggers
  and clears; without a token nothing answers but the health check (and Airflow's version).
- Sentry: a scrape made to fail (the demo site is down) sends an event with the exception type,
  the DAG, the task, the source and the Harvest version.
- Kibana: the REST endpoint for a try's external log URL returns the Kibana link for that try.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

import harvest_local as local
from tests.integration.test_component_logs import readable_by_the_pipeline
from tests.sentry_receiver import SentryReceiver, event_tags

# The first test also waits for the stack to start and a scrape try to fail (setup counts).
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(1800)]

COMPOSE = local.REPO / "docker-compose.yml"
DAG_ID = "harvest_demo"
PASSWORDS = {role: f"{role.lower()}-{uuid.uuid4().hex[:10]}" for role in ("Admin", "Op", "Viewer")}
# A crawl of an unreachable site gives up after Scrapy's retries; on a loaded machine the first
# try may also fail to start (the API server answers late) and the retry comes 2 minutes later.
SENTRY_WAIT = 600
# Answer without a token: the health check, and the version (Airflow 3.3 serves
# ``/api/v2/version`` to anyone by design: the version and git commit, no data). The login and
# logout pages (``/api/v2/auth/...``, ``/auth/...``) are how a token is got, so are left out.
PUBLIC = {"/api/v2/monitor/health", "/api/v2/version"}
LOGIN = ("/api/v2/auth/", "/auth/")


def compose_airflow_env() -> dict[str, str]:
    """The production settings of docker-compose.yml's shared Airflow block that this test keeps:
    auth manager, Sentry and task-log options (hosts and secrets are local ones instead)."""
    block = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["x-airflow-env"]
    keep = ("AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__LOGGING__", "AIRFLOW__ELASTICSEARCH__")
    env = {key: str(value) for key, value in block.items() if key.startswith(keep)}
    env["AIRFLOW__ELASTICSEARCH__FRONTEND"] = env["AIRFLOW__ELASTICSEARCH__FRONTEND"].replace(
        "${KIBANA_URL:-http://localhost:5601}", "http://kibana.test:5601"
    )
    env["AIRFLOW__SENTRY__SENTRY_ON"] = str(block["AIRFLOW__SENTRY__SENTRY_ON"])
    return env


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    logs: dict[str, Path]
    sentry: SentryReceiver
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str) -> str:
        if role not in self.tokens:
            status, body = self.call(
                "POST",
                "/auth/token",
                {"username": role.lower(), "password": PASSWORDS[role]},
                token=None,
            )
            assert status in (200, 201), f"login as {role.lower()} -> {status}: {body}"
            self.tokens[role] = body["access_token"]
        return self.tokens[role]

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None
    ) -> tuple[int, Any]:
        """(status, parsed body) without raising on HTTP errors."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        try:
            return status, json.loads(text) if text else {}
        except ValueError:
            return status, text

    def as_role(self, role: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(method, path, body, token=self.token(role))

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"===== {name} ({path})\n{local.tail(path, lines)}" for name, path in self.logs.items()
        )


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    import psycopg2

    name = f"harvest_e2e_prod_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    root = tmp_path_factory.mktemp("e2e-prod")
    port = local.free_port()
    base_url = f"http://127.0.0.1:{port}"
    procs: dict[str, Any] = {}
    with SentryReceiver() as sentry:
        env = local.local_env(root / "harvest", root / "airflow", base=os.environ)
        for key in ("HARVEST_RAW_STORE_URL", "HARVEST_CACHE_URL", "HARVEST_SOURCES_DIR"):
            env.pop(key, None)
        for key in ("HARVEST_WAREHOUSE_URL", "HARVEST_STAGING_URL"):
            env.pop(key, None)
        env.update(compose_airflow_env())
        env.update(
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres_url.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+psycopg2://", 1
            )
            + f"/{name}",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__BASE_URL=base_url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url}/execution/",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            # No Elasticsearch here: a closed local port, so the upload fails at once.
            AIRFLOW__ELASTICSEARCH__HOST=f"http://127.0.0.1:{local.free_port()}",
            AIRFLOW__SENTRY__SENTRY_DSN=sentry.dsn,
            AIRFLOW__SENTRY__RELEASE="harvest@e2e",
            HARVEST_SOURCE_DEMO_BASE_URL=f"http://127.0.0.1:{local.free_port()}",
            PYTHONUNBUFFERED="1",
        )
        logs = {n: root / f"{n}.log" for n in ("cli", "api-server", "scheduler", "dag-processor")}
        result = Stack(base_url=base_url, env=env, logs=logs, sentry=sentry)
        try:
            local.migrate_db(env, logs["cli"])
            local.ensure_pool(env, logs["cli"])
            for role, password in PASSWORDS.items():
                local.run_airflow(
                    [
                        "users", "create", "--role", role, "--username", role.lower(),
                        "--email", f"{role.lower()}@example.com", "--firstname", role,
                        "--lastname", "Harvest", "--password", password,
                    ],
                    env,
                    logs["cli"],
                )  # fmt: skip
            procs["api-server"] = local.start_process(
                local.airflow_cmd("api-server", "--port", str(port)), env, logs["api-server"]
            )
            local.wait_for_http(
                f"{base_url}/api/v2/monitor/health", 240, procs["api-server"], logs["api-server"]
            )
            for component in ("scheduler", "dag-processor"):
                procs[component] = local.start_process(
                    local.airflow_cmd(component), env, logs[component]
                )
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                status, _ = result.as_role("Admin", "GET", f"/api/v2/dags/{DAG_ID}")
                if status == 200:
                    break
                time.sleep(2)
            else:
                pytest.fail(f"{DAG_ID} never showed up in the API\n{result.log_tails()}")
            yield result
        finally:
            for proc in reversed(procs.values()):
                local.stop_process_group(proc.pid, timeout=20)
            if request.session.testsfailed:
                sys.stderr.write(f"\n[e2e-prod] log tails:\n{result.log_tails(30)}\n")
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


@pytest.fixture(scope="module")
def failed_scrape(stack: Stack) -> dict[str, Any]:
    """A run of harvest_demo triggered by the Op while the demo site is down: its scrape fails.

    Returns the run and the Sentry event of the failure."""
    status, body = stack.as_role("Op", "PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, f"Op could not unpause {DAG_ID}: {status} {body}"
    status, run = stack.as_role(
        "Op",
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"logical_date": "2026-03-02T00:00:00Z", "conf": {}},
    )
    assert status == 200, f"the Op's trigger was refused: {status} {run}"
    event = stack.sentry.wait_for_event(SENTRY_WAIT, dag_id=DAG_ID, task_id="scrape")
    assert event is not None, (
        f"no Sentry event for {DAG_ID}.scrape in {SENTRY_WAIT} s "
        f"({stack.sentry.requests} requests, {len(stack.sentry.events)} events, "
        f"undecodable: {stack.sentry.errors})\n"
        f"{stack.log_tails()}"
    )
    return {"run": run, "event": event}


def test_viewer_reads_but_cannot_trigger_clear_or_change_connections(
    stack: Stack, failed_scrape: dict[str, Any]
) -> None:
    run_id = failed_scrape["run"]["dag_run_id"]
    status, dags = stack.as_role("Viewer", "GET", "/api/v2/dags")
    assert status == 200 and DAG_ID in {dag["dag_id"] for dag in dags["dags"]}
    status, _ = stack.as_role(
        "Viewer", "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/scrape/logs/1"
    )
    assert status == 200, f"a Viewer must read task logs, got {status}"

    refused = {
        "trigger": ("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None}),
        "clear": (
            "POST",
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
            {"dry_run": True, "dag_run_id": run_id},
        ),
        "add connection": (
            "POST",
            "/api/v2/connections",
            {"connection_id": "viewer_made", "conn_type": "http"},
        ),
        "edit connection": (
            "PATCH",
            "/api/v2/connections/harvest_any",
            {"connection_id": "harvest_any", "conn_type": "http"},
        ),
    }
    for action, (method, path, body) in refused.items():
        status, answer = stack.as_role("Viewer", method, path, body)
        assert status == 403, f"Viewer {action}: {method} {path} -> {status} {answer}"


def test_op_triggers_and_clears(stack: Stack, failed_scrape: dict[str, Any]) -> None:
    run_id = failed_scrape["run"]["dag_run_id"]
    assert failed_scrape["run"]["dag_id"] == DAG_ID  # triggered by the Op (fixture)
    status, answer = stack.as_role(
        "Op",
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        {"dry_run": True, "dag_run_id": run_id, "only_failed": False},
    )
    assert status == 200, f"Op clear -> {status} {answer}"
    assert answer["total_entries"] >= 1


def test_nothing_but_health_and_version_answers_without_a_token(stack: Stack) -> None:
    status, spec = stack.as_role("Admin", "GET", "/openapi.json")
    assert status == 200, f"/openapi.json -> {status}"
    checked, open_paths = [], set()
    for path, operations in spec["paths"].items():
        if "get" not in operations or not path.startswith(("/api/v2", "/ui")):
            continue
        if path.startswith(LOGIN):
            continue
        url = path.replace("{", "x").replace("}", "")  # any value: auth comes first
        status, _ = stack.call("GET", url, token=None)
        checked.append(path)
        if status not in (401, 403):
            open_paths.add(f"{path} -> {status}")
    assert open_paths == {f"{path} -> 200" for path in PUBLIC}, (
        f"answered without a token: {sorted(open_paths)}"
    )
    assert len(checked) > 50, f"only {len(checked)} endpoints found in /openapi.json"
    assert set(checked) >= PUBLIC


def test_a_failed_task_reaches_sentry_with_dag_task_and_source(
    failed_scrape: dict[str, Any],
) -> None:
    event = failed_scrape["event"]
    tags = event_tags(event)
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "AirflowException", exception
    assert "demo" in exception["value"]
    assert tags["dag_id"] == DAG_ID and tags["task_id"] == "scrape"
    assert tags["source"] == "demo"
    assert tags["harvest_version"] == "0.1.0"
    assert event["release"] == "harvest@e2e"


def test_external_log_url_is_the_kibana_link_of_that_try(
    stack: Stack, failed_scrape: dict[str, Any]
) -> None:
    run_id = failed_scrape["run"]["dag_run_id"]
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/scrape"
    status, ti = stack.as_role("Viewer", "GET", base)
    assert status == 200, ti
    try_number = ti["try_number"]
    assert try_number >= 1
    status, answer = stack.as_role("Viewer", "GET", f"{base}/externalLogUrl/{try_number}")
    assert status == 200, f"externalLogUrl -> {status} {answer}"
    log_id = f"{DAG_ID}-scrape-{run_id}--1-{try_number}"
    frontend = stack.env["AIRFLOW__ELASTICSEARCH__FRONTEND"]
    assert answer["url"] == frontend.format(log_id=quote(log_id))
    assert answer["url"].startswith("http://kibana.test:5601/app/discover#/view/harvest-task-logs")


def test_the_components_log_json_lines_that_logstash_reads(stack: Stack) -> None:
    """The compose block's ``[logging] json_logs``: what the api-server, the scheduler and the
    dag-processor print is JSON lines with the fields deploy/logstash's filter reads. A line that
    is not JSON (a banner before logging starts) is kept by the pipeline as text: only a few."""
    for component in ("api-server", "scheduler", "dag-processor"):
        lines = [line for line in stack.logs[component].read_text().splitlines() if line.strip()]
        records, text = [], []
        for line in lines:
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            (records if isinstance(parsed, dict) else text).append(parsed or line)
        assert records, f"{component}: no JSON line in {stack.logs[component]}"
        for record in records:
            readable_by_the_pipeline(record)
        assert len(text) <= max(5, len(lines) // 20), (
            f"{component}: {len(text)} of {len(lines)} lines are not JSON, e.g. {text[:5]}"
        )
