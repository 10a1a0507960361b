"""Validation on Dask: a partition larger than ``Settings.dask_threshold_rows``, checked one Dask
partition per task and aggregated exactly.

The extracted records are staged as Parquet parts (:func:`harvest.storage.dask_frames.write_parts`,
``PART_ROWS`` rows each) and read back as a Dask DataFrame, one partition per part. Each task
runs :func:`harvest.validation.chunks.check_chunk` (the very checks of the pandas path: parse,
then the suite's batch- and record-level expectations through Great Expectations) on its part,
writes the part's valid records and keys next to it and returns its counts: per expectation
element and unexpected counts, success, observed value and exception, the non-null count and
nulled values per field, and its quarantine rows. The driver adds them up as the pandas path
adds up its chunks. What needs the whole partition is computed on Dask over the keys' parts:
the row count (summed) and the uniqueness of the natural key (the values seen more than once,
by a shuffled ``value_counts``, then the rows holding them), with Great Expectations' own
semantics (every row of a repeated non-null key is unexpected; nulls are not). Nothing holds
the partition's valid records at once: :meth:`PartitionedOutcome.write_valid` streams the parts
into the staged file, one part at a time.

Each expectation's sample of failing values (Data Docs) is the partition's first ones in row
order, as on the pandas path: the parts' samples in the parts' order, cut at
:data:`harvest.validation.gx.SAMPLES`; the key's uniqueness takes the first repeated rows'.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.records import NulledValues
from harvest.storage.dask_frames import PART_ROWS, concat_parts, read_parts, write_parts
from harvest.storage.dask_tasks import killed_workers, run_tasks
from harvest.validation.chunks import add_counts, check_chunk, suite_runner
from harvest.validation.gx import SAMPLES, CheckTally, GxRunner
from harvest.validation.quarantine import combine_quarantine, quarantine_rows
from harvest.validation.run import ValidationOutcome, judged_outcome
from harvest.validation.suite import build_suite

log = logging.getLogger(__name__)

TallyCounts = tuple[int, int, bool, Any, str | None, list[Any]]
"""One expectation's result on one part: element count, unexpected count, success, observed
value (``None`` when GX gave none), exception message, failing values (GX's first ones)."""


@dataclass
class PartSummary:
    """What one Dask task found in its part (its valid records and keys are in files)."""

    number: int
    rows: int
    tallies: list[TallyCounts]
    present: dict[str, int]
    nulled: dict[str, NulledValues]
    quarantine: list[pd.DataFrame]


@dataclass
class PartitionedOutcome(ValidationOutcome):
    """A :class:`ValidationOutcome` whose valid records stay in Parquet parts (``valid`` is
    empty; ``valid_rows`` counts them)."""

    parts: list[Path] = field(default_factory=list)
    ENGINE: ClassVar[str] = "dask"

    def valid_frames(self) -> Iterator[pd.DataFrame]:
        """The valid records, one part at a time, in the partition's order."""
        bad = pd.Index(self.quarantine["url"].unique())
        for path in self.parts:
            frame = pd.read_parquet(path)
            yield frame[~frame["url"].isin(bad)].reset_index(drop=True)

    def write_valid(self, uri: str) -> str:
        from harvest.storage.dask_frames import staging_path

        rows = concat_parts(self.valid_frames(), staging_path(uri))
        if rows != self.valid_rows:
            raise RuntimeError(f"{uri}: {rows} valid records written, {self.valid_rows} counted")
        return uri


_RUNNERS = threading.local()
"""Each worker thread's runner of the suite it checks parts of (a worker of several threads
runs parts at once: they never share one): ``key`` (the spec and the recent row counts as
JSON) and ``built`` (runner, record columns, expectations)."""


def _part_runner(
    spec: SourceSpec, recent: tuple[int, ...]
) -> tuple[list[CheckTally], GxRunner, list[str]]:
    """:func:`suite_runner` of the spec's suite, built once per worker thread and suite (a
    Great Expectations context, its data source and suites), with fresh tallies for each part."""
    key = json.dumps([spec.model_dump(mode="json"), list(recent)], sort_keys=True)
    if getattr(_RUNNERS, "key", None) != key:
        tallies, runner, columns = suite_runner(build_suite(spec, recent))
        _RUNNERS.key, _RUNNERS.built = key, (runner, columns, [t.expectation for t in tallies])
    runner, columns, expectations = _RUNNERS.built
    fresh = [CheckTally(e) for e in expectations]
    runner.retally(fresh)
    return fresh, runner, columns


def _check_part(
    path: str,
    spec: SourceSpec,
    day: dt.date,
    recent_row_counts: Sequence[int],
    folder: str,
    number: int,
) -> PartSummary:
    """One Dask task: :func:`check_chunk` on the raw part at ``path``; valid records and keys
    to Parquet files."""
    tallies, runner, record_columns = _part_runner(spec, tuple(recent_row_counts))
    raw_part = pd.read_parquet(path)
    checked = check_chunk(runner, record_columns, raw_part, spec, day)
    checked.valid.to_parquet(Path(folder) / f"valid-{number:05d}.parquet", index=False)
    checked.keys.to_parquet(Path(folder) / f"keys-{number:05d}.parquet", index=False)
    return PartSummary(
        number=number,
        rows=len(raw_part),
        tallies=[
            (t.element_count, t.unexpected_count, t.success, t.observed, t.exception, t.samples)
            for t in tallies
        ],
        present=checked.present,
        nulled=checked.nulled,
        quarantine=checked.quarantine,
    )


def validate_records_dask(
    raw: pd.DataFrame,
    spec: SourceSpec,
    logical_date: dt.date,
    *,
    client: Any,
    folder: Path,
    recent_row_counts: Sequence[int] = (),
    part_rows: int = PART_ROWS,
) -> PartitionedOutcome:
    """:func:`harvest.validation.run.validate_records` on Dask (``client``: a
    ``distributed.Client``); parts and valid records under ``folder``, which the caller removes
    once :meth:`PartitionedOutcome.write_valid` ran. Same outcome, valid records aside."""
    paths = write_parts(raw, folder / "raw", part_rows)
    return validate_parts(
        paths, len(raw), spec, logical_date, client, folder, recent_row_counts, part_rows
    )


def validate_parts(
    paths: list[Path],
    scraped: int,
    spec: SourceSpec,
    day: dt.date,
    client: Any,
    folder: Path,
    recent_row_counts: Sequence[int] = (),
    part_rows: int | None = None,
) -> PartitionedOutcome:
    """:func:`validate_records_dask` on extracted records already staged as Parquet ``paths``
    (``scraped``: their rows; ``part_rows``: a part's at most, said in errors).
    :class:`harvest.storage.dask_tasks.DaskWorkerKilled` when a part's task kills its workers."""
    recent = tuple(int(c) for c in recent_row_counts)
    suite = build_suite(spec, recent)
    tallies, _, _ = suite_runner(suite)
    calls = [
        (f"raw part {number}", _check_part, (str(path), spec, day, recent, str(folder), number))
        for number, path in enumerate(paths)
    ]
    summaries: list[PartSummary] = run_tasks(
        client, calls, stage="validate", source=spec.name, day=day, part_rows=part_rows
    )
    present = dict.fromkeys(spec.detail.fields, 0)
    nulled: dict[str, NulledValues] = {}
    quarantine_parts: list[pd.DataFrame] = []
    for summary in sorted(summaries, key=lambda s: s.number):
        for tally, (*counts, samples) in zip(tallies, summary.tallies, strict=True):
            tally.add_counts(*counts, samples=samples)
        add_counts(present, nulled, summary.present, summary.nulled)
        quarantine_parts.extend(summary.quarantine)
    numbers = range(len(summaries))
    key_parts = [folder / f"keys-{n:05d}.parquet" for n in numbers]
    keys = read_parts(key_parts, pd.read_parquet(key_parts[0]).iloc[:0])
    for tally in tallies:
        check = tally.check
        if check.expectation_type == "expect_table_row_count_to_be_between":
            low, high = check.min_value, check.max_value
            tally.success = (low is None or scraped >= low) and (high is None or scraped <= high)
            tally.observed = scraped
        elif check.expectation_type == "expect_column_values_to_be_unique":
            task = "the natural key's repeated values"
            with killed_workers(client, "validate", spec.name, day, part_rows, task):
                repeated = _repeated_rows(client, keys, str(check.column))
            tally.element_count, tally.unexpected_count = scraped, len(repeated)
            tally.success = repeated.empty
            tally.samples = repeated[str(check.column)].head(SAMPLES).tolist()
            if not repeated.empty:
                positions = np.arange(len(repeated), dtype=np.int64)
                quarantine_parts.append(
                    quarantine_rows(check, positions, repeated, repeated, spec.name, day)
                )
    quarantine = combine_quarantine(quarantine_parts)
    parts = [folder / f"valid-{n:05d}.parquet" for n in numbers]
    bad = pd.Index(quarantine["url"].unique())
    valid_rows = sum(
        int((~pd.read_parquet(p, columns=["url"])["url"].isin(bad)).sum()) for p in parts
    )
    return judged_outcome(
        PartitionedOutcome, spec, day, suite, tallies, scraped, quarantine, pd.DataFrame(),
        present, nulled, valid_rows=valid_rows, parts=parts,
    )  # fmt: skip


def _repeated_rows(client: Any, keys: Any, column: str) -> pd.DataFrame:
    """The rows (url and key) whose non-null ``column`` value occurs more than once, computed on
    Dask: a shuffled ``value_counts`` keeps only the repeated values in the driver."""
    counts = keys[column].value_counts(split_out=max(1, keys.npartitions // 8))
    repeated = client.compute(counts[counts > 1], sync=True)
    if repeated.empty:
        return keys._meta.iloc[:0]
    rows = keys[keys[column].isin(list(repeated.index))]
    return client.compute(rows, sync=True).reset_index(drop=True)


def validate_on_dask(
    records: dict[str, Any],
    spec: SourceSpec,
    day: dt.date,
    settings: Settings,
    stack: ExitStack,
    recent: Sequence[int],
) -> ValidationOutcome:
    """:func:`validate_parts` on the settings' cluster, of ``records["parts"]`` (a
    :class:`harvest.validation.raw_parts.RawParts`, staged from the raw store part by part) or of
    ``records["raw"]`` (the extracted records, whole) staged as parts in a work folder that
    ``stack`` removes and let go."""
    from harvest.storage.dask_frames import dask_client, work_dir
    from harvest.validation.raw_parts import RawParts

    parts: RawParts | None = records.pop("parts", None)
    if parts is None:
        raw = records.pop("raw")
        folder = stack.enter_context(work_dir(settings, spec.name, day.isoformat()))
        paths = write_parts(raw, folder / "raw", settings.dask_part_rows)
        parts = RawParts(paths, raw.iloc[:0], len(raw), folder)
        del raw
    log.info("validate source=%s date=%s: %d records, on Dask", spec.name, day, parts.rows)
    with dask_client(settings) as client:
        return validate_parts(
            parts.paths, parts.rows, spec, day, client, parts.folder, recent,
            settings.dask_part_rows,
        )  # fmt: skip
