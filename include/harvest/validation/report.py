"""What a validation run returns and how it fails; importable without Great Expectations."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from harvest.errors import HarvestError


@dataclass(frozen=True)
class Breach:
    """One critical expectation a partition broke: what, on which column, observed vs threshold."""

    expectation: str
    column: str | None
    check: str
    observed: str
    threshold: str
    hint: str = ""

    def describe(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        text = (
            f"{self.expectation}{where} ({self.check}): observed {self.observed}, "
            f"threshold {self.threshold}"
        )
        return f"{text}. {self.hint}" if self.hint else text


class ValidationFailed(HarvestError, RuntimeError):
    """A partition broke a critical expectation. The message names the partition, each broken
    expectation with its observed value and threshold, and where to look next."""

    retryable = False

    def __init__(
        self,
        source: str,
        logical_date: dt.date,
        breaches: list[Breach],
        *,
        quarantined: int = 0,
        scraped: int = 0,
        raw_uri: str | None = None,
        data_docs_path: str | None = None,
    ) -> None:
        self.source = source
        self.logical_date = logical_date
        self.breaches = breaches
        lines = [
            f"validation failed for source={source} date={logical_date.isoformat()}: "
            f"{len(breaches)} critical expectation{'s' if len(breaches) != 1 else ''} broken",
            *(f"  - {b.describe()}" for b in breaches),
            f"  {quarantined} of {scraped} records were quarantined (warehouse table quarantine, "
            f"stage validate); results per expectation are stored for this partition.",
        ]
        if raw_uri:
            lines.append(
                f"  The raw pages are kept in {raw_uri}; fix the cause and re-run the date (after a "
                'spec change, with --recrawl or the run conf {"recrawl": true} once its night '
                "is past: a re-run reuses the records stored with the pages)."
            )
        if data_docs_path:
            lines.append(f"  Data Docs: {data_docs_path}")
        super().__init__("\n".join(lines))


@dataclass
class ValidationReport:
    """The outcome of validating one partition (what the Airflow task returns, via ``to_dict``)."""

    source: str
    logical_date: str
    scraped: int
    valid: int
    quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    field_coverage: dict[str, float] = field(default_factory=dict)
    """Per field, the share of scraped records with a value after parsing (0..1)."""
    warnings: list[str] = field(default_factory=list)
    text_repairs: dict[str, int] = field(default_factory=dict)
    """Extracted values whose text was changed to its stored form, per repair
    (:class:`harvest.text.TextRepairs`: ``nul_removed``, ``surrogates_repaired``, ``recomposed``)."""
    validated_uri: str | None = None
    data_docs_path: str | None = None
    success: bool = True
    engine: str = "pandas"
    """``"dask"`` when the partition was larger than ``Settings.dask_threshold_rows`` and was
    validated on Dask (:mod:`harvest.validation.partitioned`)."""
    same_item_pages: int = 0
    """Item pages that ended at the page of another URL of the same item (a redirect): one
    record for both (:func:`harvest.records.extract_records`), so the crawl's records are
    ``scraped + same_item_pages``."""

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.scraped if self.scraped else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quarantine_rate"] = round(self.quarantine_rate, 6)
        return data
