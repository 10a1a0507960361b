"""Static checks of the deployment files: Dockerfile, docker-compose.yml and deploy/.

There is no Docker engine where these tests run, so the files are checked for what can be seen
without one: they parse, every image is pinned, every variable is documented, no secret is
written down, what a service mounts exists, metric names agree between the statsd mapping and
the alert rules, and configuration keys are real. Tools that may be missing (the docker compose
CLI, promtool) are used when present and skipped with the reason otherwise.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "env.example"
STATSD_MAPPING = DEPLOY / "statsd" / "statsd-mappings.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = DEPLOY / "prometheus" / "rules"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources"
GRAFANA_DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards"
GRAFANA_DASHBOARDS = DEPLOY / "grafana" / "dashboards"
PROMETHEUS_RULE_TESTS = DEPLOY / "prometheus" / "tests"
POSTGRES_INIT = DEPLOY / "postgres" / "init.sql"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"

# ${VAR}, ${VAR:-default}, ${VAR:?message}; "$${...}" is compose's escape for a literal "$".
VARIABLE = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)
UNBRACED_VARIABLE = re.compile(r"(?<!\$)\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|(^|_)KEY$|API_KEY", re.IGNORECASE)
URL_USERINFO = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")
PLACEHOLDER_PREFIX = "change-me"

# The Apache Airflow Helm chart's chart/files/statsd-mappings.yml, which the mapping must keep.
AIRFLOW_REFERENCE_MATCHES = [
    "airflow.dagrun.dependency-check.*.*",
    "airflow.operator_successes_(.*)",
    "airflow.operator_failures_(.*)",
    "airflow.scheduler_heartbeat",
    "airflow.dag.*.*.duration",
    "airflow.dagrun.duration.success.*",
    "airflow.dagrun.duration.failed.*",
    "airflow.dagrun.schedule_delay.*",
    "airflow.dag_processing.last_runtime.*",
    "airflow.dag_processing.last_run.seconds_ago.*",
    "airflow.pool.open_slots.*",
    "airflow.pool.used_slots.*",
    "airflow.pool.starving_tasks.*",
    "airflow.executor.open_slots.*",
    "airflow.executor.queued_tasks.*",
    "airflow.executor.running_tasks.*",
]

# statsd metric sent -> (Prometheus name, labels) that statsd-exporter must produce.
HARVEST_METRIC_EXAMPLES = {
    "harvest.scrape.pages.demo": ("harvest_scrape_pages", {"source": "demo"}),
    "harvest.scrape.failed_pages.demo": ("harvest_scrape_failed_pages", {"source": "demo"}),
    "harvest.scrape.duration.demo": ("harvest_scrape_duration_seconds", {"source": "demo"}),
    "harvest.validation.failed_records.demo": (
        "harvest_validation_failed_records",
        {"source": "demo"},
    ),
    "airflow.ti.finish.harvest_demo.scrape.failed": (
        "airflow_ti_finish",
        {"dag_id": "harvest_demo", "task_id": "scrape", "state": "failed"},
    ),
    "airflow.dag.harvest_demo.scrape.duration": (
        "airflow_task_duration",
        {"dag_id": "harvest_demo", "task_id": "scrape"},
    ),
}

# Airflow config sections whose provider is not in requirements.lock, so their keys cannot be
# looked up here.
UNCHECKED_AIRFLOW_SECTIONS = {
    "celery": "apache-airflow-providers-celery comes with the base image, not requirements.lock",
    # Airflow hands every [sentry] option to sentry_sdk.init() (release, environment, ...).
    "sentry": "any sentry_sdk.init() option is valid in [sentry] (Airflow's config.yml)",
}


# ---- helpers ------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def env_example() -> dict[str, str]:
    """KEY=VALUE lines of deploy/env.example."""
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{ENV_EXAMPLE}:{number}: expected KEY=VALUE, got {line!r}"
        assert key not in values, f"{ENV_EXAMPLE}:{number}: {key} is set twice"
        values[key.strip()] = value.strip()
    return values


@cache
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        f"{COMPOSE}: expected a mapping with 'services'"
    )
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute ${VAR...} as docker compose does (enough for these files)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        value = env.get(name)
        if op.startswith(":") and not value:
            value = None
        if value is None:
            if op.endswith("-"):
                return arg
            raise AssertionError(f"${{{name}}} is not set and has no default ({arg})")
        return value

    return VARIABLE.sub(substitute, text).replace("$$", "$")


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a YAML tree, with its path (keys included as their own entries)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def literal_secrets(compose_data: dict[str, Any]) -> list[str]:
    """Secrets written into the compose file instead of taken from the environment."""
    found = []
    for name, service in compose_data.get("services", {}).items():
        for key, value in environment_of(service).items():
            is_secret = SECRET_NAME.search(key) and not key.upper().endswith("_FILE")
            if is_secret and not re.fullmatch(r"\$\{\w+:\?[^}]+\}", value.strip()):
                found.append(f"{name}.environment.{key}={value!r}")
    for where, text in walk_strings(compose_data):
        masked = VARIABLE.sub(lambda ref: f"__VAR_{ref['name']}__", text)
        for match in URL_USERINFO.finditer(masked):
            if not re.fullmatch(r"__VAR_\w+__", match["password"]):
                found.append(f"{where}: password in URL {match.group(0)!r}")
    return found


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None when it has none); digests count as tags."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(r"\*", "([^.]*)") + "$")


def map_statsd(metric: str, mappings: list[dict[str, Any]]) -> tuple[str, dict[str, str]] | None:
    """statsd-exporter's first matching mapping: (Prometheus name, labels), or None."""
    for mapping in mappings:
        if mapping.get("match_type") == "regex":
            match = re.match(mapping["match"], metric)
        else:
            match = glob_to_regex(mapping["match"]).match(metric)
        if match:
            groups = match.groups()
            labels = {
                key: _expand(str(value), groups)
                for key, value in (mapping.get("labels") or {}).items()
            }
            return _expand(mapping["name"], groups), labels
    return None


def _expand(template: str, groups: tuple[str | Any, ...]) -> str:
    """Replace statsd-exporter's $1 / ${1} references with the matched groups."""
    return re.sub(r"\$\{?(\d+)\}?", lambda ref: str(groups[int(ref.group(1)) - 1]), template)


def rule_files() -> list[Path]:
    return sorted(PROMETHEUS_RULES.glob("*.yml")) + sorted(PROMETHEUS_RULES.glob("*.yaml"))


def rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path, rule


def named_bind_mounts() -> Iterator[tuple[str, str, str]]:
    """(service, host path, container path) of every ./ bind mount."""
    for name, service in services().items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str) and volume.startswith(("./", "../")):
                host, container = volume.split(":")[:2]
                yield name, host, container


def compose_variables() -> list[re.Match[str]]:
    """Every ${VAR...} reference in the compose file's values (comments excluded)."""
    return [match for _, text in walk_strings(compose()) for match in VARIABLE.finditer(text)]


def docker_compose_available() -> str | None:
    """Why `docker compose` cannot be used here, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    result = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()[:1]
        return f"the docker CLI has no compose plugin ({' '.join(message)})"
    return None


# ---- docker-compose.yml -------------------------------------------------------------------------


def test_compose_has_the_production_stack() -> None:
    expected = {
        "postgres",
        "redis",
        "mongo",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "mlflow",
        "demo-site",
        "statsd-exporter",
        "prometheus",
        "grafana",
        "elasticsearch",
        "kibana",
    }
    missing = expected - set(services())
    assert not missing, f"docker-compose.yml lacks the services {sorted(missing)} (DESIGN.md)"


def test_every_image_is_pinned() -> None:
    env = env_example()
    for name, service in services().items():
        assert "image" in service, f"docker-compose.yml: service {name} has no image"
        image = interpolate(service["image"], env)
        tag = image_tag(image)
        assert tag, f"service {name}: image {image!r} has no tag; pin a version"
        assert tag != "latest" and not tag.startswith("latest-"), (
            f"service {name}: image {image!r} uses 'latest'; pin a version"
        )
        assert re.search(r"\d", tag), f"service {name}: tag {tag!r} of {image!r} has no version"


def test_every_variable_is_documented_in_env_example() -> None:
    used = {match["name"] for match in compose_variables()}
    documented = set(env_example())
    assert used - documented == set(), (
        f"variables used in docker-compose.yml but missing from deploy/env.example: "
        f"{sorted(used - documented)}"
    )
    assert documented - used == set(), (
        f"deploy/env.example documents variables docker-compose.yml does not use: "
        f"{sorted(documented - used)}"
    )
    unbraced = {
        match["name"]
        for _, text in walk_strings(compose())
        for match in UNBRACED_VARIABLE.finditer(text)
    }
    assert not unbraced, f"write ${{VAR}} (or $${{VAR}} for the container's shell): {unbraced}"


def test_no_literal_secrets_in_compose() -> None:
    found = literal_secrets(compose())
    assert not found, "secrets must come from .env as ${VAR:?...}:\n" + "\n".join(found)
    raw = COMPOSE.read_text(encoding="utf-8")
    literal = [
        line
        for key, line in re.findall(
            r"(?im)^\s*-?\s*([\w.-]*(?:password|secret|token)[\w.-]*)\s*[:=]\s*(?!\$\{)(\S.*)$", raw
        )
        if not key.upper().endswith("_FILE")
    ]
    assert not literal, f"literal secret values in docker-compose.yml: {literal}"


def test_literal_secret_detector_catches_literals() -> None:
    fake = {
        "services": {
            "db": {"environment": {"POSTGRES_PASSWORD": "hunter2"}},
            "app": {
                "environment": ["API_SECRET_KEY=abc"],
                "command": ["serve", "--db=postgresql://u:pw@db/x"],
            },
            "ok": {
                "environment": {
                    "PASSWORD": "${PASSWORD:?set PASSWORD}",
                    "PASSWORDS_FILE": "/run/passwords.json",
                },
                "command": ["--db=postgresql://u:${PASSWORD:?set}@db/x"],
            },
        }
    }
    found = literal_secrets(fake)
    assert len(found) == 3, found
    assert all(not item.startswith("ok") and "PASSWORD:?" not in item for item in found), found


def test_required_variables_have_placeholders_in_env_example() -> None:
    required = {match["name"] for match in compose_variables() if match["op"] == ":?"}
    assert required, "no ${VAR:?...} in docker-compose.yml: where do the secrets come from?"
    env = env_example()
    for name in sorted(required):
        assert env[name].startswith(PLACEHOLDER_PREFIX), (
            f"deploy/env.example: {name}={env[name]!r}; use a '{PLACEHOLDER_PREFIX}...' placeholder"
        )
    for name in env:
        if SECRET_NAME.search(name):
            assert name in required, f"{name} looks secret: make it ${{{name}:?...}} in compose"


def test_bind_mounts_exist_and_statsd_exporter_mounts_the_mapping() -> None:
    for service, host, _container in named_bind_mounts():
        assert (ROOT / host).exists(), f"service {service} mounts {host}, which does not exist"
    statsd = [s for s in services().values() if "statsd-exporter" in s["image"]]
    assert len(statsd) == 1, "expected one statsd-exporter service"
    mounts = {
        (ROOT / host).resolve(): container
        for service, host, container in named_bind_mounts()
        if services()[service] is statsd[0]
    }
    assert STATSD_MAPPING.resolve() in mounts, f"statsd-exporter does not mount {STATSD_MAPPING}"
    target = mounts[STATSD_MAPPING.resolve()]
    assert f"--statsd.mapping-config={target}" in statsd[0]["command"], (
        f"statsd-exporter must be started with --statsd.mapping-config={target}"
    )


def test_depends_on_healthchecks_and_volumes_are_consistent() -> None:
    all_services = services()
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: use depends_on with conditions"
        for other, spec in depends.items():
            assert other in all_services, f"{name} depends on unknown service {other}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in all_services[other], (
                    f"{name} waits for {other} to be healthy, but {other} has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert all_services[other].get("restart") == "no", (
                    f"{name} waits for {other} to complete; {other} must have restart: 'no'"
                )
            else:
                pytest.fail(f"{name}.depends_on.{other}: unexpected condition {condition!r}")
        if service.get("restart") != "no":
            assert "healthcheck" in service, f"long-running service {name} has no healthcheck"
    declared = set(compose().get("volumes") or {})
    for name, service in all_services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith(("/", ".", "~")):
                assert source in declared, f"{name} uses volume {source}, not declared in volumes:"


def test_harvest_and_airflow_settings_in_compose_are_real() -> None:
    env = environment_of(services()["airflow-worker"])
    settings_text = (ROOT / "include" / "harvest" / "config" / "settings.py").read_text()
    known_harvest = set(re.findall(r"\"(HARVEST_[A-Z_]+)\"", settings_text))
    for key in env:
        if key.startswith("HARVEST_"):
            assert key in known_harvest or re.fullmatch(
                r"HARVEST_SOURCE_[A-Z0-9_]+_BASE_URL", key
            ), f"docker-compose.yml sets {key}, which harvest.config.Settings does not read"
    assert env["HARVEST_RAW_STORE_URL"].startswith("mongodb://mongo:")
    assert env["HARVEST_WAREHOUSE_URL"].startswith("postgresql://")
    assert env["HARVEST_CACHE_URL"].startswith("redis://redis:")
    assert env["HARVEST_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["HARVEST_STATSD_HOST"] == "statsd-exporter"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert env["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True"

    known = airflow_options()
    for name, service in services().items():
        for key in environment_of(service):
            match = re.fullmatch(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", key)
            if not match:
                continue
            section, option = match[1].lower(), match[2].lower()
            if section in UNCHECKED_AIRFLOW_SECTIONS:
                continue
            assert section in known, f"{name}: {key}: Airflow has no [{section}] section"
            assert option in known[section], f"{name}: {key}: [{section}] has no option {option}"


@cache
def airflow_options() -> dict[str, set[str]]:
    """Options of Airflow core and of the providers installed from the lock, by section."""
    spec = importlib.util.find_spec("airflow")
    assert spec is not None and spec.origin is not None, "apache-airflow is not installed"
    config_yml = Path(spec.origin).parent / "config_templates" / "config.yml"
    options: dict[str, set[str]] = {
        section: set((body or {}).get("options") or {})
        for section, body in load_yaml(config_yml).items()
    }
    for entry_point in importlib.metadata.entry_points(group="apache_airflow_provider"):
        info = entry_point.load()()
        for section, body in (info.get("config") or {}).items():
            options.setdefault(section, set()).update(body.get("options") or {})
    return options


def test_postgres_init_creates_every_database_the_stack_uses() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"@postgres:5432/(\w+)", text))
    created = set(re.findall(r"(?i)CREATE\s+DATABASE\s+(\w+)", POSTGRES_INIT.read_text()))
    default = environment_of(services()["postgres"])["POSTGRES_DB"]
    assert {"harvest", "mlflow"} <= created
    assert used <= created | {default}, f"databases used but never created: {used - created}"


def test_compose_config_validates() -> None:
    reason = docker_compose_available()
    if reason:
        pytest.skip(f"docker compose config not run: {reason} (not a CI-required service)")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"


# ---- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def test_dockerfile_matches_pyproject_and_the_lock() -> None:
    instructions = dockerfile_instructions()
    bases = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(bases) == 1, f"expected one FROM, got {bases}"
    image = bases[0].split()[0]
    assert image_tag(image) not in (None, "latest"), f"unpinned base image {image}"

    python = re.search(r"python:?(\d+\.\d+)", image)
    assert python, f"cannot tell the Python version of the base image {image}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires = pyproject["project"]["requires-python"]
    assert f">={python[1]}" in requires.replace(" ", ""), (
        f"Dockerfile uses Python {python[1]}, pyproject requires {requires}"
    )
    assert pyproject["tool"]["mypy"]["python_version"] == python[1]

    lock = (ROOT / "requirements.lock").read_text()
    locked_airflow = re.search(r"^apache-airflow==(\S+)", lock, re.MULTILINE)
    assert locked_airflow, "requirements.lock does not pin apache-airflow"
    if image.startswith("apache/airflow:"):
        assert image_tag(image) == f"{locked_airflow[1]}-python{python[1]}", (
            f"base image {image} but requirements.lock has apache-airflow {locked_airflow[1]}"
        )

    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    exact = re.search(r"pip install[^&;]*--no-deps[^&;]*-r requirements\.lock", runs) or re.search(
        r"uv pip sync[^&;]*requirements\.lock", runs
    )
    assert exact, "the Dockerfile must install exactly requirements.lock (--no-deps or uv sync)"
    assert re.search(r"pip install[^&;]*--no-deps[^&;]* \.(\s|$)", runs), (
        "the harvest package must be installed with --no-deps on top of the lock"
    )
    assert re.search(r"apt-get install[^&;]*\bchromium\b[^&;]*\bchromium-driver\b", runs)
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"


def test_dockerfile_copies_existing_files_and_sets_the_config_paths() -> None:
    instructions = dockerfile_instructions()
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for keyword, args in instructions:
        if keyword in ("COPY", "ADD"):
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
            copied.extend(parts[:-1])
    for source in ["requirements.lock", "pyproject.toml", "include/", "dags/", "plugins/"]:
        assert source in copied, f"the Dockerfile does not copy {source}"
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        top = source.rstrip("/").split("/")[0]
        assert top not in ignored, f".dockerignore excludes {top}, which the Dockerfile copies"
    assert ".env" in ignored, ".dockerignore must keep .env (secrets) out of the build context"

    env_text = " ".join(args for keyword, args in instructions if keyword == "ENV")
    set_vars = set(re.findall(r"([A-Z_][A-Z0-9_]*)=", env_text)) | {"AIRFLOW_HOME"}  # base image
    assert {"AIRFLOW_CONFIG", "HARVEST_REPO"} <= set_vars
    config = ROOT / "airflow.cfg"
    if config.exists():
        assert "airflow.cfg" in copied
        needed = set(re.findall(r"\$\{(\w+)\}", config.read_text()))
        assert needed <= set_vars, f"airflow.cfg uses {sorted(needed - set_vars)}, not set"


# ---- statsd, Prometheus, Grafana ----------------------------------------------------------------


def statsd_mappings() -> list[dict[str, Any]]:
    return load_yaml(STATSD_MAPPING)["mappings"]


def test_statsd_mapping_keeps_airflow_reference_and_maps_harvest_metrics() -> None:
    assert "Licensed to the Apache Software Foundation" in STATSD_MAPPING.read_text()
    mappings = statsd_mappings()
    matches = [mapping["match"] for mapping in mappings]
    missing = [match for match in AIRFLOW_REFERENCE_MATCHES if match not in matches]
    assert not missing, f"Airflow Helm chart mappings missing: {missing}"
    assert len(matches) == len(set(matches)), "a match pattern appears twice"
    for mapping in mappings:
        assert {"match", "name"} <= set(mapping), f"mapping without match or name: {mapping}"
        if mapping.get("match_type") == "regex":
            re.compile(mapping["match"])
        name = re.sub(r"\$\{?\d+\}?", "x", mapping["name"])
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name), f"bad metric name {name}"
    for metric, expected in HARVEST_METRIC_EXAMPLES.items():
        assert map_statsd(metric, mappings) == expected, f"{metric} maps wrongly"


def stage_metric_examples() -> list[str]:
    """One statsd name (prefix ``harvest``, source ``demo``) of every metric the stages send."""
    from harvest.monitoring import stage_metrics as sm

    names = [f"harvest.{stage}.duration.demo" for stage in sm.STAGES]
    for table in (sm.COUNTERS, sm.GAUGES):
        names += [f"harvest.{stage}.{f}.demo" for stage, fields in table.items() for f in fields]
    for stage, breakdowns in sm.BREAKDOWNS.items():
        names += [f"harvest.{stage}.{field}.key.demo" for field in breakdowns]
    return names


def mapped_metric_names() -> set[str]:
    """Prometheus names the mapping gives: its literal names, and what its templated names make
    of every stage metric that is sent (:func:`stage_metric_examples`)."""
    names = set()
    mappings = statsd_mappings()
    for mapping in mappings:
        name = mapping["name"]
        if "$" in name:
            continue
        names |= {name, f"{name}_sum", f"{name}_count"}  # timers are summaries by default
        if mapping.get("observer_type") == "histogram":
            names.add(f"{name}_bucket")
    for metric in stage_metric_examples():
        mapped = map_statsd(metric, mappings)
        assert mapped is not None, f"the mapping has no rule for {metric}"
        names |= {mapped[0], f"{mapped[0]}_sum", f"{mapped[0]}_count"}
    return names


def test_prometheus_config_and_rules_parse_and_use_mapped_metrics() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    exporter = services()["statsd-exporter"]
    listen = next(arg for arg in exporter["command"] if arg.startswith("--web.listen-address="))
    assert f"statsd-exporter{listen.split('=', 1)[1]}" in targets
    patterns = config.get("rule_files") or []
    found = [p for pattern in patterns for p in PROMETHEUS_CONFIG.parent.glob(pattern)]
    assert set(found) == set(rule_files()) and found, f"rule_files {patterns} miss {rule_files()}"

    recorded = {rule["record"] for _, rule in rules() if "record" in rule}
    mapped = mapped_metric_names()
    alerts = []
    for path, rule in rules():
        assert ("alert" in rule) != ("record" in rule) and "expr" in rule, f"{path}: {rule}"
        if "alert" in rule:
            alerts.append(rule["alert"])
            assert rule.get("annotations", {}).get("summary"), f"{rule['alert']}: no summary"
        expr = str(rule["expr"])
        for metric in re.findall(r"(?<![\w:])((?:airflow|harvest)_[a-z0-9_]+)(?![\w:])", expr):
            assert metric in mapped, f"{path}: {metric} is not produced by {STATSD_MAPPING.name}"
        for record in re.findall(r"(?<![\w])(\w+:[\w:]+)", expr):
            assert record in recorded, f"{path}: recording rule {record} is not defined"
    assert any("fail" in alert.lower() for alert in alerts), "no failure alert"


def test_promtool_accepts_config_and_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'); YAML checked above")
    for args in (["check", "config", str(PROMETHEUS_CONFIG)], ["check", "rules", *rule_files()]):
        result = subprocess.run([promtool, *map(str, args)], capture_output=True, text=True)
        assert result.returncode == 0, (
            f"promtool {' '.join(map(str, args))}:\n{result.stdout}{result.stderr}"
        )


def test_grafana_datasource_points_at_prometheus() -> None:
    files = sorted(GRAFANA_DATASOURCES.glob("*.yml"))
    assert files, f"no datasource in {GRAFANA_DATASOURCES}"
    sources = [source for path in files for source in load_yaml(path)["datasources"]]
    prometheus = [source for source in sources if source["type"] == "prometheus"]
    assert prometheus and prometheus[0]["url"] == "http://prometheus:9090"
    grafana = services()["grafana"]
    assert any(
        container == "/etc/grafana/provisioning"
        for service, _host, container in named_bind_mounts()
        if services()[service] is grafana
    )


def test_promtool_rule_unit_tests_pass_and_cover_every_alert() -> None:
    tests = sorted(PROMETHEUS_RULE_TESTS.glob("*.yml"))
    tested = {
        case["alertname"]
        for path in tests
        for group in load_yaml(path)["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for _, rule in rules() if "alert" in rule}
    # older rules whose text quotes a rate's $value (not exact in a unit test): checked above
    older = {"HarvestScrapeFailureRateHigh", "HarvestScrapeSlow", "AirflowTaskFailures"}
    untested = alerts - tested - older
    assert not untested, f"alerts with no promtool test that fires them: {sorted(untested)}"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus')")
    result = subprocess.run(
        [promtool, "test", "rules", *map(str, tests)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}{result.stderr}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(GRAFANA_DASHBOARDS.glob("*.json"))
    }


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and templating query."""
    for panel in dashboard["panels"]:
        targets = panel.get("targets") or []
        assert targets, f"panel {panel.get('title')!r} has no query"
        for target in targets:
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def test_grafana_dashboards_query_only_metrics_the_mapping_produces() -> None:
    boards = dashboards()
    assert {"harvest-overview.json", "harvest-source.json", "airflow-health.json"} <= set(boards)
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids)), f"dashboard uids repeat: {uids}"
    datasource_uids = {
        source["uid"]
        for path in GRAFANA_DATASOURCES.glob("*.yml")
        for source in load_yaml(path)["datasources"]
    }
    mapped = mapped_metric_names()
    for name, board in boards.items():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in datasource_uids, f"{name}: {panel['title']}"
        for where, expr in dashboard_queries(board):
            unquoted = re.sub(r'"[^"]*"', '""', expr)  # label values are not metric names
            names = re.findall(r"(?<![\w:])((?:airflow|harvest)_[a-z0-9_]+)(?![\w:])", unquoted)
            assert names, f"{name}: {where}: no Harvest or Airflow metric in {expr!r}"
            for metric in names:
                assert metric in mapped, f"{name}: {where}: {metric} is not produced by the mapping"
    source_board = boards["harvest-source.json"]
    variables = [v["name"] for v in source_board["templating"]["list"]]
    assert variables == ["source"], "the per-source dashboard is chosen by $source"


def test_grafana_dashboard_provider_points_at_the_mounted_folder() -> None:
    providers = [
        provider
        for path in GRAFANA_DASHBOARD_PROVIDERS.glob("*.yml")
        for provider in load_yaml(path)["providers"]
    ]
    assert providers, f"no dashboard provider in {GRAFANA_DASHBOARD_PROVIDERS}"
    mounts = {(host, container) for _, host, container in named_bind_mounts()}
    for provider in providers:
        assert ("./deploy/grafana/dashboards", provider["options"]["path"]) in mounts, (
            f"provider {provider['name']} reads {provider['options']['path']}, which "
            "docker-compose.yml does not mount from ./deploy/grafana/dashboards"
        )


# ---- pre-commit ---------------------------------------------------------------------------------


def test_pre_commit_hooks_are_local_and_their_commands_exist() -> None:
    config = load_yaml(PRE_COMMIT)
    hooks = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", f"hooks must be local (no download): {repo['repo']}"
        hooks.extend(repo["hooks"])
    ids = {hook["id"] for hook in hooks}
    assert {"ruff-check", "ruff-format", "mypy", "check-yaml"} <= ids
    for hook in hooks:
        assert hook["language"] == "system", f"{hook['id']}: use language: system"
        command = shlex.split(hook["entry"])[0]
        assert (ROOT / command).exists() or shutil.which(command), (
            f"hook {hook['id']}: {command} not found (run `make venv`)"
        )
    pre_commit = ROOT / ".venv" / "bin" / "pre-commit"
    if pre_commit.exists():
        result = subprocess.run(
            [str(pre_commit), "validate-config", str(PRE_COMMIT)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_python_one_liners_compile() -> None:
    compiled = []
    for hook in load_yaml(PRE_COMMIT)["repos"][0]["hooks"]:
        argv = shlex.split(hook["entry"])
        if "-c" in argv:
            # a SyntaxError here names the hook
            compile(argv[argv.index("-c") + 1], hook["id"], "exec")
            compiled.append(hook["id"])
    assert compiled, "expected the YAML and end-of-file checks as inline python -c hooks"
