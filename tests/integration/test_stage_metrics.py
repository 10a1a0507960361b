"""Harvest's stage metrics on the wire: real stage runs (:func:`harvest.pipeline.run_partition`
against the demo site, listings and catalogue, and the source DAG's operators under Airflow's
``dag.test()``) send statsd packets to a real UDP socket of the
test; each figure is checked against the stage's own report (names, types, values), and the
statsd-exporter mapping (its rules applied as statsd-exporter does: ``map_statsd``) must turn each
name into the intended Prometheus name and labels. An unresolvable statsd host fails no stage."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from harvest.config import Settings, load_spec
from harvest.monitoring import metrics as metrics_module
from harvest.monitoring.metrics import part
from harvest.monitoring.stage_metrics import COUNTERS
from harvest.pipeline import run_partition
from harvest_demo import CatalogueConfig, DemoSite, SiteConfig
from tests.integration.test_airflow_dag_test import DAY as DAG_DAY
from tests.integration.test_airflow_dag_test import demo_site, harvest_home, run_dag  # noqa: F401
from tests.unit.test_deploy_files import map_statsd, statsd_mappings
from tests.unit.test_monitoring_supervisor import udp  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 14)
STAGES = ("scrape", "validate", "clean", "load")


def settings_for(home: Path, port: int | None, host: str = "127.0.0.1") -> Settings:
    env = {"HARVEST_HOME": str(home), "HARVEST_STATSD_HOST": host}
    env["HARVEST_STATSD_PORT"] = str(port or 8125)
    return Settings.from_env(env)


def received(sock: socket.socket) -> list[tuple[str, float, str]]:
    """Every statsd line that arrived, in order: (name, value, type)."""
    lines: list[str] = []
    try:
        while True:
            lines += sock.recv(65535).decode("ascii").splitlines()
            sock.settimeout(0.5)
    except TimeoutError:
        pass
    out = []
    for line in lines:
        name, _, rest = line.partition(":")
        value, kind = rest.split("|")[:2]
        out.append((name, float(value), kind))
    return out


def by_name(lines: list[tuple[str, float, str]]) -> dict[str, tuple[float, str]]:
    found: dict[str, tuple[float, str]] = {}
    for name, value, kind in lines:
        assert name not in found, f"{name} sent twice in one run"
        found[name] = (value, kind)
    return found


def _night(day: dt.date) -> dt.datetime:
    """The night after ``day``: a run then crawls the site showing ``day`` (a past date of an
    undated source is otherwise refused, harvest.scraping.past)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3), dt.UTC)


def check_against_reports(
    sent: dict[str, tuple[float, str]], reports: dict[str, dict[str, Any]], source: str
) -> None:
    """Every counter field of every stage report arrived as ``harvest.<stage>.<field>.<source>``
    with the report's value, and each stage's duration as a timer."""
    for stage in STAGES:
        report = reports[stage]
        for field in COUNTERS[stage]:
            if report.get(field) is None:
                assert f"harvest.{stage}.{field}.{source}" not in sent
                continue
            name = f"harvest.{stage}.{field}.{source}"
            assert sent.get(name) == (float(report[field]), "c"), (name, sent.get(name))
        value, kind = sent[f"harvest.{stage}.duration.{source}"]
        assert kind == "ms" and value > 0
    validate = reports["validate"]
    assert sent[f"harvest.validate.quarantine_rate.{source}"] == pytest.approx(
        (validate["quarantine_rate"], "g")
    )
    for reason, count in validate["quarantined_by_reason"].items():
        key = part(reason)
        assert sent[f"harvest.validate.quarantined_by_reason.{key}.{source}"] == (count, "c")
    sent_reasons = [n for n in sent if n.startswith("harvest.validate.quarantined_by_reason.")]
    assert len(sent_reasons) == len(validate["quarantined_by_reason"])
    assert validate["field_coverage"], "validation reports each field's coverage"
    for field, share in validate["field_coverage"].items():
        assert sent[f"harvest.validate.field_coverage.{field}.{source}"] == (share, "g")
    for field, count in reports["clean"]["imputed"].items():
        assert sent[f"harvest.clean.imputed.{field}.{source}"] == (count, "c")
    assert sent[f"harvest.load.loaded.{source}"] == (reports["load"]["loaded"], "g")


def check_mapping(sent: dict[str, tuple[float, str]], source: str) -> None:
    """Each sent name becomes ``harvest_<stage>_<field>`` with the source (and the breakdown's
    key) as labels; timers become ``..._duration_seconds``."""
    mappings = statsd_mappings()
    for name in sent:
        parts = name.split(".")
        mapped = map_statsd(name, mappings)
        if parts[2] == "duration":
            expected = (f"harvest_{parts[1]}_duration_seconds", {"source": source})
        elif len(parts) == 5:
            label = {"quarantined_by_reason": "reason", "field_coverage": "field"}.get(
                parts[2], "field"
            )
            expected = (f"harvest_{parts[1]}_{parts[2]}", {label: parts[3], "source": source})
        else:
            expected = (f"harvest_{parts[1]}_{parts[2]}", {"source": source})
        if parts[1:3] == ["scrape", "duration"]:
            expected = ("harvest_scrape_duration_seconds", {"source": source})
        assert mapped == expected, f"{name} maps to {mapped}, expected {expected}"


def test_a_listings_partition_sends_every_stage_figure_of_its_reports(
    tmp_path: Path,
    udp: socket.socket,  # noqa: F811
) -> None:
    spec = load_spec(REPO / "include/harvest/sources/demo.yaml")
    spec = spec.model_copy(update={"start_urls": [f"{{base_url}}/listings/{DAY.isoformat()}"]})
    settings = settings_for(tmp_path, udp.getsockname()[1])
    # outliers and missing values: records quarantined (area:range) and values imputed
    site_config = SiteConfig(
        seed=11, listings_per_day=16, page_size=8, outlier_fraction=0.15, missing_fraction=0.1
    )
    with DemoSite(site_config) as site:
        reports = run_partition(spec, DAY, settings, base_url=site.base_url, now=_night(DAY))
    assert reports["validate"]["quarantined_by_reason"] and reports["clean"]["imputed"]
    sent = by_name(received(udp))
    assert {name.split(".")[1] for name in sent} == set(STAGES)
    check_against_reports(sent, reports, "demo")
    scrape = reports["scrape"]
    assert scrape["pages"] > 0 and sent["harvest.scrape.pages.demo"] == (scrape["pages"], "c")
    check_mapping(sent, "demo")
    assert map_statsd("harvest.validate.quarantined_by_reason.price_not_null.demo", statsd_mappings()) == (
        "harvest_validate_quarantined_by_reason",
        {"reason": "price_not_null", "source": "demo"},
    )  # fmt: skip


def test_a_catalogue_partition_sends_the_versions_it_opened_and_closed(
    tmp_path: Path,
    udp: socket.socket,  # noqa: F811
) -> None:
    spec = load_spec(REPO / "include/harvest/sources/catalogue.yaml")
    catalogue = CatalogueConfig(
        seed=1, products=40, lifetime_days=(6, 16), gap_days=(1, 3), price_days=(2, 4)
    )
    days = [dt.date(2026, 11, 23), dt.date(2026, 11, 24)]
    settings = settings_for(tmp_path, udp.getsockname()[1])
    with DemoSite(SiteConfig(seed=1), catalogue=catalogue, day=days[0]) as site:
        run_partition(spec, days[0], settings, base_url=site.base_url, now=_night(days[0]))
        received(udp)  # the first date opens every version
        site.set_day(days[1])
        reports = run_partition(
            spec, days[1], settings, base_url=site.base_url, now=_night(days[1])
        )
    sent = by_name(received(udp))
    load = reports["load"]
    assert load["versions_opened"] and load["versions_closed"], load
    for field in ("versions_opened", "versions_closed"):
        assert sent[f"harvest.load.{field}.catalogue"] == (load[field], "c")
    assert sent["harvest.load.versions_unchanged.catalogue"] == (load["versions_unchanged"], "g")
    check_against_reports(sent, reports, "catalogue")
    check_mapping(sent, "catalogue")


def test_an_unresolvable_statsd_host_fails_no_stage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "_CLIENTS", {})
    spec = load_spec(REPO / "include/harvest/sources/demo.yaml")
    spec = spec.model_copy(update={"start_urls": [f"{{base_url}}/listings/{DAY.isoformat()}"]})
    settings = settings_for(tmp_path, None, host="statsd.invalid")
    with caplog.at_level(logging.WARNING), DemoSite(SiteConfig(seed=3, listings_per_day=8)) as site:
        reports = run_partition(spec, DAY, settings, base_url=site.base_url, now=_night(DAY))
    assert reports["load"]["loaded"] > 0
    assert "statsd target statsd.invalid:8125 unusable, no metrics sent" in caplog.text


@pytest.mark.airflow
def test_the_source_dags_tasks_send_what_their_xcom_says(
    airflow_db: str,
    demo_site: DemoSite,  # noqa: F811
    harvest_home: Path,  # noqa: F811
    udp: socket.socket,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operators (scrape, validate, clean, load) in ``dag.test()``: the tasks' XComs are
    the reports the packets are checked against."""
    monkeypatch.setattr(metrics_module, "_CLIENTS", {})
    monkeypatch.setenv("HARVEST_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("HARVEST_STATSD_PORT", str(udp.getsockname()[1]))
    result = run_dag(DAG_DAY)
    assert result.state == "success", result.states
    sent = by_name(received(udp))
    assert result.xcom["validate"]["quarantined_by_reason"], "the demo day has malformed records"
    check_against_reports(sent, result.xcom, "demo")
    check_mapping(sent, "demo")
