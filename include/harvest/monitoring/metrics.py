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
``partition.warning.<name>.<source>``          gauge  ``harvest_partition_warning{warning,
                                                      source}`` 1/0: each named warning of
                                                      the newest partition (zero_rows,
                                                      looks_like_catalogue, unobserved_items...)
``coverage.<field>.<source>``                  gauge  ``harvest_field_coverage{field,source}``
``crawl.monitors_failed.<source>``             gauge  ``harvest_crawl_monitors_failed{source}``:
                                                      failed crawl monitors (newest crawl)
``crawl.monitor_failed.<monitor>.<source>``    gauge  ``harvest_crawl_monitor_failed``
                                                      ``{monitor,source}`` 1/0 per monitor
``model.error_trend_p_value.<source>``        gauge  ``harvest_model_error_trend_p_value``
                                                      ``{source}``: Mann-Kendall p of the
                                                      champion's holdout RMSE over the newest
                                                      trainings (``sla.model_error_trend``)
``supervisor.up``                              gauge  ``harvest_supervisor_up`` 1/0
``supervisor.errors.<component>``              count  ``harvest_supervisor_errors_total{component}``
``supervisor.duration``                        timer  ``harvest_supervisor_duration_seconds``
=============================================  =====  ==========================================

The stages' own metrics (:mod:`harvest.monitoring.stage_metrics`), sent when each stage ends;
the name after the stage is the field of the stage's report (its XCom and log line):

=============================================  =====  ==========================================
statsd name (after the ``harvest`` prefix)     type   Prometheus (statsd-exporter mapping)
=============================================  =====  ==========================================
``scrape.<field>.<source>``: ``pages``,        count  ``harvest_scrape_<field>{source}``
``failed_pages``, ``cached_responses``,
``requests_to_site``, ``items``,
``documents``, ``bytes``, ``js_pages``,
``ignored_pages``, ``max_pages_skipped``,
``depth_limit_skipped``, ``cards_seen``,
``completeness_warnings`` (``CrawlResult``)
``scrape.links_skipped.<reason>.<source>``     count  ``harvest_scrape_links_skipped
                                                      {reason,source}`` (the completeness
                                                      account: ``duplicate``, ``off_site``,
                                                      ``robots``, ``depth``, ``budget``, ...)
``validate.<field>.<source>``: ``scraped``,    count  ``harvest_validate_<field>{source}``
``valid``, ``quarantined``
``validate.quarantine_rate.<source>``          gauge  ``harvest_validate_quarantine_rate``
``validate.quarantined_by_reason.<r>.<src>``   count  ``harvest_validate_quarantined_by_reason
                                                      {reason,source}`` (``field:check``, ``_``
                                                      for ``:``)
``validate.field_coverage.<field>.<source>``   gauge  ``harvest_validate_field_coverage
                                                      {field,source}`` (scraped records)
``clean.<field>.<source>``: ``input_rows``,    count  ``harvest_clean_<field>{source}``
``output_rows``, ``duplicates``,
``exact_duplicates_batch`` / ``_history``,
``near_duplicates_batch`` / ``_history``,
``updated``
``clean.imputed.<field>.<source>``             count  ``harvest_clean_imputed{field,source}``
``load.<field>.<source>``: ``written``,        count  ``harvest_load_<field>{source}``
``deleted``, ``updated``,
``versions_opened``, ``versions_closed``
``load.loaded.<source>``,                      gauge  ``harvest_load_loaded{source}`` (rows of the
``load.versions_unchanged.<source>``                  partition in the warehouse), ...
``train.<field>.<source>``: ``holdout_rmse``,  gauge  ``harvest_train_<field>{source}``
``baseline_rmse``, ``champion_rmse``,
``promoted`` (1/0)
``train.metrics.<metric>.<source>``            gauge  ``harvest_train_metrics{metric,source}``
``score.rows.<source>``                        count  ``harvest_score_rows{source}``
``<stage>.duration.<source>``                  timer  ``harvest_<stage>_duration_seconds{source}``
                                                      (scrape: a histogram)
=============================================  =====  ==========================================

A check not judged (``missed`` None) and a figure not known are not sent, so a gauge never claims
a value nobody measured. Lines are packed into datagrams of up to :data:`MAX_PACKET_BYTES` (:func:`send_lines`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache

import statsd

from harvest.config.settings import Settings
from harvest.config.spec import ALL_WARNING_NAMES
from harvest.monitoring.sla import SourceStatus, data_warnings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


@lru_cache(maxsize=4096)  # the same sources and fields on every supervisor run
def part(value: str) -> str:
    """A name part statsd-exporter can turn into a label: letters, digits and ``_`` only."""
    return _UNSAFE.sub("_", value) or "_"


MAX_PACKET_BYTES = 1432
"""Largest statsd datagram: fits a 1500-byte Ethernet frame (python-statsd's advice for a LAN);
statsd-exporter reads datagrams of up to 64 KiB."""

_CLIENTS: dict[tuple[str, int, str], statsd.StatsClient] = {}


def client_for(settings: Settings) -> statsd.StatsClient | None:
    """The UDP statsd client for ``settings.statsd_host:statsd_port`` with its prefix, built once
    per process and target (building one resolves the host and opens a socket); None when
    ``HARVEST_STATSD_ON`` is off or the host cannot be resolved (logged: metrics are never worth
    failing a task for)."""
    if not settings.statsd_on:
        return None
    key = (settings.statsd_host, settings.statsd_port, settings.statsd_prefix)
    client = _CLIENTS.get(key)
    if client is None:
        try:
            client = statsd.StatsClient(
                settings.statsd_host,
                settings.statsd_port,
                prefix=settings.statsd_prefix or None,
                maxudpsize=MAX_PACKET_BYTES,
            )
        except OSError as exc:  # socket.gaierror: an unknown host; no metrics, no failure
            log.warning(
                "statsd target %s:%s unusable, no metrics sent: %s",
                settings.statsd_host,
                settings.statsd_port,
                exc,
            )
            return None
        _CLIENTS[key] = client
    return client


def status_gauges(status: SourceStatus) -> dict[str, float]:
    """The gauges of one source's status: statsd name (without prefix) -> value (a ``float``)."""
    source = part(status.source)
    gauges: dict[str, float] = {}
    warnings = None
    for check in status.checks:
        if check.missed is not None:
            gauges[f"sla.{check.check}.{source}"] = 1.0 if check.missed else 0.0
            if check.check == "data_warnings":
                warnings = check.observed  # how many: data_warnings() of the newest partition
            if check.check == "model_error_trend" and check.observed is not None:
                gauges[f"model.error_trend_p_value.{source}"] = float(check.observed)
    if status.freshness_age_seconds is not None:
        gauges[f"freshness.age_seconds.{source}"] = float(status.freshness_age_seconds)
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
        count = len(data_warnings(newest)) if warnings is None else warnings
        gauges[f"partition.data_warnings.{source}"] = float(count)
        for name in ALL_WARNING_NAMES:  # 0 too: an alert on one clears when it is gone
            raised = name in newest.warnings or (name == "zero_rows" and newest.loaded == 0)
            gauges[f"partition.warning.{name}.{source}"] = 1.0 if raised else 0.0
        if newest.quarantine_rate is not None:
            gauges[f"partition.quarantine_rate.{source}"] = float(newest.quarantine_rate)
        if newest.validation_pass_rate is not None:
            gauges[f"partition.validation_pass_rate.{source}"] = float(newest.validation_pass_rate)
        for name, share in newest.field_coverage.items():
            gauges[f"coverage.{part(name)}.{source}"] = float(share)
        if newest.crawl_monitors:
            gauges[f"crawl.monitors_failed.{source}"] = float(len(newest.failed_monitors))
            for name, outcome in newest.crawl_monitors.items():
                failed = 1.0 if outcome == "failed" else 0.0
                gauges[f"crawl.monitor_failed.{part(name)}.{source}"] = failed
    return gauges


def statsd_lines(prefix: str | None, metrics: Iterable[tuple[str, str, float]]) -> list[str]:
    """statsd protocol lines ``<prefix>.<name>:<value>|<type>`` of ``(name, type, value)``; type
    ``c`` (counter, sent as a whole number), ``g`` (gauge) or ``ms`` (timer, milliseconds). A
    negative gauge is sent as 0 then its value, since ``-5|g`` alone would mean "subtract 5"."""
    head = f"{prefix}." if prefix else ""
    lines = []
    for name, kind, value in metrics:
        if kind == "c":
            lines.append(f"{head}{name}:{int(value)}|c")
        elif kind == "ms":
            lines.append(f"{head}{name}:{value:.6f}|ms")
        else:
            if value < 0:
                lines.append(f"{head}{name}:0|g")
            lines.append(f"{head}{name}:{float(value)!r}|g")
    return lines


def send_lines(client: statsd.StatsClient, lines: list[str]) -> int:
    """Send statsd lines packed into as few UDP datagrams as fit in :data:`MAX_PACKET_BYTES`
    (one join, then one search for the last line break per datagram), each through the client's
    own datagram send, the one its pipeline uses, which swallows socket errors (UDP is
    fire-and-forget); returns the number of datagrams.

    Why not the client's ``pipeline()``: it makes four method calls and two string formats per
    line and packs at most 512 bytes per datagram, which made the supervisor's 2,000 gauges at
    100 sources cost 5 % of its evaluation (``benchmarks/bench_supervisor.py`` keeps it as the
    baseline); this costs a third of that.
    """
    data = "\n".join(lines)
    packets, start, end = 0, 0, len(data)
    while start < end:
        cut = end
        if end - start > MAX_PACKET_BYTES:  # the last line break that keeps the datagram in size
            cut = data.rfind("\n", start, start + MAX_PACKET_BYTES + 1)
            if cut <= start:  # one line longer than a datagram: it goes alone
                cut = data.find("\n", start + 1)
                cut = end if cut == -1 else cut
        client._send(data[start:cut])
        packets += 1
        start = cut + 1
    return packets


def emit(client: statsd.StatsClient | None, metrics: Iterable[tuple[str, str, float]]) -> int:
    """Send ``(name without prefix, type, value)`` metrics (:func:`statsd_lines`,
    :func:`send_lines`); returns how many lines, 0 when ``client`` is None. Never raises for a
    send that fails (logged): metrics never fail the work they measure."""
    if client is None:
        return 0
    try:
        lines = statsd_lines(client._prefix, metrics)
        send_lines(client, lines)
    except (OSError, ValueError, UnicodeError) as exc:
        log.warning("statsd metrics not sent: %s", exc)
        return 0
    return len(lines)


def emit_statuses(client: statsd.StatsClient | None, statuses: Iterable[SourceStatus]) -> int:
    """Send every status's gauges (nothing when ``client`` is None); returns how many. The
    lines are formatted here in one pass (no per-gauge tuple): this runs for every source on
    every supervisor run."""
    if client is None:
        return 0
    head = f"{client._prefix}." if client._prefix else ""
    lines = []
    for status in statuses:
        for name, value in status_gauges(status).items():
            if value < 0:  # "-5|g" alone would mean "subtract 5"
                lines.append(f"{head}{name}:0|g")
            lines.append(f"{head}{name}:{value!r}|g")  # repr: faster than format()
    try:
        send_lines(client, lines)
    except (OSError, ValueError, UnicodeError) as exc:
        log.warning("supervisor metrics not sent: %s", exc)
        return 0
    return len(lines)


def emit_supervisor_run(
    client: statsd.StatsClient | None,
    duration_seconds: float,
    errors: Iterable[str] = (),
) -> None:
    """The supervisor's own health: ``up`` 1 when it ran without errors, one ``errors`` count
    per failed component (``airflow_api``, ``warehouse``, ...), and its run time."""
    failed = list(errors)
    metrics = [("supervisor.up", "g", 0.0 if failed else 1.0)]
    metrics += [(f"supervisor.errors.{part(component)}", "c", 1) for component in failed]
    metrics.append(("supervisor.duration", "ms", duration_seconds * 1000.0))
    emit(client, metrics)
