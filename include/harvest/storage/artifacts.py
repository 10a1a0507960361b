"""Files a stage leaves for people to read (the Data Docs page, the profiling report), recorded
per partition beside the staged Parquet so the app finds them.

``<staging_url>/artifacts/<source>/<YYYY-MM-DD>/<kind>.json`` holds one record per kind (where
the file is, what it cost); the profiling report's HTML sits beside it (``profile.html``).
Writing a kind again replaces its record (a re-run leaves one). Local files are replaced
atomically; any fsspec URL works as the staging URL does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from harvest.partitions import Partition


def artifact_uri(staging_url: str, partition: Partition, name: str) -> str:
    """``<staging_url>/artifacts/<source>/<YYYY-MM-DD>/<name>`` (``name`` with its suffix)."""
    return f"{staging_url.rstrip('/')}/artifacts/{partition.source}/{partition.iso}/{name}"


def local_path(uri: str) -> Path | None:
    """The file of a ``file://`` (or plain path) URI; ``None`` for a remote one."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None


def write_bytes(uri: str, data: bytes) -> str:
    """Write ``data`` to ``uri`` (a local file replaced atomically) and return the URI."""
    path = local_path(uri)
    if path is None:
        import fsspec

        with fsspec.open(uri, "wb") as remote:
            remote.write(data)
        return uri
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return uri


def read_bytes(uri: str) -> bytes | None:
    """The bytes at ``uri``; ``None`` when there is no such file."""
    path = local_path(uri)
    if path is None:
        import fsspec

        try:
            with fsspec.open(uri, "rb") as remote:
                data: bytes = remote.read()
                return data
        except FileNotFoundError:
            return None
    return path.read_bytes() if path.is_file() else None


def record_artifact(
    staging_url: str, partition: Partition, kind: str, record: dict[str, Any]
) -> str:
    """Record the ``kind`` artifact of ``partition`` (``record`` must be JSON: ``path`` or
    ``uri`` says where the file is); return the record's URI."""
    stamped = {**record, "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
    data = json.dumps(stamped, indent=1, sort_keys=True).encode()
    return write_bytes(artifact_uri(staging_url, partition, f"{kind}.json"), data)


def read_artifact(staging_url: str, partition: Partition, kind: str) -> dict[str, Any] | None:
    """The record of the ``kind`` artifact of ``partition``, or ``None`` when none was made."""
    data = read_bytes(artifact_uri(staging_url, partition, f"{kind}.json"))
    if data is None:
        return None
    record: dict[str, Any] = json.loads(data)
    return record
