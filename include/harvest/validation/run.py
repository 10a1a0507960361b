"""Validate one partition: run the spec's suite on its records, quarantine what fails, store it all.

:func:`validate_records` is the pure part (records in, outcome out); :func:`validate_partition`
adds the I/O around it: read the raw partition, store quarantine and results in the warehouse,
write the valid records to staging, build Data Docs, and raise :class:`ValidationFailed` when a
critical expectation broke (after storing everything, so the evidence is there).

Records are parsed and validated in chunks of ``chunk_size`` rows with an ephemeral Great
Expectations context; per-column counts are summed over chunks, and the expectations that need the
whole partition (row count, uniqueness of the key) run once on a two-column frame (url, key).
Failing rows are found from GE's ``unexpected_index_list`` (positions in the chunk, mapped back to
the URL in one vectorised step): asking GE for ``unexpected_index_column_names=["url"]`` gives the
same rows but builds them one ``DataFrame.at`` call at a time, about 15x slower.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from harvest.cleaning.normalise import canonical_series
from harvest.cleaning.records import ISSUE_COLUMNS, extract_records, parse_records
from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import partition_date
from harvest.storage.raw import open_raw_store
from harvest.storage.staging import stage_uri, write_frame
from harvest.validation.report import Breach, ValidationFailed, ValidationReport
from harvest.validation.suite import build_suite, expectation_column, expectation_type

log = logging.getLogger(__name__)

STAGE = "validate"
DEFAULT_CHUNK_SIZE = 200_000
QUARANTINE_COLUMNS = [*ISSUE_COLUMNS, "severity"]
RESULT_COLUMNS = [
    "source",
    "logical_date",
    "expectation",
    "column",
    "severity",
    "success",
    "element_count",
    "unexpected_count",
    "pass_rate",
    "observed_value",
    "details",
]
QUARANTINE_RATE = "expect_quarantine_rate_to_be_at_most"
VALID_ROWS = "expect_valid_row_count_to_be_at_least"
_PARTITION_WIDE = {"expect_table_row_count_to_be_between", "expect_column_values_to_be_unique"}
_HINTS = {
    "exists": "A spec field is missing from the parsed records: the parser or the spec changed.",
    "type": "A field no longer has its parsed type: check the field's parser in the spec.",
    "required_null_rate": "A required field is empty on most detail pages: the page layout "
    "probably changed; compare a raw page with the field's selector in the spec.",
    "max_null_rate": "Far more values are missing than allowed: check the field's selector "
    "against a raw page (layout drift?) and the source site.",
    "row_count": "The partition has far fewer records than usual: check the scrape task log "
    "(failed pages, blocked crawl, empty index pages) and the source site.",
    "valid_rows": "Too few records survived validation: see the quarantine reasons.",
}


class ValidationSink(Protocol):
    """The part of the warehouse validation writes to (``harvest.storage.warehouse.Warehouse``)."""

    def replace_quarantine(
        self, source: str, logical_date: dt.date, stage: str, issues: pd.DataFrame
    ) -> Any: ...

    def replace_validation_results(
        self, source: str, logical_date: dt.date, results: pd.DataFrame
    ) -> Any: ...

    def recent_row_counts(self, source: str, before_date: dt.date, n: int) -> list[int]: ...


@dataclass
class _Tally:
    """One expectation's result, summed over chunks."""

    expectation: gxe.Expectation
    element_count: int = 0
    unexpected_count: int = 0
    success: bool = True
    observed: Any = None
    exception: str | None = None
    result: ExpectationValidationResult | None = None  # first chunk's, for Data Docs

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.expectation.meta or {})

    def add(self, result: ExpectationValidationResult) -> None:
        data = result.result or {}
        self.element_count += int(data.get("element_count") or 0)
        self.unexpected_count += int(data.get("unexpected_count") or 0)
        self.success = self.success and bool(result.success)
        info = result.exception_info or {}
        if info.get("raised_exception") and self.exception is None:
            self.exception = str(info.get("exception_message"))
        if "observed_value" in data and (self.observed is None or not result.success):
            self.observed = data["observed_value"]
        if self.result is None:
            self.result = result


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
    tallies: list[_Tally] = field(default_factory=list, repr=False)

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

    def report(
        self, validated_uri: str | None = None, data_docs_path: str | None = None
    ) -> ValidationReport:
        return ValidationReport(
            source=self.source,
            logical_date=self.logical_date.isoformat(),
            scraped=self.scraped,
            valid=len(self.valid),
            quarantined=self.quarantined,
            quarantined_by_reason=self.quarantined_by_reason,
            warnings=list(self.warnings),
            validated_uri=validated_uri,
            data_docs_path=data_docs_path,
            success=self.success,
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


def ephemeral_context(data_docs_dir: Path | None = None) -> Any:
    """An in-memory GE context (no analytics, no progress bars); with ``data_docs_dir``, a local
    Data Docs site there whose validation results are kept as JSON next to it, so the index
    lists every partition validated so far."""
    sites: dict[str, Any] = {}
    defaults = InMemoryStoreBackendDefaults()
    if data_docs_dir is not None:
        sites["local_site"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        defaults.stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir.parent / "gx_validation_results"),
            },
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


class _Runner:
    """Runs groups of expectations on pandas frames through one ephemeral context."""

    def __init__(self) -> None:
        self.context = ephemeral_context()
        asset = self.context.data_sources.add_pandas("harvest").add_dataframe_asset("records")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("partition")
        self._suites: dict[str, gx.ExpectationSuite] = {}

    def suite(self, name: str, expectations: Sequence[gxe.Expectation]) -> gx.ExpectationSuite:
        if name not in self._suites:
            copies = [e.copy(update={"id": None}) for e in expectations]
            self._suites[name] = gx.ExpectationSuite(name=name, expectations=copies)
        return self._suites[name]

    def run(
        self, frame: pd.DataFrame, suite: gx.ExpectationSuite, complete: bool
    ) -> list[ExpectationValidationResult]:
        if not suite.expectations:
            return []
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format: dict[str, Any] = (
            {"result_format": "COMPLETE", "partial_unexpected_count": 20}
            if complete
            else {"result_format": "BASIC"}
        )
        return list(batch.validate(suite, result_format=result_format).results)


def _key(expectation: gxe.Expectation) -> tuple[str, str | None]:
    meta = expectation.meta or {}
    return (str(meta.get("check")), meta.get("field"))


def _record_failures(
    results: list[ExpectationValidationResult],
    typed: pd.DataFrame,
    raw: pd.DataFrame,
    by_key: dict[tuple[str, str | None], _Tally],
    source: str,
    day: dt.date,
) -> list[pd.DataFrame]:
    """Quarantine rows for every record a record-level expectation rejected (GE reports row
    positions; ``typed`` and ``raw`` are indexed the same way as the frame GE saw)."""
    frames = []
    for result in results:
        config = result.expectation_config
        meta = (config.meta if config else None) or {}
        if meta.get("level") != "record" or result.success:
            continue
        indices = (result.result or {}).get("unexpected_index_list") or []
        if not indices:
            continue
        positions = np.asarray(indices, dtype=np.int64)
        name = str(meta["field"])
        tally = by_key[(str(meta["check"]), meta.get("field"))]
        parsed = typed[name].iloc[positions]
        rows = typed[["url"]].iloc[positions].reset_index(drop=True)
        rows.insert(0, "logical_date", day.isoformat())
        rows.insert(0, "source", source)
        rows["field"] = name
        rows["check"] = meta["check"]
        raw_values = raw[name].iloc[positions] if name in raw else parsed
        rows["value"] = raw_values.astype("string").to_numpy()
        rows["reason"] = _reasons(meta, tally.expectation, parsed, typed)
        rows["severity"] = meta.get("severity", "warning")
        frames.append(rows)
    return frames


def _reasons(
    meta: dict[str, Any], expectation: gxe.Expectation, parsed: pd.Series, typed: pd.DataFrame
) -> np.ndarray:
    name, check = meta["field"], meta["check"]
    text = parsed.astype("string").fillna("<missing>").to_numpy(dtype=object)
    if check == "range":
        low = getattr(expectation, "min_value", None)
        high = getattr(expectation, "max_value", None)
        numbers = parsed.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        side = np.where(
            (low is not None) & (numbers < (low if low is not None else -np.inf)),
            f"below the minimum {low}",
            f"above the maximum {high}",
        )
        return np.char.add(np.char.add(f"{name} ", text.astype(str)), np.char.add(" is ", side))
    if check == "values":
        return np.char.add(
            np.char.add(f"{name} '", text.astype(str)), "' is not one of the allowed values"
        )
    if check == "regex":
        pattern = getattr(expectation, "regex", "")
        return np.char.add(
            np.char.add(f"{name} '", text.astype(str)), f"' does not match {pattern!r}"
        )
    if check == "unique":
        counts = typed[name].value_counts()
        n = parsed.map(counts).astype("Int64").astype("string").fillna("?").to_numpy(dtype=object)
        return np.char.add(
            np.char.add(np.char.add(f"{name} '", text.astype(str)), "' appears "),
            np.char.add(n.astype(str), " times in the partition (detail.key must be unique)"),
        )
    return np.full(len(parsed), f"{name} failed {check}", dtype=object)


def _for_ge(typed: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Only the columns a suite reads, nullable numbers as numpy floats (NaN for missing): GE
    compares numpy columns vectorised but nullable ones one value at a time, and fingerprints
    every column of a batch."""
    frame = typed[columns].copy()
    for name in columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iuf":
            frame[name] = frame[name].to_numpy(dtype=float, na_value=np.nan)
    return frame


def _parse_issues(issues: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    frame = issues.copy()
    frame["severity"] = frame["field"].map(
        {
            n: ("critical" if f.required else f.checks.severity)
            for n, f in spec.detail.fields.items()
        }
    )
    return frame


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS).astype("string")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _judge(
    tallies: list[_Tally],
    scraped: int,
    quarantined: int,
    valid: int,
    spec: SourceSpec,
    top_reasons: dict[str, int],
) -> tuple[list[dict[str, Any]], list[Breach], list[str]]:
    """Per-expectation rows for the results table, the critical breaches, and the warnings."""
    rows: list[dict[str, Any]] = []
    breaches: list[Breach] = []
    warnings: list[str] = []
    for tally in tallies:
        meta = tally.meta
        exp_type = expectation_type(tally.expectation)
        column = expectation_column(tally.expectation)
        check, severity, threshold = meta["check"], meta["severity"], meta["threshold"]
        element = tally.element_count
        unexpected = tally.unexpected_count
        if exp_type == "expect_column_values_to_not_be_null":
            null_rate = unexpected / element if element else 0.0
            limit = 1.0 - float(getattr(tally.expectation, "mostly", 1.0) or 1.0)
            success = tally.exception is None and null_rate <= limit + 1e-12
            observed = f"null rate {null_rate:.3f} ({unexpected} of {element} records)"
        elif meta["level"] == "record":
            success = tally.exception is None and unexpected == 0
            observed = f"{unexpected} of {element} records failing"
        elif check == "row_count":
            success = tally.success and tally.exception is None
            observed = f"{tally.observed} records"
        else:
            success = tally.success and tally.exception is None
            observed = (
                _format(tally.observed)
                if tally.observed is not None
                else ("ok" if success else "failed")
            )
        if tally.exception:
            observed = f"error: {tally.exception}"
        pass_rate = (1.0 - unexpected / element) if element else (1.0 if success else 0.0)
        if meta["level"] != "record" and check not in ("max_null_rate", "required_null_rate"):
            pass_rate = 1.0 if success else 0.0
        rows.append(
            {
                "expectation": exp_type,
                "column": column,
                "severity": severity,
                "success": success,
                "element_count": element or (scraped if check == "row_count" else 0),
                "unexpected_count": unexpected,
                "pass_rate": pass_rate,
                "observed_value": observed,
                "details": {
                    "check": check,
                    "field": meta.get("field"),
                    "threshold": threshold,
                    "level": meta["level"],
                },
            }
        )
        if success:
            continue
        if meta["level"] == "record":
            warnings.append(
                f"{exp_type} on '{column}' ({check}, {severity}): {observed}; "
                f"those records were quarantined"
            )
        elif severity == "critical":
            breaches.append(
                Breach(exp_type, column, check, observed, threshold, _HINTS.get(check, ""))
            )
        else:
            warnings.append(
                f"{exp_type} on '{column}' ({check}): {observed}, threshold {threshold}"
            )

    rules = spec.validation
    rate = quarantined / scraped if scraped else 0.0
    rate_ok = rate <= rules.max_quarantine_rate + 1e-12
    reasons = ", ".join(f"{k} ({v})" for k, v in list(top_reasons.items())[:3])
    rows.append(
        {
            "expectation": QUARANTINE_RATE,
            "column": None,
            "severity": "critical",
            "success": rate_ok,
            "element_count": scraped,
            "unexpected_count": quarantined,
            "pass_rate": 1.0 - rate,
            "observed_value": f"{rate:.3f} ({quarantined} of {scraped} records)",
            "details": {
                "check": "max_quarantine_rate",
                "field": None,
                "level": "batch",
                "threshold": f"at most {rules.max_quarantine_rate:g}",
            },
        }
    )
    if not rate_ok:
        breaches.append(
            Breach(
                QUARANTINE_RATE,
                None,
                "max_quarantine_rate",
                f"quarantine rate {rate:.3f} ({quarantined} of {scraped} records)",
                f"at most {rules.max_quarantine_rate:g} (validation.max_quarantine_rate)",
                f"Top quarantine reasons (field:check): {reasons}." if reasons else "",
            )
        )
    valid_ok = valid >= rules.min_rows
    rows.append(
        {
            "expectation": VALID_ROWS,
            "column": None,
            "severity": "critical",
            "success": valid_ok,
            "element_count": scraped,
            "unexpected_count": scraped - valid,
            "pass_rate": 1.0 if valid_ok else 0.0,
            "observed_value": f"{valid} valid records",
            "details": {
                "check": "valid_rows",
                "field": None,
                "level": "batch",
                "threshold": f"at least {rules.min_rows}",
            },
        }
    )
    if not valid_ok:
        breaches.append(
            Breach(
                VALID_ROWS,
                None,
                "valid_rows",
                f"{valid} valid records",
                f"at least {rules.min_rows} (validation.min_rows)",
                _HINTS["valid_rows"],
            )
        )
    return rows, breaches, warnings


def _canonical_values(typed: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """The frame the value-set checks see: typos of allowed values mapped onto them (cleaning
    makes the same correction and counts it), so only values matching nothing are quarantined."""
    fields = {
        name: field.checks.values
        for name, field in spec.detail.fields.items()
        if field.checks.values and name in typed
    }
    if not fields:
        return typed
    checked = typed.copy()
    for name, allowed in fields.items():
        checked[name] = canonical_series(typed[name], allowed)
    return checked


def validate_records(
    raw: pd.DataFrame,
    spec: SourceSpec,
    logical_date: dt.date | str,
    *,
    recent_row_counts: Sequence[int] = (),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    suite: gx.ExpectationSuite | None = None,
) -> ValidationOutcome:
    """Parse and validate extracted records (``extract_records`` output); no I/O.

    Returns the valid records (typed), one quarantine row per failed check of a record (parse
    issues included), one result row per expectation, and the critical breaches.
    """
    day = partition_date(logical_date)
    suite = suite or build_suite(spec, recent_row_counts)
    runner = _Runner()
    tallies = [_Tally(e) for e in suite.expectations]
    by_key = {_key(t.expectation): t for t in tallies}
    groups: dict[str, list[gxe.Expectation]] = {"record": [], "batch": [], "partition": []}
    for tally in tallies:
        if expectation_type(tally.expectation) in _PARTITION_WIDE:
            groups["partition"].append(tally.expectation)
        elif tally.meta.get("level") == "record":
            groups["record"].append(tally.expectation)
        else:
            groups["batch"].append(tally.expectation)
    record_suite = runner.suite("record", groups["record"])
    batch_suite = runner.suite("batch", groups["batch"])
    wide_suite = runner.suite("partition", groups["partition"])

    key = spec.detail.key
    record_columns = ["url", *dict.fromkeys(str((e.meta or {})["field"]) for e in groups["record"])]
    scraped = len(raw)
    chunk_size = max(1, chunk_size)
    valid_parts: list[pd.DataFrame] = []
    quarantine_parts: list[pd.DataFrame] = []
    key_parts: list[pd.DataFrame] = []
    for start in range(0, max(scraped, 1), chunk_size):
        raw_chunk = raw.iloc[start : start + chunk_size].reset_index(drop=True)
        parsed = parse_records(raw_chunk, spec)
        typed = parsed.frame
        for result in runner.run(typed, batch_suite, complete=False):
            by_key[_key(result.expectation_config)].add(result)  # type: ignore[arg-type]
        record_results = runner.run(
            _for_ge(_canonical_values(typed, spec), record_columns), record_suite, complete=True
        )
        for result in record_results:
            by_key[_key(result.expectation_config)].add(result)  # type: ignore[arg-type]
        failures = _record_failures(record_results, typed, raw_chunk, by_key, spec.name, day)
        if not parsed.issues.empty:
            failures.append(_parse_issues(parsed.issues, spec))
        bad = pd.concat([f["url"] for f in failures]) if failures else pd.Series([], dtype="string")
        quarantine_parts.extend(failures)
        valid_parts.append(typed[~typed["url"].isin(bad)])
        key_parts.append(typed[["url", key]])
        del parsed, typed, raw_chunk

    keys = pd.concat(key_parts, ignore_index=True)
    del key_parts
    wide_results = runner.run(keys, wide_suite, complete=True)
    for result in wide_results:
        by_key[_key(result.expectation_config)].add(result)  # type: ignore[arg-type]
    quarantine_parts.extend(_record_failures(wide_results, keys, keys, by_key, spec.name, day))
    del keys

    quarantine = (
        pd.concat(quarantine_parts, ignore_index=True).astype("string")
        if quarantine_parts
        else _empty_quarantine()
    )
    quarantine = (
        quarantine[QUARANTINE_COLUMNS]
        .drop_duplicates(["url", "field", "check"])
        .sort_values(["url", "field", "check"], kind="stable")
        .reset_index(drop=True)
    )
    valid = pd.concat(valid_parts, ignore_index=True)
    del valid_parts
    if not quarantine.empty:
        valid = valid[~valid["url"].isin(quarantine["url"])].reset_index(drop=True)

    outcome = ValidationOutcome(
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
    )
    rows, breaches, warnings = _judge(
        tallies, scraped, outcome.quarantined, len(valid), spec, outcome.quarantined_by_reason
    )
    results = pd.DataFrame(rows)
    results.insert(0, "logical_date", day.isoformat())
    results.insert(0, "source", spec.name)
    outcome.results = results[RESULT_COLUMNS]
    outcome.breaches = breaches
    outcome.warnings = warnings
    return outcome


def build_data_docs(outcome: ValidationOutcome, docs_dir: Path) -> str:
    """Render the suite and this partition's combined result as GE Data Docs under ``docs_dir``;
    return the path of the partition's page (re-running a date replaces its page)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    docs_dir.mkdir(parents=True, exist_ok=True)
    context = ephemeral_context(docs_dir)
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=outcome.suite.name,
            expectations=[e.copy(update={"id": None}) for e in outcome.suite.expectations],
        )
    )
    results = []
    for tally, row in zip(outcome.tallies, outcome.results.itertuples(), strict=False):
        summary: dict[str, Any] = {
            "element_count": int(tally.element_count),
            "unexpected_count": int(tally.unexpected_count),
            "unexpected_percent": (
                100.0 * tally.unexpected_count / tally.element_count if tally.element_count else 0.0
            ),
        }
        if tally.result is not None and tally.result.result:
            partial = tally.result.result.get("partial_unexpected_list")
            if partial is not None:
                summary["partial_unexpected_list"] = [_jsonable(v) for v in partial]
        if tally.observed is not None:
            summary["observed_value"] = _jsonable(tally.observed)
        results.append(
            ExpectationValidationResult(
                success=bool(row.success),
                expectation_config=tally.expectation.configuration,
                result=summary,
                exception_info={
                    "raised_exception": False,
                    "exception_message": None,
                    "exception_traceback": None,
                },
            )
        )
    evaluated = len(results)
    successful = sum(1 for r in results if r.success)
    run_name = f"{outcome.source}-{outcome.logical_date.isoformat()}"
    run_time = dt.datetime.combine(outcome.logical_date, dt.time(), tzinfo=dt.UTC)
    suite_result = ExpectationSuiteValidationResult(
        success=outcome.success,
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": evaluated,
            "successful_expectations": successful,
            "unsuccessful_expectations": evaluated - successful,
            "success_percent": 100.0 * successful / evaluated if evaluated else None,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": {"run_name": run_name, "run_time": run_time.isoformat()},
            "active_batch_definition": {
                "datasource_name": "harvest",
                "data_connector_name": "fluent",
                "data_asset_name": outcome.source,
                "batch_identifiers": {"logical_date": outcome.logical_date.isoformat()},
            },
            "batch_parameters": {
                "source": outcome.source,
                "logical_date": outcome.logical_date.isoformat(),
            },
        },
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        batch_identifier=run_name,
    )
    context.validation_results_store.set(key, suite_result)
    context.build_data_docs()
    urls = context.get_docs_sites_urls(resource_identifier=key, only_if_exists=False)
    page = urls[0].get("site_url") if urls else None
    return str(page or (docs_dir / "index.html").as_uri()).removeprefix("file://")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def validate_partition(
    spec: SourceSpec,
    logical_date: dt.date | str,
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
    day = partition_date(logical_date)
    own_store = raw_store is None
    store = open_raw_store(settings.raw_store_url) if raw_store is None else raw_store
    try:
        raw = extract_records(store.read_partition(spec.name, day), spec)
        raw_uri = store.uri(spec.name, day)
    finally:
        if own_store:
            store.close()
    own_warehouse = warehouse is None
    if warehouse is None:
        from harvest.storage.warehouse import open_warehouse

        warehouse = open_warehouse(settings, spec, day)
    try:
        recent = warehouse.recent_row_counts(spec.name, day, spec.validation.recent_partitions)
        outcome = validate_records(raw, spec, day, recent_row_counts=recent, chunk_size=chunk_size)
        del raw
        warehouse.replace_quarantine(spec.name, day, STAGE, outcome.quarantine)
        warehouse.replace_validation_results(spec.name, day, outcome.results)
    finally:
        if own_warehouse:
            warehouse.close()  # type: ignore[union-attr]
    docs_path = None
    if data_docs:
        try:
            docs_path = build_data_docs(outcome, settings.home / "data_docs")
        except Exception as exc:  # Data Docs are a view: never fail the partition over them
            log.warning("Data Docs not built for %s %s: %s", spec.name, day, exc, exc_info=True)
            outcome.warnings.append(f"Data Docs were not built: {exc}")
    if outcome.breaches:
        error = outcome.error(raw_uri=raw_uri, data_docs_path=docs_path)
        log.error("%s", error)
        raise error
    validated_uri = write_frame(
        outcome.valid, stage_uri(settings.staging_url, "validated", spec.name, day)
    )
    report = outcome.report(validated_uri=validated_uri, data_docs_path=docs_path)
    log.info(
        "validated source=%s date=%s: %d scraped, %d valid, %d quarantined %s",
        spec.name,
        day,
        report.scraped,
        report.valid,
        report.quarantined,
        report.quarantined_by_reason,
    )
    for warning in report.warnings:
        log.warning("source=%s date=%s: %s", spec.name, day, warning)
    return report
