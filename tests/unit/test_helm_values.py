"""deploy/helm/values.yaml against the official Apache Airflow Helm chart it is written for.

No chart can be installed here (no Kubernetes, no network to the chart repository), so the
chart's own values.yaml is vendored (tests/fixtures/helm/airflow-chart-values.yaml, the sections
Harvest sets, from the commit named in CHART_REF) and every key Harvest sets is looked up in it:
a misspelt or removed key would otherwise be ignored by Helm without a word. The Airflow
options under ``config:`` are looked up in Airflow and the installed providers instead, and the
values are checked against the compose file for the settings both must share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.unit.test_deploy_files import (
    AIRFLOW_REFERENCE_MATCHES,
    STATSD_MAPPING,
    UNCHECKED_AIRFLOW_SECTIONS,
    airflow_options,
    environment_of,
    services,
)

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
CHART_VALUES = ROOT / "tests" / "fixtures" / "helm" / "airflow-chart-values.yaml"
CHART_REF = "apache/airflow chart/values.yaml @ 5f1ee0aea931bd3a221eab567f6ad724c587b43a"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Keys whose value names a secret, never holds one.
SECRET_KEY = re.compile(r"(?i)(password|pass|secret|fernetkey|jwtsecret|apisecretkey|dsn)$")


@cache
def values() -> dict[str, Any]:
    data = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{VALUES}: expected a mapping"
    return data


@cache
def chart() -> dict[str, Any]:
    data = yaml.safe_load(CHART_VALUES.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{CHART_VALUES}: expected a mapping"
    return data


def unknown_keys(ours: Any, theirs: Any, path: str = "") -> Iterator[str]:
    """Dotted paths set in ``ours`` that the chart does not declare in ``theirs``.

    The walk stops where the chart leaves a value free-form: an empty mapping (``resources: {}``,
    ``nodeSelector: {}``), a list or a scalar; ``config`` is Airflow's, checked separately.
    """
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or not theirs:
        return
    for key, value in ours.items():
        where = f"{path}.{key}" if path else str(key)
        if where == "config":
            continue
        if key not in theirs:
            yield where
            continue
        yield from unknown_keys(value, theirs[key], where)


def test_unknown_key_walk_finds_misspelt_and_nested_keys() -> None:
    chart_like = {"workers": {"celery": {"replicas": None}, "resources": {}}, "env": []}
    ours = {
        "workers": {"celery": {"replica": 2}, "resources": {"limits": {"cpu": 1}}},
        "env": [{"name": "X"}],
        "worker": {},
    }
    assert sorted(unknown_keys(ours, chart_like)) == ["worker", "workers.celery.replica"]


def test_every_key_exists_in_the_charts_values() -> None:
    missing = list(unknown_keys(values(), chart()))
    assert not missing, f"{VALUES}: keys the chart ({CHART_REF}) does not have: {missing}"


def test_airflow_options_under_config_exist() -> None:
    known = airflow_options()
    config = values()["config"]
    for section, options in config.items():
        if section in UNCHECKED_AIRFLOW_SECTIONS:
            continue
        assert section in known, f"{VALUES}: config.{section}: Airflow has no [{section}] section"
        for option in options:
            assert option in known[section], (
                f"{VALUES}: config.{section}.{option}: [{section}] has no option {option}"
            )


def test_values_run_harvest_with_celery_fab_elasticsearch_sentry_and_statsd() -> None:
    v = values()
    chart_airflow = chart()["airflowVersion"]
    lock = (ROOT / "requirements.lock").read_text()
    locked = re.search(r"^apache-airflow==(\S+)", lock, re.MULTILINE)
    assert locked and v["airflowVersion"] == locked[1], "airflowVersion must be the locked Airflow"
    assert tuple(map(int, chart_airflow.split("."))) >= (3, 1, 0), f"{CHART_REF} is pre-Airflow 3"
    assert v["images"]["airflow"]["repository"] == v["defaultAirflowRepository"]
    assert v["executor"] == "CeleryExecutor"
    assert "executor: KubernetesExecutor" in VALUES.read_text(), "the KubernetesExecutor variant"
    config = v["config"]
    assert config["core"]["auth_manager"] == FAB_AUTH_MANAGER
    assert config["core"]["dags_folder"] == "/opt/harvest/dags", "DAGs are baked into the image"
    assert not v["dags"]["gitSync"]["enabled"] and not v["dags"]["persistence"]["enabled"]
    assert {"name": "AIRFLOW_CONFIG", "value": "/opt/airflow/airflow.cfg"} in v["env"], (
        "the image's ENV AIRFLOW_CONFIG would hide the chart's airflow.cfg"
    )
    assert v["elasticsearch"]["enabled"] and v["elasticsearch"]["secretName"]
    es = config["elasticsearch"]
    assert es["write_to_es"] == "True" and es["json_format"] == "True"
    assert "{log_id}" in es["frontend"]
    assert config["sentry"]["sentry_on"] == "True"
    secret_env = {item["envName"] for item in v["secret"]}
    assert "AIRFLOW__SENTRY__SENTRY_DSN" in secret_env
    assert v["statsd"]["enabled"]


def test_values_share_the_compose_settings() -> None:
    """Elasticsearch layout, log ids and the server major agree with docker-compose.yml."""
    compose_env = environment_of(services()["airflow-worker"])
    es = values()["config"]["elasticsearch"]
    kibana_path = compose_env["AIRFLOW__ELASTICSEARCH__FRONTEND"].split("/app/", 1)[1]
    assert es["frontend"].split("/app/", 1)[1] == kibana_path, "the Kibana link differs"
    assert (
        values()["config"]["logging"]["logging_config_class"]
        == (compose_env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"])
    )
    for option in ("target_index", "index_patterns", "es_compat_with", "log_id_template"):
        key = f"AIRFLOW__ELASTICSEARCH__{option.upper()}"
        expected = compose_env.get(key)
        if expected is None:
            expected = str(chart()["config"]["elasticsearch"].get(option))
        assert es[option] == expected, f"config.elasticsearch.{option}: {es[option]} != {expected}"


def test_no_secret_is_written_in_the_values() -> None:
    def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield f"{path}.{key}", value
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{path}[{index}]")

    for where, value in walk(values()):
        key = where.rsplit(".", 1)[-1]
        if isinstance(value, (dict, list)):
            continue
        if SECRET_KEY.search(key) and not key.endswith("SecretName"):
            assert value in (None, "", {}), f"{VALUES}: {where} holds a secret; use a Secret"
    assert "password" not in values()["createUserJob"]["defaultUser"], (
        "the chart's default admin password would be used: take it from a Secret"
    )
    for item in values()["secret"]:
        assert set(item) == {"envName", "secretName", "secretKey"}, item


def test_statsd_extra_mappings_are_harvests_part_of_the_compose_mapping() -> None:
    mapping = yaml.safe_load(STATSD_MAPPING.read_text(encoding="utf-8"))["mappings"]
    harvest_part = [m for m in mapping if m["match"] not in AIRFLOW_REFERENCE_MATCHES]
    assert values()["statsd"]["extraMappings"] == harvest_part, (
        f"statsd.extraMappings differs from the Harvest part of {STATSD_MAPPING}: copy it over"
    )


def test_the_app_runs_as_the_compose_service_does_with_the_read_only_role() -> None:
    """The Harvest app's container (apiServer.extraContainers) runs what compose's harvest-app
    runs, reads the warehouse through the read-only role's URL (a Secret key of its own, not
    the workers'), and is published on the api-server's Service and network policy."""
    api = values()["apiServer"]
    (app,) = [c for c in api["extraContainers"] if c["name"] == "harvest-app"]
    compose_app = services()["harvest-app"]
    assert app["args"] == compose_app["command"]
    assert app["command"] == compose_app["entrypoint"]
    assert (
        app["image"]
        == f"{values()['images']['airflow']['repository']}:{values()['images']['airflow']['tag']}"
    )
    env = {e["name"]: e for e in app["env"]}
    warehouse = env["HARVEST_WAREHOUSE_URL"]["valueFrom"]["secretKeyRef"]
    assert warehouse == {"name": "harvest-backends", "key": "app-warehouse-url"}
    workers = {i["envName"]: i["secretKey"] for i in values()["secret"]}
    assert workers["HARVEST_WAREHOUSE_URL"] != warehouse["key"]
    assert "harvest_app" in environment_of(compose_app)["HARVEST_WAREHOUSE_URL"]
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"]["value"] == "false"
    port = app["ports"][0]["containerPort"]
    assert "--server.port=8501" in app["args"] and port == 8501
    assert {"name": "harvest-app", "port": port, "targetPort": port} in api["service"]["ports"]
    chart_ports = chart()["apiServer"]["service"]["ports"]
    assert all(p in api["service"]["ports"] for p in chart_ports), "the api-server port is kept"
    assert {"port": port} in api["networkPolicy"]["ingress"]["ports"]
    (mount,) = app["volumeMounts"]
    assert mount["readOnly"] and mount["name"] in {v["name"] for v in values()["volumes"]}
    assert mount["mountPath"] == env["HARVEST_HOME"]["value"]
    assert app["readinessProbe"]["httpGet"] == {"path": "/_stcore/health", "port": port}
