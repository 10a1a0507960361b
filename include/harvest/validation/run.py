"""Validate one partition: run the spec's suite on its records, quarantine what fails, store it all.

:func:`validate_records` is the pure part (records in, outcome out); :func:`validate_partition`
adds the I/O around it: read the raw partition, store quarantine and results in the warehouse,
write the valid records to staging, build Data Docs, and raise :class:`ValidationFailed` when a
critical expectation broke (after storing everything, so the evidence is there).

Records are parsed and validated in chunks of ``chunk_size`` rows through one ephemeral Great
Expectations context (``gx.py``); per-column counts are summed over chunks, and the expectations
that need the whole partition (row count, uniqueness of the key) run once on a two-column frame
(url, key). Failing rows become quarantine rows (``quarantine.py``); the partition is judged on
the summed counts and on each field's coverage (``judge.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import great_expectations as gx
import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import Partition
from harvest.progress import each
from harvest.records import NulledValues
from harvest.storage.artifacts import record_artifact
from harvest.storage.dask_frames import engages
from harvest.storage.raw import open_raw_store
from harvest.storage.staging import StagedDataset, stage_uri, write_frame
from harvest.text import TextRepairs
from harvest.validation.chunks import add_counts, check_chunk, suite_runner
from harvest.validation.gx import CheckTally, render_data_docs
from harvest.validation.judge import RESULT_COLUMNS, judge_partition
from harvest.validation.quarantine import combine_quarantine, quarantine_rows
from harvest.validation.raw_parts import extract_partition
from harvest.validation.report import Breach, ValidationFailed, ValidationReport
from harvest.validation.suite import build_suite

log = logging.getLogger(__name__)

STAGE = "validate"
Outcome = TypeVar("Outcome", bound="ValidationOutcome")
DEFAULT_CHUNK_SIZE = 200_000


class ValidationSink(Protocol):
    """The part of the warehouse validation writes to (``harvest.storage.warehouse.Warehouse``)."""

    def replace_quarantine(
        self, source: str, logical_date: dt.date, stage: str, issues: pd.DataFrame
    ) -> Any: ...

    def replace_validation_results(
        self, source: str, logical_date: dt.date, results: pd.DataFrame
    ) -> Any: ...

    def recent_row_counts(self, source: str, before_date: dt.date, n: int) -> list[int]: ...

    def replace_crawl_account(
        self,
        source: str,
        logical_date: dt.date,
        branches: Sequence[dict[str, Any]],
        listed: Sequence[dict[str, Any]],
    ) -> Any: ...


@dataclass
class ValidationOutcome:
    """Everything :func:`validate_records` found (the frames are what gets stored)."""

    source: str
    logical_date: dt.date
    suite: gx.ExpectationSuite
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    results: pd.DataFrame
    breaches: list[Breach]
    warnings: list[str]
    scraped: int
    tallies: list[CheckTally] = field(default_factory=list, repr=False)
    field_coverage: dict[str, float] = field(default_factory=dict)
    valid_rows: int | None = None  # when ``valid`` does not hold the valid records (Dask)
    ENGINE: ClassVar[str] = "pandas"

    @property
    def quarantined(self) -> int:
        return int(self.quarantine["url"].nunique())

    @property
    def quarantined_by_reason(self) -> dict[str, int]:
        """Quarantined records per ``field:check`` (a record failing two checks counts twice)."""
        if self.quarantine.empty:
            return {}
        keys = self.quarantine["field"] + ":" + self.quarantine["check"]
        counts = keys.groupby(keys).size().sort_values(ascending=False, kind="stable")
        return {str(k): int(v) for k, v in counts.items()}

    @property
    def success(self) -> bool:
        return not self.breaches

    def write_valid(self, uri: str) -> str:
        """Stage the valid records at ``uri``; return it."""
        return write_frame(self.valid, uri)

    def report(
        self, validated_uri: str | None = None, data_docs_path: str | None = None
    ) -> ValidationReport:
        return ValidationReport(
            source=self.source,
            logical_date=self.logical_date.isoformat(),
            scraped=self.scraped,
            valid=len(self.valid) if self.valid_rows is None else self.valid_rows,
            quarantined=self.quarantined,
            quarantined_by_reason=self.quarantined_by_reason,
            field_coverage=dict(self.field_coverage),
            warnings=list(self.warnings),
            validated_uri=validated_uri,
            data_docs_path=data_docs_path,
            success=self.success,
            engine=self.ENGINE,
        )

    def error(
        self, raw_uri: str | None = None, data_docs_path: str | None = None
    ) -> ValidationFailed:
        return ValidationFailed(
            self.source,
            self.logical_date,
            self.breaches,
            quarantined=self.quarantined,
            scraped=self.scraped,
            raw_uri=raw_uri,
            data_docs_path=data_docs_path,
        )


def validate_records(
    raw: pd.DataFrame,
    spec: SourceSpec,
    logical_date: dt.date,
    *,
    recent_row_counts: Sequence[int] = (),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    suite: gx.ExpectationSuite | None = None,
) -> ValidationOutcome:
    """Parse and validate extracted records (``extract_records`` output); no I/O.

    Returns the valid records (typed), one quarantine row per failed check of a record (parse
    issues included), one result row per expectation, and the critical breaches.
    """
    day = logical_date
    suite = suite or build_suite(spec, recent_row_counts)
    tallies, runner, record_columns = suite_runner(suite)
    scraped = len(raw)
    chunk_size = max(1, chunk_size)
    valid_parts: list[pd.DataFrame] = []
    quarantine_parts: list[pd.DataFrame] = []
    key_parts: list[pd.DataFrame] = []
    present = dict.fromkeys(spec.detail.fields, 0)
    nulled: dict[str, NulledValues] = {}
    starts = range(0, max(scraped, 1), chunk_size)
    for start in each(f"validating {spec.name}", starts, unit=f"batches of {chunk_size}"):
        raw_chunk = raw.iloc[start : start + chunk_size].reset_index(drop=True)
        checked = check_chunk(runner, record_columns, raw_chunk, spec, day)
        add_counts(present, nulled, checked.present, checked.nulled)
        quarantine_parts.extend(checked.quarantine)
        valid_parts.append(checked.valid)
        key_parts.append(checked.keys)
        del checked, raw_chunk

    keys = pd.concat(key_parts, ignore_index=True)
    del key_parts
    quarantine_parts.extend(
        quarantine_rows(tally.check, positions, keys, keys, spec.name, day)
        for tally, positions in runner.rejections(runner.run(keys, "partition", complete=True))
    )
    del keys

    quarantine = combine_quarantine(quarantine_parts)
    valid = pd.concat(valid_parts, ignore_index=True)
    del valid_parts
    if not quarantine.empty:
        valid = valid[~valid["url"].isin(quarantine["url"])].reset_index(drop=True)

    return judged_outcome(
        ValidationOutcome, spec, day, suite, tallies, scraped, quarantine, valid, present, nulled
    )


def judged_outcome(
    kind: type[Outcome],
    spec: SourceSpec,
    day: dt.date,
    suite: gx.ExpectationSuite,
    tallies: list[CheckTally],
    scraped: int,
    quarantine: pd.DataFrame,
    valid: pd.DataFrame,
    present: dict[str, int],
    nulled: dict[str, NulledValues],
    **more: Any,
) -> Outcome:
    """The outcome (of type ``kind``, with the fields ``more``) of a partition whose records were
    checked part by part, judged on the parts' summed ``tallies`` and counts (:func:`judged`):
    what the pandas path and the Dask path (:mod:`harvest.validation.partitioned`) both end with."""
    outcome = kind(
        source=spec.name,
        logical_date=day,
        suite=suite,
        valid=valid,
        quarantine=quarantine,
        results=pd.DataFrame(columns=RESULT_COLUMNS),
        breaches=[],
        warnings=[],
        scraped=scraped,
        tallies=tallies,
        **more,
    )
    judged(outcome, spec, present, nulled)
    return outcome


def judged(
    outcome: ValidationOutcome,
    spec: SourceSpec,
    present: dict[str, int],
    nulled: dict[str, NulledValues],
) -> ValidationOutcome:
    """``outcome`` with its field coverage, results, breaches and warnings, judged on its summed
    tallies and counts (``present``: non-null values per field; ``nulled``: values set null)."""
    scraped = outcome.scraped
    outcome.field_coverage = {n: round(present[n] / scraped, 6) for n in present} if scraped else {}
    judgement = judge_partition(
        outcome.tallies,
        scraped,
        outcome.quarantined,
        len(outcome.valid) if outcome.valid_rows is None else outcome.valid_rows,
        spec,
        outcome.quarantined_by_reason,
        coverage={name: (present[name], nulled.get(name)) for name in present},
    )
    results = pd.DataFrame(judgement.rows)
    results.insert(0, "logical_date", outcome.logical_date.isoformat())
    results.insert(0, "source", spec.name)
    outcome.results = results[RESULT_COLUMNS]
    outcome.breaches = judgement.breaches
    outcome.warnings = judgement.warnings
    return outcome


def build_data_docs(outcome: ValidationOutcome, docs_dir: Path, assets: Path | None = None) -> str:
    """Render the suite and this partition's combined result as GX Data Docs under ``docs_dir``
    and make them render offline with the vendored ``assets`` (see
    :mod:`harvest.validation.data_docs`); return the path of the partition's page (re-running a
    date replaces its page)."""
    from harvest.validation.data_docs import offline_or_warn

    page = render_data_docs(
        outcome.suite,
        outcome.tallies,
        [bool(success) for success in outcome.results["success"]],
        success=outcome.success,
        source=outcome.source,
        day=outcome.logical_date,
        docs_dir=docs_dir,
    )
    offline_or_warn(docs_dir, assets)
    return page


def validate_partition(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    raw_store: Any = None,
    warehouse: ValidationSink | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    data_docs: bool = True,
) -> ValidationReport:
    """Validate one (source, date) partition end to end; see the module docstring.

    Raises :class:`ValidationFailed` (after storing quarantine and results) when a critical
    expectation broke; the valid records are then not written to staging.
    """
    day = Partition.of(spec.name, partition).day
    own_store = raw_store is None
    store = open_raw_store(settings.raw_store_url) if raw_store is None else raw_store
    repairs = TextRepairs()
    same_item: list[str] = []
    with ExitStack() as stack:
        try:
            records, account = extract_partition(
                store, spec, day, settings, stack, repairs, same_item
            )
            raw_uri = store.uri(spec.name, day)
        finally:
            if own_store:
                store.close()
        return _validate_extracted(
            spec, day, settings, records, stack, warehouse, chunk_size, data_docs, raw_uri, account,
            same_item, repairs,
        )  # fmt: skip


def _validate_extracted(
    spec: SourceSpec,
    day: dt.date,
    settings: Settings,
    records: dict[str, Any],
    stack: ExitStack,
    warehouse: ValidationSink | None,
    chunk_size: int,
    data_docs: bool,
    raw_uri: str,
    account: Any,
    same_item: list[str],
    repairs: TextRepairs,
) -> ValidationReport:
    own_warehouse = warehouse is None
    if warehouse is None:
        from harvest.storage.warehouse import open_warehouse

        warehouse = open_warehouse(settings, spec, day)
    try:
        recent = warehouse.recent_row_counts(spec.name, day, spec.validation.recent_partitions)
        staged = records.get("parts")
        if engages(len(records["raw"]) if staged is None else staged.rows, settings):
            from harvest.validation.partitioned import validate_on_dask

            outcome = validate_on_dask(records, spec, day, settings, stack, recent)
        else:  # parts of few records (most pages failed) are read back whole
            raw = records.pop("raw") if staged is None else records.pop("parts").frame()
            outcome = validate_records(
                raw, spec, day, recent_row_counts=recent, chunk_size=chunk_size
            )
            del raw
        warehouse.replace_quarantine(spec.name, day, STAGE, outcome.quarantine)
        warehouse.replace_validation_results(spec.name, day, outcome.results)
        if account is not None:
            warehouse.replace_crawl_account(
                spec.name, day, account.branch_rows(), account.listed_rows()
            )
    finally:
        if own_warehouse:
            warehouse.close()  # type: ignore[union-attr]
    docs_path = None
    if data_docs:
        try:
            docs_path = build_data_docs(
                outcome, settings.home / "data_docs", settings.data_docs_assets
            )
            record_artifact(
                settings.staging_url, Partition.of(spec.name, day), "data_docs", {"path": docs_path}
            )
        except Exception as exc:  # Data Docs are a view: never fail the partition over them
            log.warning("Data Docs not built for %s %s: %s", spec.name, day, exc, exc_info=True)
            outcome.warnings.append(f"Data Docs were not built: {exc}")
    if outcome.breaches:
        error = outcome.error(raw_uri=raw_uri, data_docs_path=docs_path)
        log.error("%s", error)
        raise error
    validated_uri = outcome.write_valid(
        stage_uri(settings.staging_url, StagedDataset.VALIDATED, spec.name, day)
    )
    if same_item:  # counted, never silently merged
        outcome.warnings.append(
            f"{len(same_item)} item page(s) ended at the page of another URL of the same item "
            f"(a redirect), kept once: {'; '.join(same_item[:3])}"
        )
    report = outcome.report(validated_uri=validated_uri, data_docs_path=docs_path)
    report.same_item_pages = len(same_item)
    report.text_repairs = repairs.to_dict()
    log.info(
        "validated source=%s date=%s: %d scraped, %d valid, %d quarantined %s, text repaired %s",
        spec.name,
        day,
        report.scraped,
        report.valid,
        report.quarantined,
        report.quarantined_by_reason,
        report.text_repairs,
    )
    for warning in report.warnings:
        log.warning("source=%s date=%s: %s", spec.name, day, warning)
    return report
