"""deploy/logstash: the pipeline file against Logstash's grammar, and its wiring to compose, the
Helm values, the components' log files and the Kibana data view.

No Logstash installs here (no package in the registries this project reaches), so the file is
parsed with logstash-pipeline-parser, a PEG grammar written after Logstash's own
``grammar.treetop``; what the filter does to a line is not run. The components' lines are
checked against the fields read here in tests/integration/test_component_logs.py.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from logstash_pipeline_parser import Pipeline

from tests.unit.test_deploy_files import ROOT, environment_of, services

PIPELINE = ROOT / "deploy" / "logstash" / "pipeline" / "harvest.conf"
LOGSTASH_YML = ROOT / "deploy" / "logstash" / "config" / "logstash.yml"
KIBANA_OBJECTS = ROOT / "deploy" / "kibana" / "harvest-component-logs.ndjson"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
# what the filter reads from a line (tests/integration/test_component_logs.py checks each
# component's real output against these)
LINE_FIELDS = ("timestamp", "level", "message", "event", "component")


def parse(text: str) -> list[Any]:
    tree: list[Any] = Pipeline(text).parse()
    return tree


def section(tree: list[Any], name: str) -> list[Any]:
    [body] = [body for key, body in tree if key == name]
    return body


def plugin_options(tree: list[Any], section_name: str) -> dict[str, dict[str, Any]]:
    """``{plugin: {option: value}}`` of the plugins directly in a section."""
    return {
        plugin: {option: value[0] for option, value in options}
        for plugin, options in section(tree, section_name)
        if plugin not in ("if", "else if", "else")
    }


def env_default(value: Any) -> str:
    """The default of a ``${VAR:default}`` reference (Logstash's syntax), else the value."""
    match = re.fullmatch(r"\$\{[A-Z_]+:(.*)\}(.*)", str(value))
    return match[1] + match[2] if match else str(value)


def conditions(node: Any) -> list[list[Any]]:
    """Every ``if`` / ``else if`` condition in the tree, depth first."""
    found = []
    if isinstance(node, list):
        if len(node) == 2 and node[0] in ("if", "else if"):
            found.append(node[1][0])
        for child in node:
            found += conditions(child)
    return found


def components() -> set[str]:
    """The components the pipeline gives an index of their own (its ``!~`` alternation)."""
    [pattern] = [c[2] for c in conditions(parse(PIPELINE.read_text())) if c[1:2] == ["!~"]]
    match = re.fullmatch(r"\^\((.*)\)\$", pattern)
    assert match, pattern
    return set(match[1].split("|"))


def test_the_pipeline_parses_with_logstashs_grammar() -> None:
    tree = parse(PIPELINE.read_text())
    assert [name for name, _ in tree] == ["input", "filter", "output"]
    assert set(plugin_options(tree, "input")) == {"gelf", "beats", "file"}
    assert set(plugin_options(tree, "output")) == {"elasticsearch"}
    filters = [name for name, _ in section(tree, "filter")]
    assert "json" in filters and filters.count("if") >= 4


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('mutate { lowercase => ["level"] }', 'mutate { lowercase => ["level"] '),  # a brace
        ("ilm_enabled => false", "ilm_enabled false"),  # no =>
        ("!~ /^(", "~~ /^("),  # no such operator
        ('"harvest-app"', '"harvest-app'),  # an open string
        ("filter {", "filtre {"),  # no such section
    ],
)
def test_the_grammar_check_rejects_a_broken_pipeline(old: str, new: str) -> None:
    text = PIPELINE.read_text()
    assert old in text
    with pytest.raises(Exception, match="Expected"):
        parse(text.replace(old, new, 1))


def test_each_component_gets_its_index_and_kibana_sees_them() -> None:
    tree = parse(PIPELINE.read_text())
    assert components() == {
        "scheduler", "dag-processor", "api-server", "triggerer", "worker", "crawl", "app"
    }  # fmt: skip
    es = plugin_options(tree, "output")["elasticsearch"]
    assert [env_default(host) for host in es["hosts"]] == ["http://elasticsearch:9200"]
    assert es["index"] == "%{[@metadata][index]}-%{+YYYY.MM.dd}"
    [index_field] = [
        options[0][1][0][0]
        for name, options in section(tree, "filter")
        if name == "mutate" and options[0][0] == "add_field"
    ]
    assert index_field == ["[@metadata][index]", ["harvest-logs-%{[component]}"]]
    day = dt.date(2026, 3, 2).strftime("%Y.%m.%d")
    view, search = map(json.loads, KIBANA_OBJECTS.read_text().splitlines())
    for component in components() | {"other"}:
        index = f"harvest-logs-{component}-{day}"
        assert fnmatch.fnmatch(index, view["attributes"]["title"]), index
        assert not fnmatch.fnmatch(index, "airflow-logs*"), "a task-log data view would see it"
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    assert search["references"][0]["id"] == view["id"]
    assert {"component", "level", "source", "dag_id", "run_id", "message"} <= set(
        search["attributes"]["columns"]
    )


def test_compose_sends_every_component_to_the_pipeline() -> None:
    tree = parse(PIPELINE.read_text())
    inputs = plugin_options(tree, "input")
    all_services = services()
    logstash = all_services["logstash"]
    es_image = all_services["elasticsearch"]["image"]
    assert logstash["image"].rsplit(":", 1)[1] == es_image.rsplit(":", 1)[1], "versions differ"
    # stdout: the gelf driver of every Airflow component and the app, tagged with its component
    tags = {}
    for name, service in all_services.items():
        logging = service.get("logging")
        if logging:
            assert logging["driver"] == "gelf", name
            gelf_port = env_default(inputs["gelf"]["port"])
            assert logging["options"]["gelf-address"] == (
                "udp://127.0.0.1:${LOGSTASH_GELF_PORT:-12201}"
            )
            assert f"127.0.0.1:${{LOGSTASH_GELF_PORT:-12201}}:{gelf_port}/udp" in logstash["ports"]
            tags[name] = logging["options"]["tag"]
    assert set(tags.values()) == components() - {"crawl"}, tags
    assert {name for name in tags if name.startswith("airflow-")} == {
        name for name in all_services if name.startswith("airflow-") and name != "airflow-init"
    }
    assert inputs["gelf"]["use_udp"] is True
    # files: the crawl children's, on the volume Logstash mounts read-only
    worker = environment_of(all_services["airflow-worker"])
    assert worker["HARVEST_LOG_FORMAT"] == "json"
    assert worker["AIRFLOW__LOGGING__JSON_LOGS"] == "True"
    assert environment_of(all_services["harvest-app"])["HARVEST_LOG_FORMAT"] == "json"
    log_dir = worker["HARVEST_LOG_DIR"]
    assert environment_of(logstash)["HARVEST_LOG_DIR"] == log_dir
    path = env_default(inputs["file"]["path"])
    assert Path(path).parent == Path(log_dir)
    written = f"crawl-{socket.gethostname()}.jsonl"  # harvest.logjson.log_json_to_file's name
    assert fnmatch.fnmatch(written, Path(path).name)
    home = [v for v in all_services["airflow-worker"]["volumes"] if v.startswith("harvest-home:")]
    assert f"{home[0]}:ro" in logstash["volumes"]
    assert log_dir.startswith(home[0].split(":")[1] + "/")
    assert "./deploy/logstash/pipeline:/usr/share/logstash/pipeline:ro" in logstash["volumes"]
    mount = "./deploy/logstash/config/logstash.yml:/usr/share/logstash/config/logstash.yml:ro"
    assert mount in logstash["volumes"]
    settings = yaml.safe_load(LOGSTASH_YML.read_text())
    assert settings["path.config"] == "/usr/share/logstash/pipeline"
    assert settings["pipeline.ecs_compatibility"] == "disabled"


def test_the_helm_values_turn_json_logs_on_where_compose_does() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert values["config"]["logging"]["json_logs"] == "True"
    env = {item["name"]: item.get("value") for item in values["env"]}
    worker = environment_of(services()["airflow-worker"])
    assert env["HARVEST_LOG_FORMAT"] == "json"
    assert env["HARVEST_LOG_DIR"] == worker["HARVEST_LOG_DIR"]
    [app] = values["apiServer"]["extraContainers"]
    assert {"name": "HARVEST_LOG_FORMAT", "value": "json"} in app["env"]
    # the pipeline names the app by its container and the rest by the chart's label
    text = PIPELINE.read_text()
    assert f'[kubernetes][container][name] == "{app["name"]}"' in text
    assert "[kubernetes][labels][component]" in text


def test_the_filter_reads_the_fields_the_components_write() -> None:
    text = PIPELINE.read_text()
    read = set(re.findall(r"\[([a-z_@]+)\]", text)) | set(
        re.findall(r'"(timestamp|level|event|message)"', text)
    )
    assert set(LINE_FIELDS) <= read
