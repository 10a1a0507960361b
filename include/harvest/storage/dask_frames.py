"""Dask for partitions larger than memory: the cluster, the threshold and the staged parts.

A partition of more records than ``Settings.dask_threshold_rows`` (``HARVEST_DASK_THRESHOLD_ROWS``,
default 500,000; 0 turns Dask off) is validated, cleaned and loaded on Dask DataFrames read part by part
from Parquet files under staging (:func:`work_dir`), on a ``dask.distributed`` cluster: the one
whose scheduler ``Settings.dask_scheduler`` names (``HARVEST_DASK_SCHEDULER`` or the Airflow
Connection ``harvest_dask``, e.g. ``tcp://dask-scheduler:8786``; its workers must see the staging
folder), else a ``LocalCluster`` of worker processes started in the task and closed after it.

Dask's ``dataframe.convert-string`` is turned off, in this process and in the local workers:
left on, it turns pandas 3's ``str`` columns into ``string[pyarrow]`` and the Dask path's frames
would no longer equal the pandas path's.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from distributed import Client

    from harvest.config.settings import Settings

PART_ROWS = 100_000
"""Rows of one Dask partition (one staged part) unless ``Settings.dask_part_rows`` says."""
LOCAL_WORKERS = 2
LOCAL_WORKER_MEMORY = "1.5GiB"  # per worker process unless Settings.dask_worker_memory says
CONVERT_STRING = {"dataframe.convert-string": False}


def engages(rows: int, settings: Settings) -> bool:
    """Whether a partition of ``rows`` records runs on Dask (``settings.dask_threshold_rows``)."""
    limit = settings.dask_threshold_rows
    return bool(limit) and rows > limit


@contextmanager
def dask_client(settings: Settings) -> Iterator[Client]:
    """A ``distributed.Client`` of ``settings.dask_scheduler``'s cluster, or of a
    ``LocalCluster`` (``LOCAL_WORKERS`` processes, one thread each, ``settings.dask_worker_memory``
    each, no dashboard) closed on exit. ``ValueError`` for a memory that is no size."""
    import dask
    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster

    dask.config.set(CONVERT_STRING)
    if settings.dask_scheduler:
        with Client(settings.dask_scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    memory = settings.dask_worker_memory
    try:
        parse_bytes(memory)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"HARVEST_DASK_WORKER_MEMORY={memory!r} is no size (e.g. 1.5GiB, 2GB): {error}"
        ) from error
    env = {"DASK_DATAFRAME__CONVERT_STRING": "False"}
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=LOCAL_WORKERS,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            dashboard_address=None,
            env=env,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def staging_path(staging_url: str) -> Path:
    """The local folder of a ``file://`` staging URL; ``ValueError`` for another scheme (the Dask
    path writes its parts as files the workers read)."""
    parsed = urlparse(staging_url)
    if parsed.scheme not in ("", "file"):
        raise ValueError(
            f"the Dask path needs a staging folder its workers share (file://), not {staging_url}"
        )
    return Path(unquote(parsed.path))


@contextmanager
def work_dir(settings: Settings, source: str, iso_day: str) -> Iterator[Path]:
    """A fresh folder ``<staging>/_dask/<source>/<date>-<id>`` for one run's parts, removed after."""
    path = staging_path(settings.staging_url) / "_dask" / source / f"{iso_day}-{uuid.uuid4().hex}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_parts(frame: pd.DataFrame, folder: Path, rows: int = PART_ROWS) -> list[Path]:
    """``frame`` as Parquet files of ``rows`` rows each, ``part-00000.parquet``..., in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, start in enumerate(range(0, max(len(frame), 1), rows)):
        path = folder / f"part-{number:05d}.parquet"
        frame.iloc[start : start + rows].to_parquet(path, index=False)
        paths.append(path)
    return paths


def read_parts(paths: Iterable[Path], meta: pd.DataFrame) -> Any:
    """A Dask DataFrame with one partition per Parquet file of ``paths``, in their order."""
    import dask.dataframe as dd

    files = [str(p) for p in paths]
    return dd.from_map(_read_part, files, meta=meta, enforce_metadata=False)  # type: ignore[no-untyped-call]


def unified_schema(paths: Iterable[Path]) -> pa.Schema | None:
    """One schema for Parquet files written part by part: a column that is all null in one part
    (type ``null``) takes its type from the others; the first file's pandas metadata."""
    schemas = [pq.read_schema(p) for p in paths]
    if not schemas:
        return None
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    return unified.with_metadata(schemas[0].metadata)


def _read_part(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


def concat_parts(
    frames: Iterable[pd.DataFrame], uri_path: Path, schema: pa.Schema | None = None
) -> int:
    """Write ``frames`` one after another into one Parquet file (atomically replaced), one row
    group each, holding one frame at a time; returns the rows written. ``schema`` (default: the
    first frame's, with its pandas metadata) is the file's; an empty input writes nothing and
    returns -1."""
    uri_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = uri_path.with_name(f".{uri_path.name}.{uuid.uuid4().hex}")
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, schema or table.schema)
                table = table.cast(writer.schema)
            else:
                table = table.cast(writer.schema)
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            return -1
        writer.close()
        writer = None
        os.replace(tmp, uri_path)
        return rows
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
