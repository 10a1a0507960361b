"""The Great Expectations plumbing: the only module that reads GX objects or calls GX's API.

It runs expectations on pandas frames through an ephemeral context, turns each expectation into
a :class:`Check` (Harvest's plain view of it) and each result into counts on a
:class:`CheckTally`, finds the rows a record-level expectation rejected, and renders Data Docs.
The rest of ``harvest.validation`` (quarantine, judging, the chunked run) sees only those values;
``suite.py`` builds the expectations themselves (``build_suite`` returns a GX suite).

Failing rows are read from GX's ``unexpected_index_list`` (positions in the frame GX saw):
asking GX for ``unexpected_index_column_names=["url"]`` gives the same rows but builds them one
``DataFrame.at`` call at a time, about 15x slower.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

NOT_NULL = "expect_column_values_to_not_be_null"
SAMPLES = 20
"""Failing values an expectation's result shows (GX's ``partial_unexpected_count``)."""
PARTITION_WIDE = {"expect_table_row_count_to_be_between", "expect_column_values_to_be_unique"}
"""Expectation types that need the whole partition at once (they run on the key frame)."""


@dataclass(frozen=True)
class Check:
    """One expectation as Harvest reads it: GX's type and column, the bookkeeping ``build_suite``
    wrote in its meta (``check``, ``field``, ``severity``, ``level``, ``threshold``) and the
    arguments a quarantine reason or a null-rate limit quotes."""

    expectation_type: str
    column: str | None
    check: str
    field: str | None
    severity: str
    level: str
    threshold: str
    min_value: Any = None
    max_value: Any = None
    regex: str = ""
    mostly: float = 1.0

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.check, self.field)


def check_of(expectation: gxe.Expectation) -> Check:
    """Harvest's view of a suite expectation (see :class:`Check`)."""
    meta = dict(expectation.meta or {})
    column = getattr(expectation, "column", None)
    return Check(
        expectation_type=str(expectation.expectation_type),
        column=None if column is None else str(column),
        check=str(meta.get("check")),
        field=meta.get("field"),
        severity=str(meta.get("severity", "warning")),
        level=str(meta.get("level")),
        threshold=str(meta.get("threshold")),
        min_value=getattr(expectation, "min_value", None),
        max_value=getattr(expectation, "max_value", None),
        regex=getattr(expectation, "regex", ""),
        mostly=float(getattr(expectation, "mostly", 1.0) or 1.0),
    )


def _key_of(result: ExpectationValidationResult) -> tuple[str, str | None]:
    config = result.expectation_config
    meta = (config.meta if config else None) or {}
    return (str(meta.get("check")), meta.get("field"))


@dataclass
class CheckTally:
    """One expectation's results, summed over the chunks of a partition."""

    expectation: gxe.Expectation
    element_count: int = 0
    unexpected_count: int = 0
    success: bool = True
    observed: Any = None
    exception: str | None = None
    result: ExpectationValidationResult | None = None  # first chunk's, for Data Docs
    samples: list[Any] = field(default_factory=list)
    """The first :data:`SAMPLES` failing values over the partition, in row order (GX's
    ``partial_unexpected_list`` of each chunk, in the chunks' order)."""
    check: Check = field(init=False)

    def __post_init__(self) -> None:
        self.check = check_of(self.expectation)

    def add(self, result: ExpectationValidationResult) -> None:
        data = result.result or {}
        info = result.exception_info or {}
        self.add_counts(
            int(data.get("element_count") or 0),
            int(data.get("unexpected_count") or 0),
            bool(result.success),
            data.get("observed_value"),
            str(info.get("exception_message")) if info.get("raised_exception") else None,
            observed_given="observed_value" in data,
            samples=data.get("partial_unexpected_list") or (),
        )
        if self.result is None:
            self.result = result

    def add_counts(
        self,
        element: int,
        unexpected: int,
        success: bool,
        observed: Any,
        exception: str | None,
        *,
        observed_given: bool | None = None,
        samples: Sequence[Any] = (),
    ) -> None:
        """Add one chunk's (or one Dask part's) result: counts summed, success and-ed, the first
        exception and the observed value of a failing chunk (else the first) kept, its failing
        values (``samples``, in row order) added to :attr:`samples` up to :data:`SAMPLES`.
        ``observed_given``: whether the result has an observed value (default: not ``None``)."""
        self.samples.extend(list(samples)[: max(0, SAMPLES - len(self.samples))])
        self.element_count += element
        self.unexpected_count += unexpected
        self.success = self.success and success
        if exception and self.exception is None:
            self.exception = exception
        given = observed is not None if observed_given is None else observed_given
        if given and (self.observed is None or not success):
            self.observed = observed


def ephemeral_context(data_docs_dir: Path | None = None) -> Any:
    """An in-memory GX context (no analytics, no progress bars); with ``data_docs_dir``, a local
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


def gx_frame(typed: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Only the columns a suite reads, nullable numbers as numpy floats (NaN for missing): GX
    compares numpy columns vectorised but nullable ones one value at a time, and fingerprints
    every column of a batch."""
    frame = typed[columns].copy()
    for name in columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iuf":
            frame[name] = frame[name].to_numpy(dtype=float, na_value=np.nan)
    return frame


class GxRunner:
    """Runs groups of a suite's expectations on pandas frames through one ephemeral context and
    adds each result to its expectation's :class:`CheckTally`."""

    def __init__(self, tallies: Sequence[CheckTally]) -> None:
        self.context = ephemeral_context()
        asset = self.context.data_sources.add_pandas("harvest").add_dataframe_asset("records")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("partition")
        self._tallies = {t.check.key: t for t in tallies}
        self._suites: dict[str, gx.ExpectationSuite] = {}

    def retally(self, tallies: Sequence[CheckTally]) -> None:
        """Add the results from now on to ``tallies`` (fresh ones of the same expectations):
        one runner, its context and suites built once, checks several parts apart."""
        self._tallies = {t.check.key: t for t in tallies}

    def add_group(self, name: str, tallies: Sequence[CheckTally]) -> None:
        """Declare a group of expectations that run together (as one GX suite)."""
        copies = [t.expectation.copy(update={"id": None}) for t in tallies]
        self._suites[name] = gx.ExpectationSuite(name=name, expectations=copies)

    def run(
        self, frame: pd.DataFrame, group: str, complete: bool
    ) -> list[ExpectationValidationResult]:
        """Run one group on ``frame``, tally the results and return them (``complete``: with the
        positions of the failing rows)."""
        suite = self._suites[group]
        if not suite.expectations:
            return []
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format: dict[str, Any] = (
            {"result_format": "COMPLETE", "partial_unexpected_count": SAMPLES}
            if complete
            else {"result_format": "BASIC", "partial_unexpected_count": SAMPLES}
        )
        results = list(batch.validate(suite, result_format=result_format).results)
        for result in results:
            self._tallies[_key_of(result)].add(result)
        return results

    def rejections(
        self, results: list[ExpectationValidationResult]
    ) -> Iterator[tuple[CheckTally, np.ndarray]]:
        """For each failed record-level expectation, its tally and the positions (in the frame
        GX saw) of the rows it rejected."""
        for result in results:
            tally = self._tallies[_key_of(result)]
            if tally.check.level != "record" or result.success:
                continue
            indices = (result.result or {}).get("unexpected_index_list") or []
            if indices:
                yield tally, np.asarray(indices, dtype=np.int64)


def render_data_docs(
    suite: gx.ExpectationSuite,
    tallies: Sequence[CheckTally],
    successes: Sequence[bool],
    *,
    success: bool,
    source: str,
    day: dt.date,
    docs_dir: Path,
) -> str:
    """Render ``suite`` and one partition's combined result (``successes`` as judged, one per
    tally) as GX Data Docs under ``docs_dir``; return the path of the partition's page
    (re-running a date replaces its page)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    docs_dir.mkdir(parents=True, exist_ok=True)
    context = ephemeral_context(docs_dir)
    stored = context.suites.add(
        gx.ExpectationSuite(
            name=suite.name,
            expectations=[e.copy(update={"id": None}) for e in suite.expectations],
        )
    )
    results = []
    for tally, passed in zip(tallies, successes, strict=False):
        summary: dict[str, Any] = {
            "element_count": int(tally.element_count),
            "unexpected_count": int(tally.unexpected_count),
            "unexpected_percent": (
                100.0 * tally.unexpected_count / tally.element_count if tally.element_count else 0.0
            ),
        }
        if tally.samples:
            summary["partial_unexpected_list"] = [_jsonable(v) for v in tally.samples]
        if tally.observed is not None:
            summary["observed_value"] = _jsonable(tally.observed)
        results.append(
            ExpectationValidationResult(
                success=bool(passed),
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
    run_name = f"{source}-{day.isoformat()}"
    run_time = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    suite_result = ExpectationSuiteValidationResult(
        success=success,
        results=results,
        suite_name=stored.name,
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
                "data_asset_name": source,
                "batch_identifiers": {"logical_date": day.isoformat()},
            },
            "batch_parameters": {"source": source, "logical_date": day.isoformat()},
        },
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=stored.name),
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
