"""Harvest's statsd metrics: one name per thing, the source (and the check or field) in their
own dot-separated parts, which ``deploy/statsd/statsd-mappings.yml`` turns into labels.

=============================================  =====  ==========================================
statsd name (after the ``harvest`` prefix)     type   Prometheus (statsd-exporter mapping)
=============================================  =====  ==========================================
``sla.<check>.<source>``                       gauge  ``harvest_sla_missed{check,source}`` 1/0
``freshness.age_seconds.<source>``             gauge  ``harvest_freshness_age_seconds{source}``
``runs.consecutive_failures.<source>``         gauge  ``harvest_runs_consecutive_failures``
``runs.last_duration_seconds.<source>``        gauge  ``harvest_runs_last_duration_seconds``
``runs.last_end_timestamp_seconds.<source>``   gauge  ``harvest_runs_last_end_timestamp_seconds``
``partition.<column>.<source>``                gauge  ``harvest_partition_<column>{source}``:
                                                      scraped, quarantined, loaded,
                                                      quarantine_rate, validation_pass_rate,
                                                      data_warnings (newest partition)
``coverage.<field>.<source>``                  gauge  ``harvest_field_coverage{field,source}``
``crawl.monitors_failed.<source>``             gauge  ``harvest_crawl_monitors_failed{source}``:
                                                      failed crawl monitors (newest crawl)
``crawl.monitor_failed.<monitor>.<source>``    gauge  ``harvest_crawl_monitor_failed``
                                                      ``{monitor,source}`` 1/0 per monitor
``supervisor.up``                              gauge  ``harvest_supervisor_up`` 1/0
``supervisor.errors.<component>``              count  ``harvest_supervisor_errors_total{component}``
``supervisor.duration``                        timer  ``harvest_supervisor_duration_seconds``
=============================================  =====  ==========================================

A check not judged (``missed`` None) and a figure not known are not sent, so a gauge never claims
a value nobody measured. Packets are batched (statsd's pipeline: several lines per UDP packet).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import statsd

from harvest.config.settings import Settings
from harvest.monitoring.sla import SourceStatus, data_warnings

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def part(value: str) -> str:
    """A name part statsd-exporter can turn into a label: letters, digits and ``_`` only."""
    return _UNSAFE.sub("_", value) or "_"


def client_for(settings: Settings) -> statsd.StatsClient | None:
    """A UDP statsd client for ``settings.statsd_host:statsd_port`` with its prefix; None when
    ``HARVEST_STATSD_ON`` is off (nothing is sent)."""
    if not settings.statsd_on:
        return None
    return statsd.StatsClient(
        settings.statsd_host, settings.statsd_port, prefix=settings.statsd_prefix or None
    )


def status_gauges(status: SourceStatus) -> dict[str, float]:
    """The gauges of one source's status: statsd name (without prefix) -> value."""
    source = part(status.source)
    gauges: dict[str, float] = {}
    for check in status.checks:
        if check.missed is not None:
            gauges[f"sla.{check.check}.{source}"] = 1.0 if check.missed else 0.0
    if status.freshness_age_seconds is not None:
        gauges[f"freshness.age_seconds.{source}"] = status.freshness_age_seconds
    gauges[f"runs.consecutive_failures.{source}"] = float(status.consecutive_failures)
    run = status.last_run
    if run is not None:
        duration = run.duration(status.evaluated_at)
        if duration is not None:
            gauges[f"runs.last_duration_seconds.{source}"] = duration.total_seconds()
        if run.end_date is not None:
            gauges[f"runs.last_end_timestamp_seconds.{source}"] = run.end_date.timestamp()
    newest = status.newest_partition
    if newest is not None:
        gauges[f"partition.scraped.{source}"] = float(newest.scraped)
        gauges[f"partition.quarantined.{source}"] = float(newest.quarantined)
        gauges[f"partition.loaded.{source}"] = float(newest.loaded)
        gauges[f"partition.data_warnings.{source}"] = float(len(data_warnings(newest)))
        if newest.quarantine_rate is not None:
            gauges[f"partition.quarantine_rate.{source}"] = newest.quarantine_rate
        if newest.validation_pass_rate is not None:
            gauges[f"partition.validation_pass_rate.{source}"] = newest.validation_pass_rate
        for name, share in newest.field_coverage.items():
            gauges[f"coverage.{part(name)}.{source}"] = share
        if newest.crawl_monitors:
            gauges[f"crawl.monitors_failed.{source}"] = float(len(newest.failed_monitors))
            for name, outcome in newest.crawl_monitors.items():
                failed = 1.0 if outcome == "failed" else 0.0
                gauges[f"crawl.monitor_failed.{part(name)}.{source}"] = failed
    return gauges


def emit_statuses(client: statsd.StatsClient | None, statuses: Iterable[SourceStatus]) -> int:
    """Send every status's gauges (nothing when ``client`` is None); returns how many."""
    if client is None:
        return 0
    sent = 0
    with client.pipeline() as pipe:
        for status in statuses:
            for name, value in status_gauges(status).items():
                pipe.gauge(name, value)
                sent += 1
    return sent


def emit_supervisor_run(
    client: statsd.StatsClient | None,
    duration_seconds: float,
    errors: Iterable[str] = (),
) -> None:
    """The supervisor's own health: ``up`` 1 when it ran without errors, one ``errors`` count
    per failed component (``airflow_api``, ``warehouse``, ...), and its run time."""
    if client is None:
        return
    failed = list(errors)
    with client.pipeline() as pipe:
        pipe.gauge("supervisor.up", 0 if failed else 1)
        for component in failed:
            pipe.incr(f"supervisor.errors.{part(component)}")
        pipe.timing("supervisor.duration", duration_seconds * 1000.0)
