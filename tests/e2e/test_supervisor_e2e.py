"""The supervisor against a real Airflow: a harvest_demo run made to exceed its maximum
duration (held at the start: the ``scraping`` pool has no slot) is found missing within one
supervisor interval while it is still running, the metric goes out over UDP, the alert is sent once, and the recovery once
after a run within the limit. Then the harvest_supervisor DAG itself runs inside Airflow (its
Connection, Variable and notifier for real)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import harvest_local as local

if TYPE_CHECKING:
    from conftest import Airflow  # tests/e2e/conftest.py

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LIMIT_MINUTES = 3  # the supervisor's max_duration for demo in this test (whole minutes)
INTERVAL = 10.0  # seconds between supervisor runs here


def statsd_gauges(sock: socket.socket) -> dict[str, float]:
    """The last value of every gauge received so far (statsd lines ``name:value|g``)."""
    gauges: dict[str, float] = {}
    sock.settimeout(0.2)
    try:
        while True:
            for line in sock.recv(65535).decode().splitlines():
                name, _, rest = line.partition(":")
                value, _, kind = rest.partition("|")
                if kind == "g":
                    gauges[name] = float(value)
    except TimeoutError:
        return gauges


def test_max_duration_miss_is_alerted_once_and_recovers_once(
    airflow: Airflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest_airflow.supervisor import run_supervisor

    sources = tmp_path / "sources"
    sources.mkdir()
    spec = yaml.safe_load((local.REPO / "include/harvest/sources/demo.yaml").read_text())
    spec["sla"] = {"finish_by": None, "max_duration_minutes": LIMIT_MINUTES}
    (sources / "demo.yaml").write_text(yaml.safe_dump(spec))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    host = airflow.base_url.removeprefix("http://")
    monkeypatch.setenv(
        "AIRFLOW_CONN_HARVEST_AIRFLOW_API", f"http://admin:{airflow.password}@{host}"
    )
    monkeypatch.setenv("HARVEST_HOME", str(airflow.harvest_home))
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    monkeypatch.setenv("HARVEST_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("HARVEST_STATSD_PORT", str(udp.getsockname()[1]))
    for name in ("HARVEST_WAREHOUSE_URL", "HARVEST_CACHE_URL", "AIRFLOW_CONN_HARVEST_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    store: dict[str, Any] = {"state": {}}
    state = (lambda: store["state"], lambda value: store.__setitem__("state", value))
    alerts: list[str] = []

    def supervise() -> dict[str, Any]:
        summary = run_supervisor({}, state_store=state)
        alerts.extend(a for a in summary["alerts"] if "max_duration" in a)
        return summary

    # hold the run: its scrape task waits for a slot of the pool, the run is running meanwhile
    pool = airflow.request("GET", "/api/v2/pools/scraping")

    def set_slots(slots: int) -> None:
        body = {"pool": "scraping", "slots": slots, "include_deferred": pool["include_deferred"]}
        airflow.request("PATCH", "/api/v2/pools/scraping?update_mask=slots", body)

    set_slots(0)
    slow = airflow.request(
        "POST", "/api/v2/dags/harvest_demo/dagRuns",
        {"dag_run_id": "e2e_supervisor_slow", "logical_date": "2026-03-20T00:00:00Z"},
    )  # fmt: skip
    started = None
    detected = None
    deadline = time.monotonic() + LIMIT_MINUTES * 60 + 300
    try:
        while time.monotonic() < deadline:
            summary = supervise()
            run = next(r for r in airflow.dag_runs() if r["dag_run_id"] == slow["dag_run_id"])
            assert run["state"] in ("queued", "running"), f"held run ended: {run}"
            if run["start_date"] and started is None:
                started = dt.datetime.fromisoformat(run["start_date"])
            if "max_duration" in summary["missed"].get("demo", []):
                detected = dt.datetime.now(dt.UTC)
                break
            time.sleep(INTERVAL)
    finally:
        set_slots(pool["slots"])
    assert started is not None and detected is not None, f"no miss detected; alerts {alerts}"
    over = started + dt.timedelta(minutes=LIMIT_MINUTES)
    # found within one supervisor interval (plus one supervisor run's own time) of going over
    assert dt.timedelta(0) <= detected - over <= dt.timedelta(seconds=INTERVAL + 20)
    assert len(alerts) == 1 and "source demo, max_duration" in alerts[0]
    assert "still running" not in alerts[0] and "has been running" in alerts[0]
    gauges = statsd_gauges(udp)
    assert gauges["harvest.sla.max_duration.demo"] == 1.0, gauges
    assert gauges["harvest.supervisor.up"] == 1.0
    assert gauges["harvest.runs.last_duration_seconds.demo"] > LIMIT_MINUTES * 60

    supervise()
    assert len(alerts) == 1, "the same miss was alerted twice"
    airflow.wait_for_runs({slow["dag_run_id"]})
    supervise()
    assert len(alerts) == 1  # finished, still over: the same miss

    quick = airflow.request(
        "POST", "/api/v2/dags/harvest_demo/dagRuns",
        {"dag_run_id": "e2e_supervisor_quick", "logical_date": "2026-03-21T00:00:00Z"},
    )  # fmt: skip
    runs = airflow.wait_for_runs({quick["dag_run_id"]})
    took = dt.datetime.fromisoformat(
        runs[quick["dag_run_id"]]["end_date"]
    ) - dt.datetime.fromisoformat(runs[quick["dag_run_id"]]["start_date"])
    assert took < dt.timedelta(minutes=LIMIT_MINUTES), f"the quick run took {took}"
    statsd_gauges(udp)
    supervise()
    assert len(alerts) == 2 and alerts[1].startswith(
        "[harvest] RECOVERED: source demo, max_duration"
    )
    assert statsd_gauges(udp)["harvest.sla.max_duration.demo"] == 0.0
    supervise()
    assert len(alerts) == 2, "the recovery was sent twice"
    udp.close()


def test_the_supervisor_dag_runs_inside_airflow(airflow: Airflow) -> None:
    host, _, port = airflow.base_url.removeprefix("http://").partition(":")
    airflow.request("POST", "/api/v2/connections", {
        "connection_id": "harvest_airflow_api", "conn_type": "http", "host": host,
        "port": int(port), "login": "admin", "password": airflow.password,
    })  # fmt: skip
    run = airflow.request(
        "POST", "/api/v2/dags/harvest_supervisor/dagRuns",
        {"dag_run_id": "e2e_supervisor_dag", "logical_date": None},
    )  # fmt: skip
    airflow.request("PATCH", "/api/v2/dags/harvest_supervisor", {"is_paused": False})
    airflow.wait_for_runs({run["dag_run_id"]}, dag_id="harvest_supervisor", timeout=300)
    summary = airflow.request(
        "GET",
        f"/api/v2/dags/harvest_supervisor/dagRuns/{run['dag_run_id']}/taskInstances/supervise/"
        "xcomEntries/return_value",
    )["value"]
    from harvest.config.settings import PACKAGE_DIR
    from harvest.config.spec import load_specs

    # every bundled source (demo, catalogue) is supervised, and none had an error
    assert summary["sources"] == len(load_specs(PACKAGE_DIR / "sources").specs)
    assert summary["errors"] == {}
    variable = airflow.request("GET", "/api/v2/variables/harvest_supervisor_state")
    assert variable["key"] == "harvest_supervisor_state"
