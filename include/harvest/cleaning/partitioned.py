"""Cleaning on Dask: a validated partition larger than ``Settings.dask_threshold_rows``, cleaned
part by part with the result of :func:`harvest.cleaning.stage.clean_frame`.

The validated file (one Parquet row group per part) and the history (staged as parts) are
normalised one part per Dask task; nothing holds the partition at once. De-duplication runs
in two shuffles through files under the run's work folder (:mod:`harvest.cleaning.shuffle`):

1. **key**: every row goes to a bucket by its ``record_key`` (range buckets, so the buckets in
   order are sorted by key); each bucket runs :func:`harvest.cleaning.dedup.deduplicate` with
   ``key_only`` -- the whole key rule, since all rows of a key share a bucket.
2. **content and near**: the survivors and the history go to the near buckets of
   :mod:`harvest.cleaning.groups` (groups of unions of missing block fields, each split by the
   hash of the fields none of its unions lacks; a record in at most ``max_missing + 1``).
   Content-identical rows share each bucket they are in, and the whole block of a candidate
   pair is in the bucket of its union's group, so each bucket finds
   its content matches and the candidate pairs of Harvest's blocking (the sorted
   neighbourhood within each block, as on pandas) and scores them (dedupe); the pairs
   scored at or above ``threshold - review_margin`` (re-listings and borderline ones) go to
   files under ``found/``; the driver decides them from their order keys and scores in the
   order of :func:`harvest.cleaning.dedup.deduplicate` (later record first, best score
   first, earliest canonical record first) and reads the records of the ones it outputs.

Imputation statistics are computed over every part's values; the cleaned records are written
bucket by bucket into the staged file, sorted by (``record_key``, ``url``) as on pandas.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harvest.cleaning import near
from harvest.cleaning.dedup import deduplicate
from harvest.cleaning.groups import Layout, layout
from harvest.cleaning.impute import (
    MIN_BATCH_VALUES,
    fill_from_counts,
    impute_frame,
    merge_counts,
    value_counts,
)
from harvest.cleaning.matches import Tally
from harvest.cleaning.normalise import normalise_frame
from harvest.cleaning.resolve import resolve_found
from harvest.cleaning.shuffle import (
    Prepared,
    bucket_files,
    content_and_pairs,
    key_bounds,
    key_sample,
    prepare_batch,
    prepare_history,
    split_survivors,
)
from harvest.config.spec import SourceSpec
from harvest.storage.dask_tasks import run_tasks

log = logging.getLogger(__name__)
DROPPED = "dropped.npy"  # the ``_seq`` of the batch rows content and near matching dropped


@dataclass
class DaskCleaned:
    """What :func:`clean_on_dask` wrote and counted (the cleaned records are in ``rows`` rows
    of the file the caller named; the duplicates and kept matches in the Parquet files
    ``duplicates`` and ``kept_matches``, as pandas writes :data:`MATCH_COLUMNS` frames)."""

    input_rows: int
    output_rows: int
    duplicates: Path
    kept_matches: Path
    counts: dict[str, Any]
    history_rows: int = 0


def clean_on_dask(
    validated: Path,
    spec: SourceSpec,
    history: pd.DataFrame | list[Path] | None,
    *,
    client: Any,
    folder: Path,
    cleaned: Path,
    duplicates: Path,
    kept_matches: Path,
    day: dt.date | str = "",
) -> DaskCleaned:
    """:func:`harvest.cleaning.stage.clean_frame` of the validated Parquet file ``validated``
    on Dask (``client``: a ``distributed.Client``), working files under ``folder`` (removed by
    the caller), the cleaned records written to ``cleaned``, the duplicates and the kept matches
    to the Parquet files ``duplicates`` and ``kept_matches`` (:mod:`harvest.cleaning.matches`:
    never in the driver's memory whole); the same frames and counts.
    ``history``: the processed rows compared with, as a frame or as Parquet parts in their order
    (:func:`harvest.cleaning.stage.write_history_parts`: never read whole here).
    ``ValueError`` when the validated frame has no key column;
    :class:`harvest.storage.dask_tasks.DaskWorkerKilled` (naming the source, ``day`` and the
    task) when a worker dies, e.g. out of memory."""
    import pyarrow.parquet as pq

    from harvest.storage.dask_frames import concat_parts, unified_schema, write_parts

    file = pq.ParquetFile(validated)
    key = spec.detail.key
    if key not in file.schema_arrow.names:
        raise ValueError(
            f"clean source {spec.name}: the validated frame has no key column {key!r} "
            f"(columns: {', '.join(file.schema_arrow.names)})"
        )
    groups = file.metadata.num_row_groups
    sizes = [file.metadata.row_group(g).num_rows for g in range(groups)]
    offsets = np.cumsum([0, *sizes])
    part_rows = max(sizes, default=1) or 1

    def run(what: str, function: Any, *calls: tuple[Any, ...]) -> list[Any]:
        """``function`` of each call as a Dask task named ``what`` and its number in errors."""
        named = [(f"{what} {n}", function, call) for n, call in enumerate(calls)]
        return run_tasks(
            client, named, stage="clean", source=spec.name, day=day, part_rows=part_rows
        )

    buckets = max(1, groups)
    where, work = str(validated), str(folder)
    samples = run("key sample of part", key_sample, *[(where, g, key) for g in range(groups)])
    bounds = key_bounds([k for sample in samples for k in sample], buckets)
    batch = run(
        "normalise part", prepare_batch, *[(where, g, spec, work, int(offsets[g]), bounds, buckets)
                         for g in range(groups)]
    )  # fmt: skip
    days = [b.first_day for b in batch if b.first_day]
    first_day = min(days) if days else None
    catalogue = spec.mode == "catalogue"
    history_paths: list[Path] = []
    if isinstance(history, list):
        history_paths = [] if catalogue else history
    elif history is not None and len(history) and not catalogue:
        history_paths = write_parts(history, folder / "history-raw", max(sizes, default=1) or 1)
    del history
    history_sizes = [pq.ParquetFile(p).metadata.num_rows for p in history_paths]
    starts = np.cumsum([0, *history_sizes])
    prepared = run(
        "normalise history part", prepare_history, *[(str(p), n, int(starts[n]), spec, work, first_day, bounds, buckets)
                           for n, p in enumerate(history_paths)]
    )  # fmt: skip
    key_results = run("key bucket", _key_bucket, *[(spec, work, b) for b in range(buckets)])
    key_files = [_key_duplicates(work, b) for b, r in enumerate(key_results) if r.duplicates]

    status = "exact-key only: a catalogue keeps every key" if catalogue else ""
    if not catalogue:
        # on a worker, which trains it to score pairs anyway: the driver never loads dedupe
        usable, status = run("near matcher", _matcher_status, (spec,))[0]
        plan = _layout(spec, [*batch, *prepared], buckets)
        run(
            "near split of key bucket",
            split_survivors,
            *[(spec, work, b, plan) for b in range(buckets)],
        )
        found = run(  # each writes its matches and pairs under found/ (the driver reads them)
            "near bucket",
            content_and_pairs,
            *[(spec, work, g, plan, usable) for g in range(plan.buckets)],
        )
        log.info(
            "clean source=%s on Dask: %d near buckets in %d groups, the largest of %d rows",
            spec.name, plan.buckets, len(plan.groups), max(f[2] for f in found),
        )  # fmt: skip
    dropped, dup_tally, kept_tally = resolve_found(
        spec, folder, key_files, duplicates, kept_matches
    )
    # to a file the tasks read, not in each task's arguments (the client kept ~3 MB a task at 1M)
    np.save(folder / DROPPED, np.fromiter(dropped, dtype=np.int64, count=len(dropped)))
    del dropped
    observed = run(
        "impute statistics of key bucket",
        _observed,
        *[(spec, work, b) for b in range(buckets)],
    )
    fills = _fills(spec, observed, folder / "history")
    written = run(
        "write key bucket",
        _write_bucket,
        *[(spec, work, b, fills) for b in range(buckets)],
    )
    files = [f for b in range(buckets) if (f := folder / "cleaned" / f"{b:05d}.parquet").exists()]
    rows = concat_parts((pd.read_parquet(f) for f in files), cleaned, unified_schema(files))
    if rows < 0:  # every record a duplicate: an empty file of the cleaned columns
        empty = normalise_frame(file.schema_arrow.empty_table().to_pandas(), spec).frame
        empty["record_key"] = empty[key].astype("string")
        empty["is_duplicate_of"] = pd.Series(dtype="string")
        impute_frame(empty, spec).frame.to_parquet(cleaned, index=False)
    counts = _counts(spec, dup_tally, kept_tally, written, batch)
    counts["updated"] = sum(r.updated for r in key_results)
    counts["near_status"] = status
    log.info(
        "clean source=%s on Dask: %d in, %d out, %d buckets",
        spec.name, int(offsets[-1]), max(rows, 0), buckets,
    )  # fmt: skip
    history_rows = int(starts[-1])
    return DaskCleaned(
        int(offsets[-1]), max(rows, 0), duplicates, kept_matches, counts, history_rows
    )


def _layout(spec: SourceSpec, parts: list[Prepared], buckets: int) -> Layout:
    """The near buckets (:func:`harvest.cleaning.groups.layout`) of the parts' patterns and
    block fields' values, merged."""
    counts: dict[int, int] = {}
    distinct: dict[str, set[str]] = {}
    for part in parts:
        for pattern, rows in part.patterns.items():
            counts[pattern] = counts.get(pattern, 0) + rows
        for name, values in part.distinct.items():
            distinct.setdefault(name, set()).update(values)
    return layout(counts, {n: len(v) for n, v in distinct.items()}, spec, buckets)


def _counts(
    spec: SourceSpec,
    duplicates: Tally,
    kept: Tally,
    written: list[dict[str, dict[str, Any]]],
    batch: list[Prepared],
) -> dict[str, Any]:
    """The counts of :func:`harvest.cleaning.stage.clean_frame`, added up over the parts
    (``duplicates``, ``kept``: the rows written per rule, scope and action)."""
    from harvest.cleaning.dedup import COUNT_NAMES, DROP_REASONS

    tally = dict.fromkeys(COUNT_NAMES, 0)
    by_rule: dict[str, int] = {}
    for (rule, scope, _), n in duplicates.items():
        tally[f"{'near' if rule == 'near' else 'exact'}_{scope}"] += n
        by_rule[rule] = by_rule.get(rule, 0) + n
    summed: dict[str, dict[str, int]] = {"imputed": {}, "left_missing": {}, "corrected": {}}
    values: dict[str, Any] = {}
    corrections: dict[str, dict[str, str]] = {}
    for part in written:
        values.update(part["values"])
        for what in ("imputed", "left_missing"):
            for name, count in part[what].items():
                summed[what][name] = summed[what].get(name, 0) + count
    for prepared in batch:
        for name, fixes in prepared.corrections.items():
            corrections.setdefault(name, {}).update(fixes)
        for name, count in prepared.corrected.items():
            summed["corrected"][name] = summed["corrected"].get(name, 0) + count
    order = list(spec.detail.fields)
    return {
        **tally,
        "reported": sum(n for (_, _, action), n in kept.items() if action == "reported"),
        "borderline": sum(n for (_, _, action), n in kept.items() if action == "kept"),
        "dropped": {
            reason: by_rule.get(rule, 0)
            for rule, reason in zip(("key", "content", "near"), DROP_REASONS, strict=True)
        },
        **{what: {n: got[n] for n in order if n in got} for what, got in summed.items()},
        "imputed_values": {n: values[n] for n in order if n in summed["imputed"]},
        "corrections": {n: dict(sorted(corrections[n].items())) for n in order if n in corrections},
    }


def _matcher_status(spec: SourceSpec) -> tuple[bool, str]:
    """Whether ``spec``'s dedupe matcher is trained, and its status
    (:func:`harvest.cleaning.near.load_matcher`, cached per worker process)."""
    loaded = near.load_matcher(spec)
    return loaded.matcher is not None, loaded.status


@dataclass
class _KeyResult:
    updated: int
    duplicates: int  # rows in ``_key_duplicates(folder, bucket)`` (none written: 0)


def _key_duplicates(folder: str, bucket: int) -> Path:
    """Where key bucket ``bucket`` writes its duplicates (:data:`MATCH_COLUMNS`)."""
    return Path(folder) / "key" / f"duplicates-{bucket:05d}.parquet"


def _key_bucket(spec: SourceSpec, folder: str, bucket: int) -> _KeyResult:
    """Rule 1 on one key bucket: :func:`deduplicate` with ``key_only``; the survivors and the
    duplicates (when there are some) to files, read by the driver chunk by chunk."""
    batch, history = bucket_files(Path(folder) / "key", bucket)
    if batch is None:
        return _KeyResult(0, 0)
    result = deduplicate(batch, spec, history, key_only=True)
    result.frame.to_parquet(Path(folder) / "key" / f"kept-{bucket:05d}.parquet", index=False)
    if len(result.duplicates):
        result.duplicates.to_parquet(_key_duplicates(folder, bucket), index=False)
    return _KeyResult(result.counts["updated"], len(result.duplicates))


def _survivors(folder: str, bucket: int) -> pd.DataFrame | None:
    """Key bucket ``bucket``'s survivors less the rows content and near matching dropped (their
    ``_seq`` in ``<folder>/dropped.npy``)."""
    path = Path(folder) / "key" / f"kept-{bucket:05d}.parquet"
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    dropped = np.load(Path(folder) / DROPPED)
    return frame[~frame["_seq"].isin(dropped)].reset_index(drop=True)


def _observed(spec: SourceSpec, folder: str, bucket: int) -> dict[str, tuple[pd.Series, int]]:
    """One bucket's observed values of each imputable field counted
    (:func:`harvest.cleaning.impute.value_counts`: its distinct values only) and its number of
    missing values (the field's statistic is needed when any bucket has some)."""
    frame = _survivors(folder, bucket)
    out: dict[str, tuple[pd.Series, int]] = {}
    if frame is None:
        return out
    for name, field_spec in spec.detail.fields.items():
        if field_spec.impute == "none" or name not in frame:
            continue
        values = frame[name]
        counted = value_counts(values if field_spec.impute != "constant" else values.iloc[:0])
        out[name] = (counted, int(values.isna().sum()))
    return out


def _fills(
    spec: SourceSpec, observed: list[dict[str, tuple[pd.Series, int]]], history: Path
) -> dict[str, tuple[Any, str]]:
    """The fill value of each imputable field with missing values, from every bucket's value
    counts merged (:func:`harvest.cleaning.impute.fill_from_counts`: the same as
    :func:`harvest.cleaning.impute.fill_value` of every value; the history's values of the
    field, from its normalised parts under ``history``, when the batch has too few)."""
    fills: dict[str, tuple[Any, str]] = {}
    for name, field_spec in spec.detail.fields.items():
        parts = [o[name] for o in observed if name in o]
        missing = sum(m for _, m in parts)
        if not parts or not missing:
            continue
        counts = merge_counts([c for c, _ in parts])
        few = field_spec.impute != "constant" and int(counts.sum()) < MIN_BATCH_VALUES
        files = sorted(history.glob("*.parquet")) if few else []
        old = (
            pd.concat([pd.read_parquet(f, columns=[name]) for f in files], ignore_index=True)
            if files
            else None
        )
        fills[name] = fill_from_counts(name, field_spec, counts, old)
    return fills


def _write_bucket(
    spec: SourceSpec,
    folder: str,
    bucket: int,
    fills: dict[str, tuple[Any, str]],
) -> dict[str, dict[str, int]]:
    """One bucket's cleaned records (de-duplicated, imputed) to ``cleaned/<bucket>.parquet``."""
    frame = _survivors(folder, bucket)
    if frame is None or frame.empty:
        return {"imputed": {}, "left_missing": {}, "values": {}}
    frame = frame.drop(columns="_seq")
    imputed = impute_frame(frame, spec, fills=fills)
    out = Path(folder) / "cleaned"
    out.mkdir(exist_ok=True)
    imputed.frame.to_parquet(out / f"{bucket:05d}.parquet", index=False)
    return {
        "imputed": imputed.counts,
        "left_missing": imputed.left_missing,
        "values": imputed.values,
    }
