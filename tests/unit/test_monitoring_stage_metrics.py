"""Stage metrics and the statsd sending underneath, on a real UDP socket: the lines a report
gives (names, types, what is left out), datagrams packed up to the size limit without splitting
a line, negative gauges, training's figures through the mapping, and a statsd target that cannot
be resolved or is switched off sending nothing and raising nothing."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import socket
from pathlib import Path

import pytest
import statsd

from harvest.config import Settings
from harvest.monitoring import metrics
from harvest.monitoring.stage_metrics import emit_stage, measured_stage, stage_metrics
from harvest.training.run import TrainingReport
from tests.unit.test_deploy_files import map_statsd, statsd_mappings
from tests.unit.test_monitoring_supervisor import udp  # noqa: F401


def datagrams(sock: socket.socket) -> list[bytes]:
    found = []
    try:
        while True:
            found.append(sock.recv(65535))
            sock.settimeout(0.3)
    except TimeoutError:
        pass
    return found


def lines_of(packets: list[bytes]) -> list[str]:
    return [line for packet in packets for line in packet.decode("ascii").split("\n")]


def test_a_report_gives_its_fields_as_lines_and_leaves_out_what_it_lacks() -> None:
    report = {
        "source": "my-shop",
        "written": 10,
        "deleted": 0,
        "loaded": 40,
        "versions_opened": None,  # a listings load: not sent
        "seconds": 1.5,  # not a metric: the stage's timer is measured around it
    }
    lines = stage_metrics("load", report, duration_seconds=2.0)
    assert lines == [
        ("load.written.my_shop", "c", 10.0),
        ("load.deleted.my_shop", "c", 0.0),
        ("load.loaded.my_shop", "g", 40.0),
        ("load.duration.my_shop", "ms", 2000.0),
    ]
    with pytest.raises(ValueError, match="unknown stage 'loading'"):
        stage_metrics("loading", report)
    with pytest.raises(ValueError, match="load report has no source"):
        stage_metrics("load", {"written": 1})


def test_training_figures_map_to_the_model_error_alerts_metric(
    udp: socket.socket,  # noqa: F811
) -> None:
    report = TrainingReport(
        source="demo", run_id="r1", model_kind="lightgbm", model_name="harvest_demo",
        version="3", promoted=True, reason="better than the champion", holdout_rmse=101.5,
        baseline_rmse=180.0, champion_rmse=None, noise_floor=None,
        metrics={"rmse": 101.5, "mae": 70.25, "r2": math.nan},
    )  # fmt: skip
    client = statsd.StatsClient("127.0.0.1", udp.getsockname()[1], prefix="harvest")
    assert emit_stage(client, "train", dataclasses.asdict(report), 12.5) == 6
    sent = lines_of(datagrams(udp))
    assert sent == [
        "harvest.train.holdout_rmse.demo:101.5|g",
        "harvest.train.baseline_rmse.demo:180.0|g",
        "harvest.train.promoted.demo:1.0|g",
        "harvest.train.metrics.rmse.demo:101.5|g",
        "harvest.train.metrics.mae.demo:70.25|g",  # r2 NaN and champion_rmse None: left out
        "harvest.train.duration.demo:12500.000000|ms",
    ]
    mappings = statsd_mappings()
    assert map_statsd("harvest.train.holdout_rmse.demo", mappings) == (
        "harvest_train_holdout_rmse",
        {"source": "demo"},
    )
    assert map_statsd("harvest.train.metrics.mae.demo", mappings) == (
        "harvest_train_metrics",
        {"metric": "mae", "source": "demo"},
    )
    assert map_statsd("harvest.train.duration.demo", mappings) == (
        "harvest_train_duration_seconds",
        {"source": "demo"},
    )


def test_lines_are_packed_into_datagrams_of_at_most_the_limit(
    udp: socket.socket,  # noqa: F811
) -> None:
    client = statsd.StatsClient("127.0.0.1", udp.getsockname()[1], prefix="harvest")
    sent = [(f"partition.loaded.source_{i:04d}", "g", float(i)) for i in range(400)]
    sent.append(("x" * 2000, "c", 1))  # longer than a datagram: sent alone, whole
    sent.append(("freshness.age_seconds.late", "g", -5.0))
    assert metrics.emit(client, sent) == 403
    packets = datagrams(udp)
    assert all(len(p) <= metrics.MAX_PACKET_BYTES for p in packets if b"xxx" not in p)
    for packet, following in itertools.pairwise(packets):  # each as full as it fits
        assert len(packet) + 1 + len(following.split(b"\n")[0]) > metrics.MAX_PACKET_BYTES
    lines = lines_of(packets)
    assert lines[:2] == ["harvest.partition.loaded.source_0000:0.0|g",
                         "harvest.partition.loaded.source_0001:1.0|g"]  # fmt: skip
    assert len(lines) == 403 and f"harvest.{'x' * 2000}:1|c" in lines
    # a negative gauge is set to 0 first: "-5|g" alone would subtract 5
    assert lines[-2:] == ["harvest.freshness.age_seconds.late:0|g",
                          "harvest.freshness.age_seconds.late:-5.0|g"]  # fmt: skip


def test_no_statsd_target_sends_nothing_and_fails_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(metrics, "_CLIENTS", {})
    env = {"HARVEST_HOME": str(tmp_path), "HARVEST_STATSD_HOST": "statsd.invalid"}
    unresolvable = Settings.from_env(env)
    with caplog.at_level(logging.WARNING), measured_stage(unresolvable, "score") as run:
        run.report = {"source": "demo", "rows": 5}
    assert run.sent == 0
    assert "statsd target statsd.invalid:8125 unusable, no metrics sent" in caplog.text
    off = Settings.from_env({**env, "HARVEST_STATSD_ON": "false"})
    assert metrics.client_for(off) is None


def test_a_stage_that_fails_after_its_report_still_sends_it(
    tmp_path: Path,
    udp: socket.socket,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_CLIENTS", {})
    settings = Settings.from_env({
        "HARVEST_HOME": str(tmp_path), "HARVEST_STATSD_HOST": "127.0.0.1",
        "HARVEST_STATSD_PORT": str(udp.getsockname()[1]),
    })  # fmt: skip
    with (
        pytest.raises(RuntimeError, match="fetched no page"),
        measured_stage(settings, "scrape") as run,
    ):
        run.report = {"source": "demo", "pages": 3, "failed_pages": 3}
        raise RuntimeError("crawl of source 'demo' fetched no page (3 failed)")
    lines = lines_of(datagrams(udp))
    assert lines[:2] == ["harvest.scrape.pages.demo:3|c", "harvest.scrape.failed_pages.demo:3|c"]
    assert lines[2].startswith("harvest.scrape.duration.demo:") and lines[2].endswith("|ms")
    with measured_stage(settings, "validate"):
        pass  # no report: nothing sent
    assert datagrams(udp) == []


def test_the_metrics_page_names_every_stage_metric() -> None:
    """docs/metrics-and-alerts.md's stage table is what an operator reads to find a metric: each
    stage's row names every field sent (counters, gauges, breakdowns), and no field that is not."""
    from harvest.monitoring.stage_metrics import BREAKDOWNS, COUNTERS, GAUGES, STAGES

    page = Path(__file__).parents[2] / "docs" / "metrics-and-alerts.md"
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `") and line.split("|")[1].strip().strip("`") in STAGES
    }
    for stage in STAGES:
        sent = {*COUNTERS.get(stage, ()), *GAUGES.get(stage, ()), *BREAKDOWNS.get(stage, {})}
        named = {
            name.split(".")[0]
            for cell in rows[stage].split("|")[2:4]
            for name in cell.split("`")[1::2]
            if not name.startswith("harvest_")
        }
        assert sent <= named, (stage, sorted(sent - named))
        assert named <= sent, (stage, sorted(named - sent))
