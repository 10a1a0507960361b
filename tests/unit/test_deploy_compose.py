"""docker-compose.yml against the Compose Specification, its internal consistency, and the
Airflow configuration it produces as Airflow itself reads it.

No Docker engine runs here, so nothing is started: the file is validated with check-jsonschema's
vendored Compose Specification schema (as written and after interpolation with
deploy/env.example), checked for what a person would check by eye (one shared Airflow
environment, no port collisions, declared volumes and networks, one-shots and health checks,
MLflow and metrics wiring), and its ``AIRFLOW__*`` block is handed to Airflow in a subprocess
that reports the executor, logging, metrics, Sentry and auth settings Airflow resolves, and
the task-log records the configured Elasticsearch writer produces.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.unit.test_deploy_files import (
    COMPOSE,
    ENV_EXAMPLE,
    ROOT,
    compose,
    env_example,
    environment_of,
    interpolate,
    services,
)

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Services that run an Airflow component (they share x-airflow-env).
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


def compose_schema() -> dict[str, Any]:
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(
        "compose-spec.json"
    )
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Parse first, then substitute ``${VAR}`` in every string, as docker compose does."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def interpolated_compose(**overrides: str) -> dict[str, Any]:
    env = {**env_example(), "SENTRY_DSN": "https://key@sentry.example.com/1", **overrides}
    data: dict[str, Any] = interpolate_tree(compose(), env)
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"check-jsonschema:\n{result.stdout}{result.stderr}"
    errors = sorted(
        jsonschema.Draft7Validator(compose_schema()).iter_errors(interpolated_compose()),
        key=str,
    )
    assert not errors, "after interpolation with env.example:\n" + "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_schema_validation_rejects_what_compose_would_reject() -> None:
    broken = {
        "services": {"web": {"image": "nginx:1.27", "healthcheck": {"tests": []}}},
        "volumez": {},
    }
    errors = [e.message for e in jsonschema.Draft7Validator(compose_schema()).iter_errors(broken)]
    assert any("'tests'" in error for error in errors), errors
    assert any("'volumez'" in error for error in errors), errors


def test_airflow_services_share_one_environment_block() -> None:
    block = {key: str(value) for key, value in compose()["x-airflow-env"].items()}
    found = {name for name in services() if name.startswith("airflow-")}
    assert found == AIRFLOW_SERVICES, f"Airflow services changed: {sorted(found)}"
    raw = COMPOSE.read_text(encoding="utf-8")
    assert raw.count("&airflow-env") == 1
    for name in AIRFLOW_SERVICES:
        env = environment_of(services()[name])
        differing = {key for key, value in block.items() if env.get(key) != value}
        assert not differing, f"{name} does not use x-airflow-env as is: {sorted(differing)}"
        extra = {key for key in env if key.startswith("AIRFLOW__") and key not in block}
        assert not extra, f"{name} sets Airflow options outside the shared block: {extra}"


def test_published_ports_do_not_collide() -> None:
    seen: dict[tuple[str, str], str] = {}
    for name, service in interpolated_compose()["services"].items():
        for port in service.get("ports") or []:
            parts = str(port).split(":")
            assert len(parts) == 3, f"{name}: publish as ADDRESS:HOST:CONTAINER, got {port!r}"
            key = (parts[0], parts[1])
            assert key not in seen, f"{name} and {seen[key]} both publish {parts[0]}:{parts[1]}"
            seen[key] = name
            assert parts[0] == "127.0.0.1", f"{name}: published beyond this host by default"
    assert len(seen) >= 6


def test_networks_and_volumes_are_declared() -> None:
    declared_networks = set(compose().get("networks") or {}) | {"default"}
    declared_volumes = set(compose().get("volumes") or {})
    used_volumes = set()
    for name, service in services().items():
        networks = service.get("networks") or []
        for network in networks if isinstance(networks, list) else list(networks):
            assert network in declared_networks, f"{name} uses undeclared network {network}"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used_volumes.add(source)
    assert used_volumes == declared_volumes, (
        f"volumes used but not declared: {sorted(used_volumes - declared_volumes)}; "
        f"declared but unused: {sorted(declared_volumes - used_volumes)}"
    )


def test_one_shot_services_and_kibana_provisioning() -> None:
    one_shots = {name for name, service in services().items() if service.get("restart") == "no"}
    assert one_shots == {"airflow-init", "kibana-setup"}
    for name, service in services().items():
        assert name in one_shots or "healthcheck" in service, f"{name}: no health check"
    setup = services()["kibana-setup"]
    assert setup["depends_on"] == {"kibana": {"condition": "service_healthy"}}
    assert "./deploy/kibana:/opt/kibana-setup:ro" in setup["volumes"]
    assert setup["entrypoint"][-1] == "/opt/kibana-setup/setup.py"
    assert (ROOT / "deploy" / "kibana" / "setup.py").is_file()
    assert environment_of(setup)["KIBANA_URL"] == "http://kibana:5601"


def test_mlflow_and_the_supervisors_metrics_are_wired() -> None:
    env = environment_of(services()["airflow-worker"])
    mlflow = services()["mlflow"]
    mlflow_port = next(a.split("=")[1] for a in mlflow["command"] if a.startswith("--port="))
    assert env["HARVEST_MLFLOW_TRACKING_URI"] == f"http://mlflow:{mlflow_port}"
    exporter = services()["statsd-exporter"]
    listen = next(a for a in exporter["command"] if a.startswith("--statsd.listen-udp="))
    assert env["HARVEST_STATSD_HOST"] == env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    assert listen.endswith(f":{env['HARVEST_STATSD_PORT']}")
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == env["HARVEST_STATSD_PORT"]
    worker_deps = services()["airflow-worker"]["depends_on"]
    assert {"mlflow", "statsd-exporter"} <= set(worker_deps)
    assert services()["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    assert "statsd-exporter" in services()["prometheus"]["depends_on"]


def test_the_admin_comes_from_env_and_roles_from_fab() -> None:
    init = services()["airflow-init"]
    script = init["command"][-1]
    assert re.search(r"airflow users create --role Admin --username \"\$\$\{AIRFLOW_ADMIN_USER\}\"",
                     COMPOSE.read_text())  # fmt: skip
    assert '--password "$${AIRFLOW_ADMIN_PASSWORD}"' in script
    assert environment_of(init)["AIRFLOW_ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    assert environment_of(init)["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE.read_text()


def test_es_compat_with_matches_the_elasticsearch_server() -> None:
    image = services()["elasticsearch"]["image"]
    major = re.search(r":(\d+)\.", image)
    assert major, image
    env = environment_of(services()["airflow-worker"])
    assert env["AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH"] == major[1]
    kibana = services()["kibana"]["image"]
    assert kibana.rsplit(":", 1)[1] == image.rsplit(":", 1)[1], "Kibana and Elasticsearch differ"


def python_report(
    script: str, args: list[str], env: dict[str, str], timeout: float = 600
) -> dict[str, Any]:
    """Run ``script`` in a fresh Python with ``env``; return the JSON it prints after "REPORT "."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, f"{result.stdout[-3000:]}\n{result.stderr[-4000:]}"
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("REPORT "))
    return report


AIRFLOW_REPORT = r"""
import contextlib, io, json, sys
from pathlib import Path
from airflow.configuration import conf
from airflow.logging_config import configure_logging
import importlib

keys = [
    ("core", "executor"), ("core", "auth_manager"), ("logging", "remote_logging"),
    ("logging", "logging_config_class"), ("logging", "json_logs"), ("elasticsearch", "write_to_es"),
    ("elasticsearch", "json_format"), ("elasticsearch", "target_index"),
    ("elasticsearch", "frontend"), ("elasticsearch", "es_compat_with"),
    ("metrics", "statsd_on"), ("metrics", "statsd_host"), ("sentry", "sentry_on"),
    ("sentry", "sentry_dsn"), ("sentry", "release"),
]
report = {f"{s}.{k}": conf.get(s, k) for s, k in keys}
configure_logging()
module, _, name = conf.get("core", "auth_manager").rpartition(".")
report["auth_manager_class"] = getattr(importlib.import_module(module), name).__name__
import harvest_airflow.task_logs as task_logs
remote = task_logs.REMOTE_TASK_LOG
report["remote"] = {
    "class": type(remote).__name__, "write_to_es": remote.write_to_es,
    "json_format": remote.json_format, "target_index": remote.target_index, "host": remote.host,
}

class TI:
    dag_id, task_id, run_id, map_index, try_number = "harvest_demo", "scrape", "manual__1", -1, 2

log = Path(sys.argv[1])
remote.write_stdout, remote.write_to_es = True, False  # what would be sent, on stdout
# a text stream with a binary buffer, as a process's stdout is ([logging] json_logs: structlog
# writes bytes to sys.stdout.buffer)
out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
with contextlib.redirect_stdout(out):
    remote.upload(log, TI())
out.flush()
report["records"] = [json.loads(line) for line in out.buffer.getvalue().decode().splitlines()]
print("REPORT " + json.dumps(report))
"""


def test_airflow_reads_the_compose_configuration(tmp_path: Path) -> None:
    block = interpolated_compose()["x-airflow-env"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
    env.update({key: str(value) for key, value in block.items()})
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW_CONFIG=str(ROOT / "airflow.cfg"),
        HARVEST_REPO=str(ROOT),
        HARVEST_HOME=str(tmp_path / "harvest"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")]),
    )
    log = tmp_path / "attempt=2.log"
    log.write_text(
        '{"timestamp":"2026-03-02T02:00:01.5Z","level":"info","event":"Crawling source demo"}\n'
        '{"timestamp":"2026-03-02T02:00:09.1Z","level":"error","event":"crawl failed"}\n'
        "a line that is not JSON\n"
    )
    report = python_report(AIRFLOW_REPORT, [str(log)], env)

    assert report["core.executor"] == "CeleryExecutor"
    assert report["core.auth_manager"] == FAB_AUTH_MANAGER
    assert report["auth_manager_class"] == "FabAuthManager"
    assert report["logging.remote_logging"] == "True"
    assert report["logging.logging_config_class"] == "harvest_airflow.task_logs.LOGGING_CONFIG"
    assert report["logging.json_logs"] == "True", "component logs: JSON lines for Logstash"
    assert report["elasticsearch.es_compat_with"] == "9"
    assert report["elasticsearch.frontend"].startswith(
        "http://localhost:5601/app/discover#/view/harvest-task-logs"
    )
    assert report["metrics.statsd_on"] == "True"
    assert report["metrics.statsd_host"] == "statsd-exporter"
    assert report["sentry.sentry_on"] == "True"
    assert report["sentry.sentry_dsn"] == "https://key@sentry.example.com/1"
    assert report["sentry.release"] == f"harvest@{env_example()['HARVEST_IMAGE_TAG']}"
    assert report["remote"] == {
        "class": "HarvestElasticsearchRemoteLogIO",
        "write_to_es": True,
        "json_format": True,
        "target_index": "airflow-logs",
        "host": "http://elasticsearch:9200",
    }

    records = report["records"]
    assert [record["offset"] for record in records] == [1, 2, 3]
    for record in records:
        assert record["log_id"] == "harvest_demo-scrape-manual__1--1-2"
        assert (record["dag_id"], record["task_id"], record["run_id"]) == (
            "harvest_demo",
            "scrape",
            "manual__1",
        )
        assert (record["try_number"], record["map_index"]) == (2, -1)
        assert record["message"]
    assert records[0]["level"] == "info" and records[0]["message"] == "Crawling source demo"
    assert records[0]["@timestamp"] == "2026-03-02T02:00:01.5Z"
    assert records[2]["message"] == "a line that is not JSON"


def test_env_example_documents_the_new_settings() -> None:
    env = env_example()
    for name in ("SENTRY_DSN", "SENTRY_ENVIRONMENT", "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_EMAIL"):
        assert name in env, f"{ENV_EXAMPLE}: {name} missing"
    assert env["SENTRY_DSN"] == "", "Sentry is off by default: no DSN in the example"


@pytest.mark.parametrize("dsn", ["", "https://key@sentry.example.com/1"])
def test_sentry_dsn_interpolates_to_a_valid_setting(dsn: str) -> None:
    block = interpolated_compose(SENTRY_DSN=dsn)["x-airflow-env"]
    assert block["AIRFLOW__SENTRY__SENTRY_DSN"] == dsn
    assert block["AIRFLOW__SENTRY__SENTRY_ON"] == "True"
