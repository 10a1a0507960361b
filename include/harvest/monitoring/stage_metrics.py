"""Harvest's own metrics from every stage, sent through statsd when the stage finishes.

A stage's metric names are its report's field names (the task's XCom, the log line, the
warehouse's ``partition_loads`` columns): ``<stage>.<field>.<source>``, and for a field that is a
breakdown, ``<stage>.<field>.<key>.<source>``. Stages are named as ``run_partition``'s reports and
the source DAG's tasks are: ``scrape``, ``validate``, ``clean``, ``load``, then training's ``train``
and ``score``. ``deploy/statsd/statsd-mappings.yml`` turns them into
``harvest_<stage>_<field>{source}`` (plus ``reason`` or ``field``), the table in
:mod:`harvest.monitoring.metrics` lists them all.

Types: what a stage did (pages fetched, records quarantined, rows written) is a counter, so
Prometheus' ``increase()`` sums runs; what a partition is (rows loaded, a rate, a coverage, a
model's error) is a gauge; every stage's wall time is the timer ``<stage>.duration.<source>``
(milliseconds on the wire, seconds in Prometheus). A field a report does not have, or has as
``None`` (a listings load opens no versions), is not sent.

Sending never fails a stage: the client is built once per process and target (a DNS error is
logged and the metrics skipped), statsd's UDP send is fire-and-forget, and any other error while
sending is logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import statsd

from harvest.config.settings import Settings
from harvest.monitoring.metrics import client_for, emit, part

log = logging.getLogger(__name__)

MetricType = Literal["c", "g", "ms"]

COUNTERS: dict[str, tuple[str, ...]] = {
    "scrape": (
        "pages",
        "failed_pages",
        "cached_responses",
        "requests_to_site",
        "items",
        "documents",
        "bytes",
        "js_pages",
        "ignored_pages",
        "max_pages_skipped",
        "depth_limit_skipped",
        "cards_seen",
        "completeness_warnings",
    ),
    "validate": ("scraped", "valid", "quarantined"),
    "clean": (
        "input_rows",
        "output_rows",
        "duplicates",
        "exact_duplicates_batch",
        "exact_duplicates_history",
        "near_duplicates_batch",
        "near_duplicates_history",
        "updated",
    ),
    "load": ("written", "deleted", "updated", "versions_opened", "versions_closed"),
    "score": ("rows",),
}
"""Per stage, the report fields sent as counters (what the stage did)."""

GAUGES: dict[str, tuple[str, ...]] = {
    "validate": ("quarantine_rate",),
    "load": ("loaded", "versions_unchanged"),
    "train": ("holdout_rmse", "baseline_rmse", "champion_rmse", "promoted"),
}
"""Per stage, the report fields sent as gauges (what the partition or the model is)."""

BREAKDOWNS: dict[str, dict[str, tuple[MetricType, str]]] = {
    "scrape": {"links_skipped": ("c", "reason")},
    "validate": {"quarantined_by_reason": ("c", "reason"), "field_coverage": ("g", "field")},
    "clean": {"imputed": ("c", "field")},
    "train": {"metrics": ("g", "metric")},
}
"""Per stage, the report fields that are mappings (key -> number): type and the label of the key."""

STAGES = ("scrape", "validate", "clean", "load", "train", "score")


def stage_metrics(
    stage: str, report: Mapping[str, Any], duration_seconds: float | None = None
) -> list[tuple[str, MetricType, float]]:
    """The statsd lines of one finished stage: ``(name without prefix, type, value)``.

    ``report`` is the stage's report as a dict (its ``to_dict()``, the task's XCom) and must name
    its ``source``. Raises ``ValueError`` for an unknown stage or a report without a source.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    source = report.get("source")
    if not source:
        raise ValueError(f"{stage} report has no source: {sorted(report)}")
    tail = part(str(source))
    lines: list[tuple[str, MetricType, float]] = []
    for kind, fields in (("c", COUNTERS), ("g", GAUGES)):
        for name in fields.get(stage, ()):
            value = report.get(name)
            if value is not None and math.isfinite(value):
                lines.append((f"{stage}.{name}.{tail}", kind, float(value)))  # type: ignore[arg-type]
    for name, (kind, _label) in BREAKDOWNS.get(stage, {}).items():
        for key, value in (report.get(name) or {}).items():
            if value is not None and math.isfinite(value):
                lines.append((f"{stage}.{name}.{part(str(key))}.{tail}", kind, float(value)))
    if duration_seconds is not None:
        lines.append((f"{stage}.duration.{tail}", "ms", duration_seconds * 1000.0))
    return lines


def emit_stage(
    client: statsd.StatsClient | None,
    stage: str,
    report: Mapping[str, Any],
    duration_seconds: float | None = None,
) -> int:
    """Send one stage's metrics in as few UDP datagrams as fit; returns how many lines were sent
    (0 when ``client`` is None). Never raises for a failed send: it is logged."""
    if client is None:
        return 0
    return emit(client, stage_metrics(stage, report, duration_seconds))


@dataclass
class StageRun:
    """What a :func:`measured_stage` block hands back: set ``report`` to the stage's report."""

    stage: str
    report: Mapping[str, Any] | None = None
    sent: int = field(default=0, init=False)


@contextmanager
def measured_stage(settings: Settings, stage: str) -> Iterator[StageRun]:
    """Time the block and, once ``run.report`` is set (the stage's report), send the stage's
    metrics (:func:`emit_stage`) to ``settings``' statsd target when the block ends, also when it
    raises after the report was set (a crawl that fetched nothing still counts its failed pages);
    nothing when ``statsd_on`` is off or the target cannot be resolved (logged). A stage that
    raises before its report exists sends nothing: Airflow's ``ti.finish`` counts its failure."""
    run = StageRun(stage)
    started = time.perf_counter()
    try:
        yield run
    finally:
        if run.report is not None:
            run.sent = emit_stage(
                client_for(settings), stage, run.report, time.perf_counter() - started
            )
