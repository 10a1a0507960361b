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
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pandas as pd

from harvest.partitions import Partition

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
        raise _not_staged(uri) from exc


def _not_staged(uri: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"staged partition {uri} does not exist: run the task that writes it first"
    )


@contextmanager
def _parquet_file(uri: str) -> Iterator[pq.ParquetFile]:
    """The staged Parquet file at ``uri`` (a local path or any fsspec URL), open for its footer
    and its batches; ``FileNotFoundError`` naming the URI when it is not there."""
    import pyarrow.parquet as pq

    parsed = urlparse(uri)
    with ExitStack() as stack:
        try:
            if parsed.scheme in ("", "file"):
                file = pq.ParquetFile(unquote(parsed.path))
            else:
                import fsspec

                file = pq.ParquetFile(stack.enter_context(fsspec.open(uri, "rb")))
        except FileNotFoundError as exc:
            raise _not_staged(uri) from exc
        with file:
            yield file


def staged_rows(uri: str) -> int:
    """The rows of the staged frame at ``uri``, from its Parquet footer (nothing else is read);
    ``FileNotFoundError`` naming the URI when it is not there."""
    with _parquet_file(uri) as file:
        return int(file.metadata.num_rows)


@contextmanager
def staged_batches(
    uri: str, rows: int, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatchReader]:
    """The staged frame at ``uri`` as a reader of Arrow record batches of at most ``rows`` rows,
    read one at a time while the file is open (its schema known before any is read): all its
    columns, or those of ``columns`` it has. ``FileNotFoundError`` naming the URI when it is
    not there."""
    import pyarrow as pa

    with _parquet_file(uri) as file:
        schema = file.schema_arrow
        wanted = None if columns is None else [c for c in columns if c in schema.names]
        if wanted is not None:
            schema = pa.schema([schema.field(c) for c in wanted], metadata=schema.metadata)
        batches = file.iter_batches(batch_size=rows, columns=wanted)
        yield pa.RecordBatchReader.from_batches(schema, batches)


@dataclass(frozen=True)
class FrameParts:
    """A partition's records in parts, for one larger than memory: ``parts()`` yields them (a
    fresh iterator each call, e.g. over a staged Parquet file), ``rows`` in all."""

    parts: Callable[[], Iterator[pd.DataFrame]]
    rows: int


def frame_parts(uri: str, rows: int) -> FrameParts:
    """The staged frame at ``uri`` (a local Parquet file) as :class:`FrameParts` of at most
    ``rows`` records, read one part at a time (the file's row count comes from its footer)."""

    def parts() -> Iterator[pd.DataFrame]:
        with staged_batches(uri, rows) as batches:
            for batch in batches:
                yield batch.to_pandas()

    return FrameParts(parts, staged_rows(uri))


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
