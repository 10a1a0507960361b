"""The supervisor DAG and its Airflow side: wiring, the notifier (log, a Slack webhook served
locally, a broken SMTP connection), and one supervisor run with the API URL and credentials
from a Connection, alerts sent once and the state kept."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_monitoring_supervisor import closed_port, fake_airflow  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def test_supervisor_dag_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("HARVEST_SUPERVISOR_INTERVAL_MINUTES", "7")
    bag = DagBag(str(REPO / "dags" / "harvest_supervisor.py"))
    assert bag.import_errors == {}
    dag = bag.dags["harvest_supervisor"]
    assert dag.timetable.delta == dt.timedelta(minutes=7), dag.timetable
    assert [task.task_id for task in dag.tasks] == ["supervise"]
    assert dag.max_active_runs == 1 and "supervisor" in dag.tags


class Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def webhook() -> Iterator[str]:
    Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secret"
    server.shutdown()
    server.server_close()


def test_notifier_logs_posts_to_slack_and_survives_a_broken_smtp(
    webhook: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from harvest_airflow.notifiers import HarvestAlertNotifier

    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_SLACK", webhook)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HARVEST_SMTP",
        f"smtp://u:pw@127.0.0.1:{closed_port()}?from=h%40x.org&to=a%40x.org",
    )
    notifier = HarvestAlertNotifier(message="[harvest] SLA MISSED: source demo, freshness")
    notifier.notify({})
    assert notifier.delivered == ["log", "slack"]
    assert Webhook.received == [{"text": "[harvest] SLA MISSED: source demo, freshness"}]
    assert "SLA MISSED: source demo" in caplog.text
    assert "alert not e-mailed" in caplog.text and "pw@" not in caplog.text


def test_run_supervisor_alerts_once_and_keeps_state(
    fake_airflow: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harvest_airflow.supervisor import api_from_connection, run_supervisor

    host = fake_airflow.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_AIRFLOW_API", f"http://admin:pw@{host}")
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_STATSD_ON", "false")
    for name in ("WAREHOUSE", "CACHE", "RAW_STORE"):
        monkeypatch.delenv(f"AIRFLOW_CONN_HARVEST_{name}", raising=False)
    monkeypatch.delenv("HARVEST_WAREHOUSE_URL", raising=False)
    api = api_from_connection()
    assert (api.base_url, api.username, api.password) == (fake_airflow, "admin", "pw")
    api.close()

    store: dict[str, Any] = {}
    state = (lambda: store.get("state", {}), lambda value: store.__setitem__("state", value))
    now = dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC)
    first = run_supervisor({}, now, state_store=state)
    # the warehouse is empty: nothing loaded, so demo is stale; its running run is over 30 min
    assert set(first["missed"]["demo"]) >= {"freshness", "max_duration", "finish_by"}
    # one alert per miss, of every source the specs name (the catalogue source is stale too)
    assert len(first["alerts"]) == sum(map(len, first["missed"].values()))
    assert sum("source demo," in alert for alert in first["alerts"]) == len(first["missed"]["demo"])
    assert not first["errors"]
    assert store["state"]["demo"]["max_duration"].startswith("scheduled__")
    second = run_supervisor({}, now + dt.timedelta(minutes=5), state_store=state)
    assert second["alerts"] == []  # the same misses: no second alert


def test_run_supervisor_fails_loudly_when_the_api_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest_airflow.supervisor import run_supervisor

    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_AIRFLOW_API", f"http://a:b@127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_STATSD_ON", "false")
    monkeypatch.delenv("HARVEST_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", raising=False)
    store: dict[str, Any] = {"state": {"demo": {"freshness": "never"}}}
    state = (lambda: store["state"], lambda value: store.__setitem__("state", value))
    with pytest.raises(RuntimeError, match=r"airflow_api.*unreachable"):
        run_supervisor({}, dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC), state_store=state)
    assert store["state"] == {"demo": {"freshness": "never"}}  # kept, nothing claimed
