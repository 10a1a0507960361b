"""What the stages after the crawl check: ``validation:``, ``dedup:`` and ``warnings:``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

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
    """De-duplication. Records with the same key are one record; records with different keys are
    never merged unless the spec says so: ``content_duplicates: drop`` (identical on every field
    but the key), or ``relistings: true`` (the source re-lists an item under a new key), matched
    by a dedupe model trained on the labelled pairs in ``training_file``."""

    relistings: bool = Field(
        False, description="the source re-lists items under new keys: match near duplicates"
    )
    content_duplicates: Literal["report", "drop"] = Field(
        "report",
        description="records identical on every field but the key: report them (kept) or drop",
    )
    match_fields: list[str] = Field(
        [], description="fields the re-listing matcher compares (default: all but the key)"
    )
    title_field: str | None = Field(
        None, description="a free-text field compared as a string (others: exactly or as numbers)"
    )
    block_on: list[str] = Field(
        [], description="fields candidate pairs must agree on (default: the exactly compared ones)"
    )
    max_missing: int = Field(
        2, ge=0, le=8, description="block fields a candidate pair may lack between them"
    )
    window: int = Field(
        3,
        ge=1,
        le=1000,
        description="records of its block a new record is compared with on each side, in order "
        "of the compared numbers (price, area) and title: a sorted neighbourhood",
    )
    threshold: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="match probability at or above which a pair is a re-listing (precision first)",
    )
    review_margin: float = Field(
        0.2, ge=0, lt=1, description="pairs scored this close to the threshold are borderline"
    )
    training_file: str | None = Field(
        None,
        description="labelled pairs (dedupe's JSON); a relative path is relative to the spec "
        "file; default <source>.dedup.json beside it",
    )
    history_days: int = Field(30, ge=0, le=3650)

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in ("title_similarity", "numeric_tolerance") if k in data]
            if old:
                raise ValueError(
                    f"dedup.{old[0]} is gone: re-listings are matched by a model trained on "
                    "labelled pairs; set dedup.relistings: true and label pairs with "
                    "`harvest dedup label --source <name>` (README: De-duplication)"
                )
        return data


WARNING_NAMES = (
    "zero_rows",
    "all_cached",
    "empty_field",
    "crawl_incomplete",
    "records_unaccounted",
    "looks_like_catalogue",
)
"""The named warnings a spec can make critical (see :mod:`harvest.loading.warnings`)."""
ALL_WARNING_NAMES = (*WARNING_NAMES, "unobserved_items", "observed_later")
"""Every named warning a partition can raise (``unobserved_items`` and ``observed_later`` are
never critical)."""


class WarningsSpec(_Model):
    """How serious each named warning is: ``warning`` (logged and stored with the partition) or
    ``critical`` (the load fails, naming source, date and the warning, and loads nothing)."""

    zero_rows: Literal["warning", "critical"] = "warning"
    all_cached: Literal["warning", "critical"] = "warning"
    empty_field: Literal["warning", "critical"] = "warning"
    crawl_incomplete: Literal["warning", "critical"] = "warning"
    records_unaccounted: Literal["warning", "critical"] = "warning"
    looks_like_catalogue: Literal["warning", "critical"] = "warning"
