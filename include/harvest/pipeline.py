"""The four stages of one partition, in this process: scrape -> validate -> clean -> load.

Airflow runs each stage in its own task (``plugins/harvest_airflow/operators.py``), handing on
only URIs and counts; :func:`run_partition` runs all four here, for the command line
(``python -m harvest run``) and for tests. Both only call the stages' entry points
(:func:`harvest.scraping.scrape`, :func:`harvest.validation.validate`,
:func:`harvest.cleaning.stage`, :func:`harvest.loading.load`), which hold the stages' checks;
the stages never call each other: the load is handed the clean stage
(:func:`harvest.cleaning.reclean`) by whoever runs it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import Partition


def run_partition(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    base_url: str | None = None,
    *,
    scrape: bool = True,
    recrawl: bool = False,
    now: dt.datetime | None = None,
    reports: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """All four stages for one partition in this process; the report of each (``to_dict()``),
    by stage name. Each stage sends its metrics when it finishes
    (:mod:`harvest.monitoring.stage_metrics`). ``scrape=False`` starts from the raw partition
    already in the raw store; ``recrawl`` and ``now`` (the run's time, default the clock) are
    the scrape stage's re-run rule (:func:`harvest.scraping.scrape`). Raises what the failing stage raises (``PastNotObservable``,
    ``CrawlError``, ``CrawlCheckFailed``, ``ValidationFailed``, ``WarehouseError``, ``LoadError``); the stages
    before it keep what they stored, and ``reports``, when given, holds the report of each
    stage that finished (filled as they finish: the warnings of a scrape before a failed
    validation are not lost).
    """
    from harvest import cleaning, loading, scraping, validation
    from harvest.monitoring.stage_metrics import measured_stage

    partition = Partition.of(spec.name, partition)
    crawled = None
    reports = {} if reports is None else reports
    if scrape:
        with measured_stage(settings, "scrape") as stage:
            crawled = scraping.scrape(
                spec, partition, settings, base_url=base_url, recrawl=recrawl, now=now
            )
            stage.report = reports["scrape"] = crawled.to_dict()
    with measured_stage(settings, "validate") as stage:
        validated = validation.validate(spec, partition, settings)
        stage.report = reports["validate"] = validated.to_dict()
    with measured_stage(settings, "clean") as stage:
        cleaned = cleaning.clean(spec, partition, settings, validated_uri=validated.validated_uri)
        stage.report = reports["clean"] = cleaned.to_dict()
    with measured_stage(settings, "load") as stage:
        loaded = loading.load(
            spec,
            partition,
            settings,
            validation=validated,
            cleaning=cleaned,
            crawl=crawled,
            clean=cleaning.reclean,
        )
        stage.report = reports["load"] = loaded.to_dict()
    return reports
