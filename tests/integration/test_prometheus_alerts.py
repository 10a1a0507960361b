"""A real Prometheus (Debian's ``prometheus`` binary) evaluates Harvest's alert rules on metrics
that came out of a supervisor run: statsd packets on a real UDP socket, turned into Prometheus
metrics by the mapping's rules (a small exporter in this test that applies
``deploy/statsd/statsd-mappings.yml`` the way statsd-exporter does: prom/statsd-exporter is a Go
binary no registry here provides), scraped every second. The SLA alert fires, then clears."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import statsd

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.monitoring.history import PartitionResult, RunRecord
from harvest.monitoring.supervise import supervise
from tests.unit.test_deploy_files import PROMETHEUS_RULES, map_statsd, statsd_mappings

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="Debian package 'prometheus' missing")


class MappingExporter:
    """statsd (UDP) in, Prometheus text out, through the statsd-exporter mapping: gauges keep
    their last value, counters add up. Unmapped names are refused loudly."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.mappings = statsd_mappings()
        self.errors: list[str] = []
        self._stop = threading.Event()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.threads = [
            threading.Thread(target=self.http.serve_forever, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    @property
    def statsd_port(self) -> int:
        return int(self.udp.getsockname()[1])

    @property
    def http_port(self) -> int:
        return int(self.http.server_address[1])

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                packet = self.udp.recv(65535).decode()
            except TimeoutError:
                continue
            for line in packet.splitlines():
                name, _, rest = line.partition(":")
                value, kind = rest.split("|")[:2]
                mapped = map_statsd(name, self.mappings)
                if mapped is None:
                    self.errors.append(f"unmapped statsd name {name}")
                    continue
                key = (mapped[0], tuple(sorted(mapped[1].items())))
                if kind == "c":
                    self.values[key] = self.values.get(key, 0.0) + float(value)
                elif kind == "g":
                    self.values[key] = float(value)

    def exposition(self) -> str:
        lines = []
        for (name, labels), value in sorted(self.values.items()):
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{text}}} {value}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._stop.set()
        self.threads[1].join(timeout=5)
        self.http.shutdown()
        self.http.server_close()
        self.udp.close()


@pytest.fixture
def exporter() -> Iterator[MappingExporter]:
    running = MappingExporter()
    yield running
    running.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path, exporter: MappingExporter) -> Iterator[str]:
    rules = tmp_path / "rules"
    shutil.copytree(PROMETHEUS_RULES, rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "statsd-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.http_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(url, "/-/ready") is not None, 30, f"Prometheus on {url}", tmp_path)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def get(base: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(base + path, timeout=5) as response:  # noqa: S310 - local
            text = response.read().decode()
    except OSError:
        return None
    return json.loads(text) if text.startswith("{") else text


def wait_for(condition: Any, seconds: float, what: str, logs: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    detail = (logs / "prometheus.log").read_text()[-3000:] if logs else ""
    pytest.fail(f"timed out after {seconds} s waiting for {what}\n{detail}")


def firing(base: str, alert: str) -> list[dict[str, str]]:
    reply = get(base, "/api/v1/alerts") or {"data": {"alerts": []}}
    return [
        a["labels"]
        for a in reply["data"]["alerts"]
        if a["labels"]["alertname"] == alert and a["state"] == "firing"
    ]


def test_prometheus_fires_and_clears_the_sla_alert(
    exporter: MappingExporter, prometheus: str
) -> None:
    demo = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")  # at most 30 minutes a run
    spec = demo.model_copy(update={"sla": demo.sla.model_copy(update={"finish_by": None})})
    client = statsd.StatsClient("127.0.0.1", exporter.statsd_port, prefix="harvest")
    start = end = dt.datetime(2026, 3, 15, 2, 0, tzinfo=dt.UTC)  # the run starts on its tick
    running = RunRecord("r", "running", data_interval_end=end, start_date=start)
    parts = [PartitionResult(dt.date(2026, 3, 14), scraped=100, quarantined=2, loaded=98)]
    late = start + dt.timedelta(minutes=31)
    run = supervise(
        [spec], StaticRuns({spec.dag_id: [running]}), lambda s, d: parts, {}, late, client
    )
    assert [a.check for a in run.alerts] == ["max_duration"]
    wait_for(lambda: firing(prometheus, "HarvestSlaMissed"), 60, "HarvestSlaMissed to fire")
    labels = firing(prometheus, "HarvestSlaMissed")
    assert labels == [
        {"alertname": "HarvestSlaMissed", "check": "max_duration", "source": "demo",
         "severity": "warning", "instance": f"127.0.0.1:{exporter.http_port}",
         "job": "statsd-exporter"}
    ]  # fmt: skip
    assert not firing(prometheus, "HarvestDataStale")

    done = RunRecord("r", "success", data_interval_end=end, start_date=start,
                     end_date=start + dt.timedelta(minutes=20))  # fmt: skip
    supervise(
        [spec], StaticRuns({spec.dag_id: [done]}), lambda s, d: parts, run.state, late, client
    )
    wait_for(lambda: not firing(prometheus, "HarvestSlaMissed"), 60, "HarvestSlaMissed to clear")
    assert exporter.errors == []


class StaticRuns:
    def __init__(self, runs: dict[str, list[RunRecord]]) -> None:
        self.runs = runs

    def dag_runs(self, dag_ids: Any, since: dt.datetime) -> dict[str, list[RunRecord]]:
        return self.runs
