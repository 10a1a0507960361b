"""Frames handed from one task to the next, as Parquet files under ``Settings.staging_url``.

Tasks pass the URI, never the frame. Writing the same (stage, source, date) again replaces the
file atomically, so a retried task leaves one copy. ``file://`` is the embedded default; any
fsspec URL (a shared volume, ``s3://``) works in production.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from harvest.partitions import Partition


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
