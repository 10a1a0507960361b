"""Scrape health and the SLA: ``monitors:`` (checked in the crawl) and ``sla:`` (by the
supervisor)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator

from harvest.config.spec.base import _Model


def _coverage_shares(value: dict[str, float]) -> dict[str, float]:
    for name, share in value.items():
        if not 0 <= share <= 1:
            raise ValueError(f"{name}: coverage {share} is not between 0 and 1")
    return value


MONITOR_NAMES = (
    "item_count",
    "field_coverage",
    "error_count",
    "warning_count",
    "finish_reason",
    "unwanted_http_codes",
    "retry_count",
    "downloader_exceptions",
    "item_count_vs_median",
    "completeness",
)
"""The crawl monitors (Spidermon, run in the crawl process; see :mod:`harvest.crawler.monitor_settings`)."""


class MonitorsSpec(_Model):
    """Scrape health checked inside the crawl when the spider closes (Spidermon monitors).

    Each result (name, passed, message) goes into the crawl stats and the warehouse table
    ``crawl_monitors``; a failed monitor is a named warning in the task log, and fails the scrape
    when it is listed in ``critical``. A threshold set to ``null`` switches that monitor off."""

    enabled: bool = Field(True, description="run the monitors at all")
    min_items: int | None = Field(
        1, ge=0, description="fewest records (item pages + card items) a crawl may yield"
    )
    min_field_coverage: float | None = Field(
        0.01,
        ge=0,
        le=1,
        description="least share of records with a value, for every field (a field found in "
        "no record: a selector that no longer matches)",
    )
    field_coverage: dict[str, float] = Field(
        {}, description="least coverage per field, overriding min_field_coverage"
    )
    max_errors: int | None = Field(0, ge=0, description="most ERROR log lines of the crawl")
    max_warnings: int | None = Field(100, ge=0, description="most WARNING log lines of the crawl")
    expected_finish_reasons: list[str] = Field(
        ["finished"], description="Scrapy finish reasons that pass (closespider_timeout: partial)"
    )
    unwanted_http_codes: dict[int, int] = Field(
        {403: 0, 404: 10, 429: 10, 500: 10, 502: 10, 503: 10, 504: 10},
        description="HTTP status -> most responses with it (retried responses count each time)",
    )
    max_retries: int | None = Field(
        0, ge=0, description="most requests that gave up after crawl.retries (failed pages)"
    )
    max_downloader_exceptions: int | None = Field(
        None, ge=0, description="most network errors (timeouts, refused connections)"
    )
    min_share_of_median: float | None = Field(
        0.5,
        ge=0,
        description="records vs the median scraped count of the source's recent partitions",
    )
    recent_partitions: int = Field(7, ge=1, le=90, description="partitions in that median")
    completeness: bool = Field(
        True,
        description="the crawl's completeness account has no named warning (fewer records "
        "than cards, an empty level page, links lost to depth, budget or failures)",
    )
    critical: list[str] = Field(
        [], description="monitors whose failure fails the scrape task (crawl monitor names)"
    )

    @field_validator("field_coverage")
    @classmethod
    def _coverage_is_a_share(cls, value: dict[str, float]) -> dict[str, float]:
        return _coverage_shares(value)

    @field_validator("critical")
    @classmethod
    def _known_monitors(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in MONITOR_NAMES]
        if unknown:
            raise ValueError(f"{unknown} are not monitors; known: {', '.join(MONITOR_NAMES)}")
        return value


class SlaSpec(_Model):
    """What 'on time' and 'healthy' mean for this source, evaluated by the supervisor DAG
    (``harvest.monitoring.evaluate_source``). A threshold set to ``null`` is not checked."""

    finish_by: dt.time | None = Field(None, description="UTC time of day the run must be done by")
    max_duration_minutes: int = Field(60, ge=1)
    freshness_hours: int = Field(26, ge=1)
    max_consecutive_failures: int = Field(
        2, ge=1, description="this many failed runs in a row (newest first) is a miss"
    )
    min_validation_pass_rate: float | None = Field(
        0.9, ge=0, le=1, description="share of the newest partition's expectations that passed"
    )
    max_quarantine_rate: float | None = Field(
        0.1,
        ge=0,
        le=1,
        description="alert above this share of quarantined records (validation fails the task "
        "above validation.max_quarantine_rate)",
    )
    min_field_coverage: float | None = Field(
        None, ge=0, le=1, description="least share of loaded rows with a value, for every field"
    )
    field_coverage: dict[str, float] = Field(
        {}, description="least coverage per field, overriding min_field_coverage"
    )
    data_warnings: bool = Field(
        True, description="the partition's data warnings (0 rows loaded, ...) count as a miss"
    )
    crawl_monitors: bool = Field(
        True, description="a failed crawl monitor (monitors:) of the newest crawl is a miss"
    )
    model_error_trend: int | None = Field(
        10,
        ge=3,
        description="the champion's holdout error rising over this many newest trainings "
        "(Mann-Kendall, one-sided p < 0.05) is a miss; sources with a target only",
    )

    @field_validator("field_coverage")
    @classmethod
    def _coverage_is_a_share(cls, value: dict[str, float]) -> dict[str, float]:
        return _coverage_shares(value)
