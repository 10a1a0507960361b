"""Clean one partition: validated records in, records ready to load out.

:func:`clean_partition` reads the validated frame from staging, normalises it, removes exact and
near duplicates (within the batch and against the processed records of the last
``dedup.history_days`` days, read from the warehouse through its cache; a known key whose fields
changed is an update and is kept), imputes what the spec allows; a ``catalogue`` source only
drops repeated keys within the batch (every run observes the whole set; the load keeps versions),
adds ``record_key`` and writes three staged frames: ``cleaned`` (the records to load, in
a fixed order), ``duplicates`` (the records left out, each with the record it matched, the rule
and the score) and ``dedup_kept`` (pairs matched but kept: content-identical records reported,
borderline re-listing candidates); the load writes the last two to the warehouse's
``dedup_matches``. Same input, history and training pairs -> identical files.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import pandas as pd

from harvest.cleaning.dedup import DROP_REASONS, deduplicate
from harvest.cleaning.impute import impute_frame
from harvest.cleaning.normalise import normalise_frame
from harvest.cleaning.profile import profile_partition
from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import Partition
from harvest.storage.staging import StagedDataset, read_frame, write_frame

if TYPE_CHECKING:
    from harvest.storage.read_cache import ReadCache

log = logging.getLogger(__name__)


class HistorySource(Protocol):
    """What cleaning needs of the warehouse."""

    def read_history(
        self,
        source: str,
        since: dt.date,
        until: dt.date,
        columns: list[str] | None = None,
    ) -> pd.DataFrame: ...

    def history_parts(
        self,
        source: str,
        since: dt.date,
        until: dt.date,
        columns: list[str] | None,
        rows: int,
    ) -> Iterator[pd.DataFrame]: ...


@dataclass(frozen=True)
class CleanReport:
    """Counts of one cleaned partition and where its frames are."""

    source: str
    logical_date: str
    validated_uri: str
    cleaned_uri: str
    duplicates_uri: str
    input_rows: int
    output_rows: int
    exact_duplicates_batch: int
    exact_duplicates_history: int
    near_duplicates_batch: int
    near_duplicates_history: int
    history_rows: int
    history_status: str  # "used" or "disabled"
    updated: int = 0  # listings: known keys kept because their fields changed
    cleaned_at: str = ""  # UTC ISO time history was read (the load checks it is still current)
    imputed: dict[str, int] = field(default_factory=dict)
    imputed_values: dict[str, Any] = field(default_factory=dict)
    left_missing: dict[str, int] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # de-duplication drops per reason
    reported: int = 0  # content-identical records with other keys, kept (dedup.content_duplicates)
    borderline: int = (
        0  # near pairs scored just below dedup.threshold, kept (`harvest dedup review`)
    )
    near_status: str = ""  # whether re-listings were matched, and why not
    engine: str = "pandas"  # "dask": more staged valid records than HARVEST_DASK_THRESHOLD_ROWS
    kept_matches_uri: str = ""
    # the profiling report of the cleaned records (harvest.cleaning.profile): built, off,
    # timed out or failed; its cost is in its artifact record
    profile_status: str = ""
    profile_uri: str = ""

    @property
    def duplicates(self) -> int:
        return (
            self.exact_duplicates_batch
            + self.exact_duplicates_history
            + self.near_duplicates_batch
            + self.near_duplicates_history
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duplicates"] = self.duplicates
        return data


def history_columns(spec: SourceSpec) -> list[str]:
    """The processed columns de-duplication and imputation compare with."""
    columns = ["record_key", "logical_date", "url", "is_duplicate_of"]
    for name, field_spec in spec.detail.fields.items():
        columns.extend(field_spec.columns(name))
    return columns


def read_history(
    spec: SourceSpec, logical_date: dt.date, warehouse: HistorySource
) -> tuple[pd.DataFrame | None, str]:
    """Processed records of the ``dedup.history_days`` days before ``logical_date`` and a status;
    ``None`` when history is disabled. What the warehouse raises goes up: a partition is never
    de-duplicated without the history its spec asks for."""
    days = spec.dedup.history_days
    if days == 0:
        return None, "disabled"
    since, until = _history_days(spec, logical_date)
    history = warehouse.read_history(spec.name, since, until, history_columns(spec))
    log.info(
        "clean source=%s date=%s: %d history rows from %s to %s",
        spec.name,
        logical_date,
        len(history),
        since,
        until,
    )
    return history, "used"


def write_history_parts(
    spec: SourceSpec, logical_date: dt.date, warehouse: HistorySource, folder: Path, rows: int
) -> list[Path]:
    """The rows :func:`read_history` reads, streamed to ``folder/part-N.parquet`` files of at
    most ``rows`` rows (in its order), never all in memory; returns the files."""
    since, until = _history_days(spec, logical_date)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    total = 0
    for frame in warehouse.history_parts(spec.name, since, until, history_columns(spec), rows):
        paths.append(folder / f"part-{len(paths):05d}.parquet")
        frame.to_parquet(paths[-1], index=False)
        total += len(frame)
    log.info(
        "clean source=%s date=%s: %d history rows from %s to %s, in %d parts",
        spec.name, logical_date, total, since, until, len(paths),
    )  # fmt: skip
    return paths


def _history_days(spec: SourceSpec, logical_date: dt.date) -> tuple[dt.date, dt.date]:
    since = logical_date - dt.timedelta(days=spec.dedup.history_days)
    return since, logical_date - dt.timedelta(days=1)


class CleanedFrames(NamedTuple):
    """What :func:`clean_frame` returns."""

    cleaned: pd.DataFrame
    duplicates: pd.DataFrame
    counts: dict[str, Any]
    kept_matches: pd.DataFrame


def clean_frame(
    validated: pd.DataFrame,
    spec: SourceSpec,
    history: pd.DataFrame | None = None,
) -> CleanedFrames:
    """The pure part of :func:`clean_partition`: the cleaned frame, the duplicates, the counts
    and the matches kept (see :mod:`harvest.cleaning.dedup`)."""
    normalised = normalise_frame(validated, spec)
    frame = normalised.frame
    key = spec.detail.key
    if key not in frame:
        raise ValueError(
            f"clean source {spec.name}: the validated frame has no key column {key!r} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    frame["record_key"] = frame[key].astype("string")
    old = None
    catalogue = spec.mode == "catalogue"
    if history is not None and len(history) and not catalogue:
        old = normalise_frame(history, spec).frame
    deduped = deduplicate(frame, spec, old, key_only=catalogue)
    if deduped.near_status:
        # a spec that says re-listings exist but matches none of them is said louder
        unmatched = spec.dedup.relistings and deduped.near_status.startswith("exact-key only")
        (log.warning if unmatched else log.info)(
            "dedup source=%s: %s", spec.name, deduped.near_status
        )
    imputed = impute_frame(deduped.frame, spec, old)
    counts: dict[str, Any] = {
        "updated": 0,
        **deduped.counts,
        "dropped": deduped.dropped,
        "near_status": deduped.near_status,
        "imputed": imputed.counts,
        "imputed_values": {k: _plain(v) for k, v in imputed.values.items()},
        "left_missing": imputed.left_missing,
        "corrected": normalised.corrected,
        "corrections": normalised.corrections,
    }
    return CleanedFrames(imputed.frame, deduped.duplicates, counts, deduped.kept_matches)


def clean_partition(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    validated_uri: str | None = None,
    warehouse: HistorySource | None = None,
    cache: ReadCache | None = None,
    profile: bool = True,
) -> CleanReport:
    """Clean one partition from staging to staging (see the module docstring), then profile the
    cleaned records (``profile``; :func:`harvest.cleaning.profile.profile_partition`, bounded by
    the settings, a warning when it fails).

    ``warehouse`` defaults to the one ``settings`` names, opened (and migrated) by
    :func:`harvest.storage.warehouse.open_warehouse`, with history read through ``cache`` or
    ``settings.cache_url``'s. An unreachable warehouse raises ``WarehouseUnavailable`` (naming
    the server, the source and the date), as in the Airflow task: history de-duplication is
    never skipped silently.
    """
    partition = Partition.of(spec.name, partition)
    day, staging = partition.day, settings.staging_url
    validated_uri = validated_uri or partition.staged_uri(staging, StagedDataset.VALIDATED)
    on_dask = _on_dask(validated_uri, settings)
    validated = None if on_dask else read_frame(validated_uri)
    cleaned_at = dt.datetime.now(dt.UTC).isoformat()
    compared = bool(spec.dedup.history_days) and spec.mode != "catalogue"
    history: pd.DataFrame | None = None
    status = "used" if compared else "disabled"
    if compared and not on_dask and warehouse is not None:
        history, status = read_history(spec, day, warehouse)
    elif compared and not on_dask:
        from harvest.storage.warehouse import open_warehouse

        with open_warehouse(settings, spec, day, cache=cache) as owned:
            history, status = read_history(spec, day, owned)
    cleaned_uri = partition.staged_uri(staging, StagedDataset.CLEANED)
    duplicates_uri = partition.staged_uri(staging, StagedDataset.DUPLICATES)
    kept_matches_uri = partition.staged_uri(staging, StagedDataset.DEDUP_KEPT)
    if validated is None:  # on Dask: history streamed to parts, never read whole; the matches
        # written to the (local) staged files in chunks, never held whole
        write_history = _history_writer(spec, day, settings, warehouse, cache) if compared else None
        uris = (validated_uri, cleaned_uri, duplicates_uri, kept_matches_uri)
        cleaned, counts = _clean_on_dask(uris, spec, partition, write_history, settings)
        input_rows, output_rows = counts.pop("input_rows"), counts.pop("output_rows")
        history_rows = counts.pop("history_rows")
    else:
        cleaned, duplicates, counts, kept_matches = clean_frame(validated, spec, history)
        cleaned_uri = write_frame(cleaned, cleaned_uri)
        input_rows, output_rows = len(validated), len(cleaned)
        history_rows = 0 if history is None else len(history)
        duplicates_uri = write_frame(duplicates, duplicates_uri)
        kept_matches_uri = write_frame(kept_matches, kept_matches_uri)
    profiled = profile_partition(cleaned, partition, settings) if profile else None
    report = CleanReport(
        source=spec.name,
        logical_date=day.isoformat(),
        validated_uri=validated_uri,
        cleaned_uri=cleaned_uri,
        duplicates_uri=duplicates_uri,
        input_rows=input_rows,
        output_rows=output_rows,
        exact_duplicates_batch=counts["exact_batch"],
        exact_duplicates_history=counts["exact_history"],
        near_duplicates_batch=counts["near_batch"],
        near_duplicates_history=counts["near_history"],
        history_rows=history_rows,
        history_status=status,
        updated=counts["updated"],
        cleaned_at=cleaned_at,
        imputed=counts["imputed"],
        imputed_values=counts["imputed_values"],
        left_missing=counts["left_missing"],
        corrected=counts["corrected"],
        corrections=counts["corrections"],
        dropped={reason: counts["dropped"].get(reason, 0) for reason in DROP_REASONS},
        reported=counts.get("reported", 0),
        borderline=counts.get("borderline", 0),
        near_status=counts["near_status"],
        engine="dask" if on_dask else "pandas",
        kept_matches_uri=kept_matches_uri,
        profile_status=profiled.status if profiled else "off",
        profile_uri=profiled.uri if profiled else "",
    )
    log.info(
        "cleaned source=%s date=%s: %d in, %d duplicates, %d out -> %s",
        spec.name,
        day,
        report.input_rows,
        report.duplicates,
        report.output_rows,
        cleaned_uri,
    )
    return report


def _on_dask(validated_uri: str, settings: Settings) -> bool:
    """Whether the validated frame at ``validated_uri`` is a local file of more rows than the
    Dask threshold (its row count read from the Parquet footer)."""
    from harvest.storage.dask_frames import engages, staging_path
    from harvest.storage.staging import frame_parts

    if not settings.dask_threshold_rows:
        return False
    try:
        local = staging_path(validated_uri).is_file()
    except ValueError:  # not a local staging URI
        return False
    return local and engages(frame_parts(validated_uri, settings.dask_part_rows).rows, settings)


def _history_writer(
    spec: SourceSpec,
    day: dt.date,
    settings: Settings,
    warehouse: HistorySource | None,
    cache: ReadCache | None,
) -> Callable[[Path], list[Path]]:
    """What writes the partition's history as parts into a folder (:func:`write_history_parts`,
    ``settings.dask_part_rows`` rows each) from ``warehouse`` or the one ``settings`` names."""

    def write(folder: Path) -> list[Path]:
        rows = settings.dask_part_rows
        if warehouse is not None:
            return write_history_parts(spec, day, warehouse, folder, rows)
        from harvest.storage.warehouse import open_warehouse

        with open_warehouse(settings, spec, day, cache=cache) as owned:
            return write_history_parts(spec, day, owned, folder, rows)

    return write


def _clean_on_dask(
    uris: tuple[str, str, str, str],
    spec: SourceSpec,
    partition: Partition,
    write_history: Callable[[Path], list[Path]] | None,
    settings: Settings,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`harvest.cleaning.partitioned.clean_on_dask` on the settings' cluster from the
    validated URI to the cleaned, duplicates and kept matches URIs (``uris``, local files), the
    history written as parts by ``write_history`` (``None``: none compared); the cleaned head
    profiled and the counts."""
    import pyarrow.parquet as pq

    from harvest.cleaning.partitioned import clean_on_dask
    from harvest.storage.dask_frames import dask_client, staging_path, work_dir

    log.info("clean source=%s date=%s: on Dask", spec.name, partition.day)
    validated_uri, cleaned_uri, duplicates_uri, kept_uri = uris
    target = staging_path(cleaned_uri)
    with work_dir(settings, spec.name, partition.iso) as folder:
        history = write_history(folder / "history-raw") if write_history else None
        with dask_client(settings) as client:
            done = clean_on_dask(
                staging_path(validated_uri), spec, history, client=client, folder=folder,
                cleaned=target, duplicates=staging_path(duplicates_uri),
                kept_matches=staging_path(kept_uri), day=partition.day,
            )  # fmt: skip
    counts = {**done.counts, "input_rows": done.input_rows, "output_rows": done.output_rows}
    counts["history_rows"] = done.history_rows
    counts["imputed_values"] = {k: _plain(v) for k, v in counts["imputed_values"].items()}
    with pq.ParquetFile(target) as file:
        head = next(file.iter_batches(batch_size=settings.profile_max_rows or 1), None)
    profiled = head.to_pandas() if head is not None else pd.DataFrame()
    return profiled, counts


def _plain(value: Any) -> Any:
    """A JSON-friendly form of an imputed value (dates as ISO text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value
