"""Frames handed from one task to the next, as Parquet files under ``Settings.staging_url``.

Tasks pass the URI, never the frame. Writing the same (stage, source, date) again replaces the
file atomically, so a retried task leaves one copy. ``file://`` is the embedded default; any
fsspec URL (a shared volume, ``s3://``) works in production.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pandas as pd

from harvest.partitions import Partition

if TYPE_CHECKING:
    from harvest.config.settings import Settings


log = logging.getLogger(__name__)


class StagedDataset(StrEnum):
    """The frames one stage stages for the next; the value is the folder under the staging URL."""

    VALIDATED = "validated"
    """Records that passed validation (validate -> clean)."""
    CLEANED = "cleaned"
    """Normalised, de-duplicated, imputed records (clean -> load)."""
    DUPLICATES = "duplicates"
    """Records clean removed as duplicates, with the record each duplicates (kept for audit)."""
    DEDUP_KEPT = "dedup_kept"
    """Pairs de-duplication matched but kept (content-identical reported, borderline near)."""


def stage_uri(staging_url: str, dataset: StagedDataset, source: str, day: dt.date) -> str:
    """``<staging_url>/<dataset>/<source>/<YYYY-MM-DD>.parquet``
    (:meth:`harvest.partitions.Partition.staged_uri`)."""
    return Partition(source, day).staged_uri(staging_url, dataset)


def write_frame(frame: pd.DataFrame, uri: str) -> str:
    """Write a frame to ``uri`` (replacing it atomically for local files) and return the URI."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        frame.to_parquet(uri, index=False)
    return uri


def read_frame(uri: str) -> pd.DataFrame:
    """Read a staged frame; a clear error names the URI when it is not there."""
    parsed = urlparse(uri)
    target = unquote(parsed.path) if parsed.scheme in ("", "file") else uri
    try:
        return pd.read_parquet(target)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"staged partition {uri} does not exist: run the task that writes it first"
        ) from exc


@dataclass(frozen=True)
class FrameParts:
    """A partition's records in parts, for one larger than memory: ``parts()`` yields them (a
    fresh iterator each call, e.g. over a staged Parquet file), ``rows`` in all."""

    parts: Callable[[], Iterator[pd.DataFrame]]
    rows: int


def frame_parts(uri: str, rows: int) -> FrameParts:
    """The staged frame at ``uri`` (a local Parquet file) as :class:`FrameParts` of at most
    ``rows`` records, read one part at a time (the file's row count comes from its footer)."""
    import pyarrow.parquet as pq

    path = unquote(urlparse(uri).path) if urlparse(uri).scheme in ("", "file") else uri
    total = pq.ParquetFile(path).metadata.num_rows

    def parts() -> Iterator[pd.DataFrame]:
        with pq.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=rows):
                yield batch.to_pandas()

    return FrameParts(parts, total)


def read_frame_or_parts(uri: str, settings: Settings) -> pd.DataFrame | FrameParts:
    """The staged frame at ``uri``: whole (:func:`read_frame`), or, when it is a local file of
    more rows than ``settings.dask_threshold_rows``, as :class:`FrameParts` of
    ``settings.dask_part_rows`` rows (what the load streams through its COPY)."""
    from harvest.storage.dask_frames import engages

    parsed = urlparse(uri)
    local = parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_file()
    if settings.dask_threshold_rows and local:
        parts = frame_parts(uri, settings.dask_part_rows)
        if engages(parts.rows, settings):
            log.info("%s: %d rows, read in parts of %d", uri, parts.rows, settings.dask_part_rows)
            return parts
    return read_frame(uri)
