"""What the stages after the crawl check: ``validation:``, ``dedup:`` and ``warnings:``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harvest.config.spec.base import _Model


class ValidationSpec(_Model):
    """Partition-level expectations; breaking one of these fails the validate task."""

    min_rows: int = Field(1, ge=0, description="fewest valid records a partition may have")
    row_count_min_ratio: float = Field(
        0.3,
        ge=0,
        le=1,
        description="rows vs the median of recent partitions, below which the count collapsed",
    )
    recent_partitions: int = Field(7, ge=1, le=90)
    max_quarantine_rate: float = Field(0.25, ge=0, le=1)
    required_null_rate: float = Field(
        0.5, ge=0, le=1, description="max share of records missing a required field (schema drift)"
    )


class DedupSpec(_Model):
    """How re-listings are recognised: same values on ``match_fields`` (after normalisation)
    and titles at least ``title_similarity`` alike, within the batch and against history."""

    match_fields: list[str] = []
    title_field: str | None = None
    title_similarity: float = Field(0.8, ge=0, le=1)
    numeric_tolerance: float = Field(0.02, ge=0, le=1, description="relative, for numbers")
    history_days: int = Field(30, ge=0, le=3650)


WARNING_NAMES = (
    "zero_rows",
    "all_cached",
    "empty_field",
    "crawl_incomplete",
    "records_unaccounted",
    "looks_like_catalogue",
)
"""The named warnings a spec can make critical (see :mod:`harvest.loading.warnings`)."""
ALL_WARNING_NAMES = (*WARNING_NAMES, "unobserved_items")
"""Every named warning a partition can raise (``unobserved_items`` is never critical)."""


class WarningsSpec(_Model):
    """How serious each named warning is: ``warning`` (logged and stored with the partition) or
    ``critical`` (the load fails, naming source, date and the warning, and loads nothing)."""

    zero_rows: Literal["warning", "critical"] = "warning"
    all_cached: Literal["warning", "critical"] = "warning"
    empty_field: Literal["warning", "critical"] = "warning"
    crawl_incomplete: Literal["warning", "critical"] = "warning"
    records_unaccounted: Literal["warning", "critical"] = "warning"
    looks_like_catalogue: Literal["warning", "critical"] = "warning"
