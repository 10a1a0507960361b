"""Each component's JSON log lines, from its real logging path, against what the Logstash
pipeline (deploy/logstash/pipeline/harvest.conf) reads from a line.

The pipeline takes ``@timestamp`` from ``timestamp`` (its date filter's ISO8601), lower-cases
``level``, takes ``message`` (Airflow's ``event`` when there is none) and, for the crawl
children's files, ``component`` from the line; dag_id, task_id, run_id, try_number, source and
date pass through as fields. Logstash itself cannot run here: see
tests/unit/test_logstash_pipeline.py for what of the pipeline is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.scraping import run_crawl
from harvest_demo import DemoSite, SiteConfig
from tests.unit.test_logstash_pipeline import LINE_FIELDS, components

REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(REPO / "include/harvest/sources/demo.yaml")
DAY = dt.date(2026, 3, 2)
LEVELS = {"debug", "info", "warning", "error", "critical"}
TASK = {
    "AIRFLOW_CTX_DAG_ID": "harvest_demo",
    "AIRFLOW_CTX_TASK_ID": "scrape",
    "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2026-03-02T00:00:00+00:00",
    "AIRFLOW_CTX_TRY_NUMBER": "2",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (a line that is not JSON fails the test, naming it)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
    return records


def readable_by_the_pipeline(record: dict[str, Any]) -> None:
    assert set(LINE_FIELDS) >= {"timestamp", "level", "message", "event"}
    stamp = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None, f"a timestamp without its zone: {record}"
    assert str(record["level"]).lower() in LEVELS, record
    text = record.get("message", record.get("event"))
    assert isinstance(text, str) and text, f"no message nor event: {record}"
    reserved = {"@timestamp", "@metadata", "tags", "tag", "type"}  # set by Logstash or an input
    assert not reserved & set(record), record


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_crawl_child_appends_json_lines_with_its_source_date_and_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "component-logs"
    for name, value in {**TASK, "HARVEST_LOG_FORMAT": "json", "HARVEST_LOG_DIR": str(logs)}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})
    config = SiteConfig(seed=3, listings_per_day=4, page_size=4, js_fraction=0.0)
    with DemoSite(config, day=DAY) as site:
        result = run_crawl(SPEC, DAY, settings, base_url=site.base_url)
    assert result.item_pages == 4
    path = logs / f"crawl-{socket.gethostname()}.jsonl"
    records = json_lines(path.read_text(encoding="utf-8"))
    assert len(records) >= 5, records
    for record in records:
        readable_by_the_pipeline(record)
        assert record["component"] == "crawl" and "crawl" in components()
        assert (record["source"], record["date"]) == ("demo", "2026-03-02")
        assert (record["dag_id"], record["task_id"]) == ("harvest_demo", "scrape")
        assert record["run_id"] == TASK["AIRFLOW_CTX_DAG_RUN_ID"] and record["try_number"] == 2
        assert record["level"] != "debug", "Scrapy's DEBUG lines stay out of the file"
    loggers = {record["logger"] for record in records}
    assert "scrapy.core.engine" in loggers and "harvest.crawler.crawl" in loggers
    assert any(r["message"] == "source demo, 2026-03-02: crawl finished" for r in records)


def test_without_the_setting_a_crawl_writes_no_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARVEST_LOG_FORMAT", raising=False)
    monkeypatch.setenv("HARVEST_LOG_DIR", str(tmp_path / "component-logs"))
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home")})
    config = SiteConfig(seed=3, listings_per_day=2, page_size=4, js_fraction=0.0)
    with DemoSite(config, day=DAY) as site:
        run_crawl(SPEC, DAY, settings, base_url=site.base_url)
    assert not (tmp_path / "component-logs").exists()


AIRFLOW_COMPONENT = """
import logging, structlog
import airflow  # settings.initialize(): configure_logging(), as every component's CLI does
structlog.get_logger("airflow.jobs.scheduler_job_runner").info(
    "DAG run started", dag_id="harvest_demo", run_id="manual__1"
)
logging.getLogger("airflow.dag_processing.manager").warning("stdlib %s", "warning")
logging.getLogger("harvest.monitoring").error("a Harvest logger in a component")
"""


def test_airflow_components_log_json_lines_with_harvests_logging_config(tmp_path: Path) -> None:
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__LOGGING__JSON_LOGS": "True",
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "harvest_airflow.task_logs.LOGGING_CONFIG",
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
    }
    result = run_python(AIRFLOW_COMPONENT, env)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json_lines(result.stdout)
    for record in records:
        readable_by_the_pipeline(record)
    by_event = {record["event"]: record for record in records}
    started = by_event["DAG run started"]
    assert (started["dag_id"], started["run_id"]) == ("harvest_demo", "manual__1")
    assert started["logger"] == "airflow.jobs.scheduler_job_runner"
    assert by_event["stdlib warning"]["level"] == "warning"
    assert by_event["a Harvest logger in a component"]["level"] == "error"


APP = """
import logging
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(%r, default_timeout=120).run()
assert not at.exception, at.exception
logging.getLogger("harvest.app.views").warning("a page of %%s", "the app")
from streamlit.logger import _loggers
# one of Streamlit's own loggers (propagate=False, its own handler), made when Streamlit started
_loggers["streamlit.runtime.app_session"].error("Streamlit's own logger")
"""


def test_the_app_logs_json_lines_on_stdout(tmp_path: Path) -> None:
    env = {
        "HARVEST_HOME": str(tmp_path),
        "HARVEST_LOG_FORMAT": "json",
        "PYTHONPATH": str(REPO / "include"),
    }
    result = run_python(APP % str(REPO / "include/harvest/app/main.py"), env)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json_lines(result.stdout)
    for record in records:
        readable_by_the_pipeline(record)
        assert record["component"] == "app"
    by_message = {record["message"]: record for record in records}
    assert by_message["a page of the app"]["logger"] == "harvest.app.views"
    assert by_message["Streamlit's own logger"]["level"] == "error"


ES_URL = os.environ.get("HARVEST_TEST_ELASTICSEARCH_URL", "")


def as_the_pipeline_writes(record: dict[str, Any], component: str) -> dict[str, Any]:
    """The document harvest.conf's filter makes of a parsed line (its steps, in Python: no
    Logstash runs here), for the round trip below."""
    doc = {"component": component, **record}
    if "message" not in doc and "event" in doc:
        doc["message"] = doc.pop("event")
    doc["@timestamp"] = doc.pop("timestamp")
    doc["level"] = str(doc["level"]).lower()
    return doc


@pytest.mark.skipif(
    not ES_URL, reason="HARVEST_TEST_ELASTICSEARCH_URL is not set (no Elasticsearch here)"
)
def test_component_documents_share_one_data_view_in_elasticsearch(tmp_path: Path) -> None:
    """Every component's documents index side by side (no mapping conflict between Airflow's
    and Harvest's fields), and the data view's fields find them: component, dag_id, source."""
    import io
    import logging
    import uuid

    import elasticsearch

    from harvest.logjson import HarvestJsonFormatter, airflow_task_fields

    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__LOGGING__JSON_LOGS": "True",
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
    }
    result = run_python(AIRFLOW_COMPONENT, env)
    assert result.returncode == 0, result.stderr[-3000:]
    docs = [as_the_pipeline_writes(r, "scheduler") for r in json_lines(result.stdout)]
    task = airflow_task_fields(TASK)
    for component, fields in (("crawl", {"source": "demo", "date": "2026-03-02", **task}),
                              ("app", {})):  # fmt: skip
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(HarvestJsonFormatter(component, fields))
        record = logging.LogRecord(
            "harvest.x", logging.INFO, __file__, 1, "hello %s", ("es",), None
        )
        handler.emit(record)
        docs += [as_the_pipeline_writes(r, component) for r in json_lines(out.getvalue())]
    prefix = f"harvest-logs-test{uuid.uuid4().hex[:8]}"
    client = elasticsearch.Elasticsearch(ES_URL)
    indices = sorted({f"{prefix}-{doc['component']}-2026.03.02" for doc in docs})
    try:
        for doc in docs:
            client.index(index=f"{prefix}-{doc['component']}-2026.03.02", document=doc)
        client.indices.refresh(index=f"{prefix}-*")
        found = client.search(index=f"{prefix}-*", size=100, query={"match_all": {}})
        assert found["hits"]["total"]["value"] == len(docs)
        by_dag = client.search(
            index=f"{prefix}-*", query={"term": {"dag_id.keyword": "harvest_demo"}}
        )
        assert {h["_source"]["component"] for h in by_dag["hits"]["hits"]} == {"scheduler", "crawl"}
        by_source = client.search(index=f"{prefix}-*", query={"term": {"source.keyword": "demo"}})
        assert [h["_source"]["component"] for h in by_source["hits"]["hits"]] == ["crawl"]
        mapping = client.indices.get_mapping(index=f"{prefix}-crawl-*")
        [properties] = [m["mappings"]["properties"] for m in mapping.body.values()]
        assert properties["@timestamp"]["type"] == "date"
    finally:
        # by name: Elasticsearch refuses wildcard deletes (action.destructive_requires_name)
        client.indices.delete(index=",".join(indices), ignore_unavailable=True)
