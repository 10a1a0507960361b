"""One chunk of a partition's records through the suite: parsed, then checked by Great
Expectations; what the pandas path (:func:`harvest.validation.run.validate_records`, chunk by
chunk) and the Dask path (:mod:`harvest.validation.partitioned`, one Dask partition per task)
both run, so that the checks are expressed once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import great_expectations as gx
import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.records import NulledValues, parse_records
from harvest.validation.gx import PARTITION_WIDE, CheckTally, GxRunner, gx_frame
from harvest.validation.quarantine import canonical_values, parse_issue_rows, quarantine_rows


@dataclass
class ChunkChecks:
    """What :func:`check_chunk` found in one chunk of records."""

    valid: pd.DataFrame  # typed records that failed no record-level check
    quarantine: list[pd.DataFrame]  # quarantine rows (record checks and parse issues)
    keys: pd.DataFrame  # url and natural key of every record, for the partition-wide checks
    present: dict[str, int]  # non-null values per field
    nulled: dict[str, NulledValues]


def suite_runner(suite: gx.ExpectationSuite) -> tuple[list[CheckTally], GxRunner, list[str]]:
    """A tally per expectation of ``suite``, a runner with its groups (``record``, ``batch``,
    ``partition``) and the columns the record-level group reads (``url`` first)."""
    tallies = [CheckTally(e) for e in suite.expectations]
    runner = GxRunner(tallies)
    groups: dict[str, list[CheckTally]] = {"record": [], "batch": [], "partition": []}
    for tally in tallies:
        if tally.check.expectation_type in PARTITION_WIDE:
            groups["partition"].append(tally)
        elif tally.check.level == "record":
            groups["record"].append(tally)
        else:
            groups["batch"].append(tally)
    for name, group in groups.items():
        runner.add_group(name, group)
    columns = dict.fromkeys(str(t.check.column or t.check.field) for t in groups["record"])
    return tallies, runner, ["url", *columns]


def check_chunk(
    runner: GxRunner,
    record_columns: list[str],
    raw_chunk: pd.DataFrame,
    spec: SourceSpec,
    day: dt.date,
) -> ChunkChecks:
    """Parse one chunk of extracted records (index 0..n-1) and run the batch- and record-level
    expectations on it (tallied by ``runner``); the same for the pandas and the Dask path."""
    parsed = parse_records(raw_chunk, spec)
    typed = parsed.frame
    present = {name: int(typed[name].notna().sum()) for name in spec.detail.fields}
    runner.run(typed, "batch", complete=False)
    checked = gx_frame(canonical_values(typed, spec), record_columns)
    failures = [
        quarantine_rows(tally.check, positions, typed, raw_chunk, spec.name, day)
        for tally, positions in runner.rejections(runner.run(checked, "record", complete=True))
    ]
    if not parsed.issues.empty:
        failures.append(parse_issue_rows(parsed.issues, spec))
    bad = pd.concat([f["url"] for f in failures]) if failures else pd.Series([], dtype="string")
    return ChunkChecks(
        valid=typed[~typed["url"].isin(bad)],
        quarantine=failures,
        keys=typed[["url", spec.detail.key]],
        present=present,
        nulled=dict(parsed.nulled),
    )


def add_counts(
    present: dict[str, int],
    nulled: dict[str, NulledValues],
    more_present: dict[str, int],
    more_nulled: dict[str, NulledValues],
) -> None:
    """Add one chunk's non-null counts and nulled values to the partition's (in place)."""
    for name, count in more_present.items():
        present[name] += count
    for name, values in more_nulled.items():
        seen = nulled.get(name)
        nulled[name] = (
            values
            if seen is None
            else NulledValues(seen.count + values.count, seen.example, seen.reason)
        )
