"""The supervisor's I/O: the REST API v2 client against a local HTTP server speaking the API's
JSON, partition results read from a real (SQLite) warehouse, statsd packets received on a real
UDP socket and mapped by the statsd-exporter mapping, and a run with the API down."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import statsd

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SlaSpec, SourceSpec, load_spec
from harvest.monitoring.airflow_api import AirflowApi, AirflowApiError
from harvest.monitoring.history import PartitionResult, RunRecord
from harvest.monitoring.results import read_partition_results
from harvest.monitoring.supervise import supervise
from harvest.storage.warehouse import open_warehouse
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import processed_table
from tests.unit.test_deploy_files import map_statsd, statsd_mappings

NOW = dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    demo = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    sla = SlaSpec(finish_by=dt.time(6), max_duration_minutes=30, min_field_coverage=0.5)
    return demo.model_copy(update={"sla": sla, "schedule": "0 2 * * *"})


def api_run(dag_id: str, day: int, state: str = "success") -> dict[str, Any]:
    """One item of ``dag_runs`` as Airflow 3.3's API returns it (fields it uses, plus a few)."""
    start = dt.datetime(2026, 3, day, 2, 0, 5, tzinfo=dt.UTC)
    return {
        "dag_run_id": f"scheduled__2026-03-{day - 1:02d}T02:00:00+00:00",
        "dag_id": dag_id,
        "logical_date": f"2026-03-{day - 1:02d}T02:00:00Z",
        "data_interval_start": f"2026-03-{day - 1:02d}T02:00:00Z",
        "data_interval_end": f"2026-03-{day:02d}T02:00:00Z",
        "run_after": f"2026-03-{day:02d}T02:00:00Z",
        "queued_at": start.isoformat(),
        "start_date": start.isoformat(),
        "end_date": None if state == "running" else (start + dt.timedelta(minutes=10)).isoformat(),
        "run_type": "scheduled",
        "state": state,
        "conf": {},
    }


class FakeAirflow(BaseHTTPRequestHandler):
    """/auth/token and /api/v2/dags/~/dagRuns/list, with pages and expiring tokens."""

    runs: list[dict[str, Any]] = []
    tokens_issued = 0
    fail_with: int | None = None
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if self.path == "/auth/token":
            if body != {"username": "admin", "password": "pw"}:
                return self._reply(401, {"detail": "Invalid credentials"})
            cls.tokens_issued += 1
            return self._reply(201, {"access_token": f"token-{cls.tokens_issued}"})
        if cls.fail_with:
            return self._reply(cls.fail_with, {"detail": "boom"})
        # the first token "expires" after its first use
        if self.headers.get("Authorization") == "Bearer token-1" and cls.requests:
            return self._reply(401, {"detail": "Token expired"})
        cls.requests.append(body)
        wanted = [r for r in cls.runs if r["dag_id"] in body["dag_ids"]]
        page = wanted[body["page_offset"] : body["page_offset"] + 2]  # tiny pages: paging tested
        return self._reply(200, {"dag_runs": page, "total_entries": len(wanted)})


@pytest.fixture
def fake_airflow() -> Iterator[str]:
    FakeAirflow.runs = [api_run("harvest_demo", d) for d in (12, 13, 14)] + [
        api_run("harvest_demo", 15, "running"),
        api_run("harvest_other", 15, "failed"),
    ]
    FakeAirflow.tokens_issued, FakeAirflow.fail_with, FakeAirflow.requests = 0, None, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_dag_runs_pages_and_renews_an_expired_token(fake_airflow: str) -> None:
    since = dt.datetime(2026, 2, 13, tzinfo=dt.UTC)
    with AirflowApi(fake_airflow, "admin", "pw") as api:
        runs = api.dag_runs(["harvest_demo", "harvest_none"], since)
    assert set(runs) == {"harvest_demo", "harvest_none"} and runs["harvest_none"] == []
    assert [r.state for r in runs["harvest_demo"]] == ["success"] * 3 + ["running"]
    running = runs["harvest_demo"][-1]
    assert running.data_interval_end == dt.datetime(2026, 3, 15, 2, tzinfo=dt.UTC)
    assert running.end_date is None and running.start_date is not None
    assert FakeAirflow.tokens_issued == 2  # renewed once after the 401
    assert [r["page_offset"] for r in FakeAirflow.requests] == [0, 2]
    assert FakeAirflow.requests[0]["run_after_gte"] == since.isoformat()


def test_api_errors_name_the_url_and_never_leak_the_password(fake_airflow: str) -> None:
    since = dt.datetime(2026, 2, 13, tzinfo=dt.UTC)
    FakeAirflow.fail_with = 500
    with AirflowApi(fake_airflow, "admin", "pw") as api, pytest.raises(AirflowApiError) as err:
        api.dag_runs(["harvest_demo"], since)
    assert f"POST {fake_airflow}/api/v2/dags/~/dagRuns/list: HTTP 500" in str(err.value)
    with AirflowApi(fake_airflow, "admin", "wrong") as api, pytest.raises(AirflowApiError) as bad:
        api.dag_runs(["harvest_demo"], since)
    assert "/auth/token: HTTP 401" in str(bad.value) and "wrong" not in str(bad.value)
    down = AirflowApi(f"http://127.0.0.1:{closed_port()}", "admin", "pw", timeout=2)
    with down, pytest.raises(AirflowApiError, match="unreachable: ConnectError"):
        down.dag_runs(["harvest_demo"], since)


# ---- the warehouse side ---------------------------------------------------------------------


def test_partition_results_from_the_warehouse(tmp_path: Path, spec: SourceSpec) -> None:
    with open_warehouse(f"sqlite:///{tmp_path / 'wh.db'}") as wh:
        wh.migrate([spec])
        for day, scraped in ((13, 100), (14, 50)):
            wh.record_partition(
                PartitionSummary("demo", dt.date(2026, 3, day), scraped, 45, 5, 0, 0, 45, True)
            )
        wh.replace_validation_results(
            "demo",
            dt.date(2026, 3, 14),
            pd.DataFrame(
                {
                    "source": "demo",
                    "logical_date": dt.date(2026, 3, 14),
                    "expectation": ["a", "b", "c", "d"],
                    "success": [True, True, True, False],
                }
            ),
        )
        table = processed_table(spec, sa.MetaData())
        rows = [
            {"source": "demo", "record_key": str(i), "logical_date": dt.date(2026, 3, 14),
             "url": f"u{i}", "price": 100.0 if i < 3 else None, "loaded_at": NOW}
            for i in range(4)
        ]  # fmt: skip
        with wh.engine.begin() as conn:
            conn.execute(table.insert(), rows)
        results = read_partition_results(wh, spec, dt.date(2026, 3, 13))
        assert read_partition_results(wh, spec, dt.date(2026, 3, 15)) == []
    assert [r.logical_date.day for r in results] == [13, 14]
    newest = results[-1]
    assert (newest.scraped, newest.quarantined, newest.loaded) == (50, 5, 45)
    assert newest.quarantine_rate == 0.1 and newest.validation_pass_rate == 0.75
    assert newest.field_coverage["price"] == 0.75
    assert newest.field_coverage["listing_id"] == 0.0  # not inserted above
    assert results[0].field_coverage == {} and results[0].validation_pass_rate is None


# ---- metrics on the wire --------------------------------------------------------------------


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def received(sock: socket.socket) -> dict[str, tuple[float, str]]:
    """Every statsd line that arrived: name -> (value, type)."""
    lines: list[str] = []
    try:
        while True:
            lines += sock.recv(65535).decode().splitlines()
            sock.settimeout(0.3)
    except TimeoutError:
        pass
    metrics = {}
    for line in lines:
        name, _, rest = line.partition(":")
        value, kind = rest.split("|")[:2]
        metrics[name] = (float(value), kind)
    return metrics


def test_supervise_sends_statsd_packets_that_the_mapping_labels(
    fake_airflow: str, udp: socket.socket, spec: SourceSpec
) -> None:
    newest = PartitionResult(
        dt.date(2026, 3, 14), scraped=100, quarantined=20, loaded=0,
        validation_pass_rate=0.75, field_coverage={"price": 0.4, "area": 0.9},
        warnings=("looks_like_catalogue",),
    )  # fmt: skip
    other = spec.model_copy(update={"name": "other"})
    client = statsd.StatsClient("127.0.0.1", udp.getsockname()[1], prefix="harvest")
    with AirflowApi(fake_airflow, "admin", "pw") as api:
        run = supervise([spec, other], api, lambda s, _since: [newest], {}, NOW, client)
    assert run.ok, run.errors
    metrics = received(udp)
    expected = {
        "harvest.sla.finish_by.demo": (1.0, "g"),  # still running at 06:30, due by 06:00
        "harvest.sla.max_duration.demo": (1.0, "g"),  # running since 02:00:05
        "harvest.sla.quarantine_rate.demo": (1.0, "g"),
        "harvest.sla.field_coverage.demo": (1.0, "g"),
        "harvest.sla.data_warnings.demo": (1.0, "g"),
        "harvest.freshness.age_seconds.demo": (4.5 * 3600, "g"),
        "harvest.runs.consecutive_failures.other": (1.0, "g"),
        "harvest.partition.quarantine_rate.demo": (0.2, "g"),
        "harvest.partition.data_warnings.demo": (2.0, "g"),  # zero_rows_loaded, looks_like..
        # each named warning, 1 or 0 (issue 18): the alerts on them clear when they are gone
        "harvest.partition.warning.zero_rows.demo": (1.0, "g"),  # 0 rows loaded
        "harvest.partition.warning.looks_like_catalogue.demo": (1.0, "g"),
        "harvest.partition.warning.unobserved_items.demo": (0.0, "g"),
        "harvest.coverage.price.demo": (0.4, "g"),
        "harvest.supervisor.up": (1.0, "g"),
    }
    for name, value in expected.items():
        assert name in metrics, f"{name} was not sent; got {sorted(metrics)}"
        assert metrics[name][1] == value[1] and metrics[name][0] == pytest.approx(value[0])
    assert metrics["harvest.supervisor.duration"][1] == "ms"
    assert {a.check for a in run.alerts if a.source == "demo"} >= {"finish_by", "max_duration"}

    mappings = statsd_mappings()
    labelled = {
        "harvest.sla.finish_by.demo": ("harvest_sla_missed", {"check": "finish_by", "source": "demo"}),
        "harvest.coverage.price.demo": ("harvest_field_coverage", {"field": "price", "source": "demo"}),
        "harvest.freshness.age_seconds.demo": ("harvest_freshness_age_seconds", {"source": "demo"}),
        "harvest.partition.quarantine_rate.demo": ("harvest_partition_quarantine_rate", {"source": "demo"}),
        "harvest.runs.consecutive_failures.other": ("harvest_runs_consecutive_failures", {"source": "other"}),
        "harvest.supervisor.up": ("harvest_supervisor_up", {}),
        "harvest.partition.warning.looks_like_catalogue.demo": (
            "harvest_partition_warning", {"warning": "looks_like_catalogue", "source": "demo"}
        ),
        "harvest.supervisor.duration": ("harvest_supervisor_duration_seconds", {}),
    }  # fmt: skip
    for name, (prometheus, labels) in labelled.items():
        assert map_statsd(name, mappings) == (prometheus, labels), name
    for name in metrics:
        mapped = map_statsd(name, mappings)
        assert mapped is not None and mapped[0].startswith("harvest_"), f"{name} is not mapped"


def test_api_down_is_reported_as_a_metric_not_raised(
    udp: socket.socket, spec: SourceSpec, caplog: pytest.LogCaptureFixture
) -> None:
    closed = closed_port()
    client = statsd.StatsClient("127.0.0.1", udp.getsockname()[1], prefix="harvest")
    state = {"demo": {"freshness": "2026-03-10"}}
    with AirflowApi(f"http://127.0.0.1:{closed}", "admin", "pw", timeout=2) as api:
        run = supervise([spec], api, lambda s, _since: [], state, NOW, client)
    assert not run.ok and "unreachable" in run.errors["airflow_api"]
    assert run.statuses == [] and run.alerts == [] and run.state == state
    assert "cannot read run history" in caplog.text
    metrics = received(udp)
    assert metrics["harvest.supervisor.up"] == (0.0, "g")
    assert metrics["harvest.supervisor.errors.airflow_api"] == (1.0, "c")
    assert map_statsd("harvest.supervisor.errors.airflow_api", statsd_mappings()) == (
        "harvest_supervisor_errors_total",
        {"component": "airflow_api"},
    )


def test_a_warehouse_error_skips_that_source_only(fake_airflow: str, spec: SourceSpec) -> None:
    down = open_warehouse(f"postgresql://harvest:secret@127.0.0.1:{closed_port()}/harvest")

    def partitions(s: SourceSpec, since: dt.date) -> list[PartitionResult]:
        return read_partition_results(down, s, since) if s.name == "demo" else []

    other = spec.model_copy(update={"name": "other"})
    with down, AirflowApi(fake_airflow, "admin", "pw") as api:
        run = supervise([spec, other], api, partitions, {}, NOW)
    assert [s.source for s in run.statuses] == ["other"]
    error = run.errors["warehouse"]
    assert "source demo: cannot read partition results" in error
    assert "cannot connect to the warehouse at 127.0.0.1" in error and "secret" not in error
    assert isinstance(run.statuses[0].last_run, RunRecord)
