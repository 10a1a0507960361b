"""The raw store: one document per fetched page, keyed by (source, logical date, URL).

Two backends behind one small interface. :class:`MongoRawStore` keeps documents in a MongoDB
collection with a unique index on the key and writes with unordered bulk upserts;
:class:`FileRawStore` keeps one JSON Lines file per (source, date) partition and replaces it
atomically. In both, writing the same page twice replaces it, so re-running a date never
duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from harvest.partitions import partition_date
from harvest.text import redact_url


def content_hash(body: bytes | str) -> str:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


@dataclass
class RawDocument:
    """One fetched page (or one page that could not be fetched)."""

    source: str
    logical_date: str  # ISO date of the partition, never the wall clock
    url: str
    status: int | None
    fetched_at: str  # ISO timestamp (UTC) of the fetch
    page_type: str  # "index" | "detail"
    content_hash: str | None = None
    fields: dict[str, str | None] = field(default_factory=dict)
    error: str | None = None
    rendered_with: str = "http"  # "http" | "chromium"
    body: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.logical_date, self.url)

    @property
    def doc_id(self) -> str:
        return hashlib.sha1("\x1f".join(self.key).encode(), usedforsecurity=False).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RawDocument:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class RawStore(Protocol):
    """What every raw-store backend offers."""

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        """Insert or replace documents by key; return how many were written."""

    def read_partition(self, source: str, logical_date: dt.date | str) -> list[RawDocument]:
        """All documents of one partition, ordered by URL."""

    def count(self, source: str, logical_date: dt.date | str) -> int:
        """How many documents one partition holds."""

    def delete_partition(self, source: str, logical_date: dt.date | str) -> int:
        """Remove one partition; return how many documents it held."""

    def uri(self, source: str, logical_date: dt.date | str) -> str:
        """Where one partition lives, for logs and task results."""

    def close(self) -> None: ...


def _json_line(row: dict[str, Any]) -> str:
    """One document as a JSON line, kept readable (UTF-8); a document holding a surrogate code
    point (a page rendered by a browser can) is written with ASCII escapes, which read back as
    the same string."""
    try:
        line = json.dumps(row, ensure_ascii=False, sort_keys=True)
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(row, ensure_ascii=True, sort_keys=True)
    return line


def _iso(day: dt.date | str) -> str:
    return partition_date(day).isoformat()


class FileRawStore:
    """JSON Lines partitions: ``<root>/<source>/<YYYY-MM-DD>.jsonl``, each replaced atomically.

    With ``deferred=True`` (what a crawl uses) upserts collect in memory and each touched
    partition is written once, atomically, by :meth:`flush` or :meth:`close`: the crawl replaces
    its partition as one transaction, and a large day costs one write instead of one per batch.
    """

    def __init__(self, root: Path | str, deferred: bool = False) -> None:
        self.root = Path(root)
        self.deferred = deferred
        self._pending: dict[Path, dict[str, dict[str, Any]]] = {}

    def path(self, source: str, logical_date: dt.date | str) -> Path:
        return self.root / source / f"{_iso(logical_date)}.jsonl"

    def _read(self, path: Path) -> dict[str, dict[str, Any]]:
        if not path.exists():
            return {}
        with path.open(encoding="utf-8") as handle:
            rows = (json.loads(line) for line in handle if line.strip())
            return {row["url"]: row for row in rows}

    def _write(self, path: Path, rows: dict[str, dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for url in sorted(rows):
                    handle.write(_json_line(rows[url]))
                    handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        by_partition: dict[Path, list[RawDocument]] = {}
        for doc in docs:
            by_partition.setdefault(self.path(doc.source, doc.logical_date), []).append(doc)
        written = 0
        for path, batch in by_partition.items():
            rows = self._pending.get(path) if self.deferred else None
            if rows is None:
                rows = self._read(path)
            for doc in batch:
                rows[doc.url] = doc.to_dict()
            if self.deferred:
                self._pending[path] = rows
            else:
                self._write(path, rows)
            written += len(batch)
        return written

    def flush(self) -> None:
        """Write every partition with deferred upserts (each atomically)."""
        while self._pending:
            path, rows = next(iter(self._pending.items()))
            self._write(path, rows)
            del self._pending[path]

    def _rows(self, source: str, logical_date: dt.date | str) -> dict[str, dict[str, Any]]:
        path = self.path(source, logical_date)
        pending = self._pending.get(path)
        return pending if pending is not None else self._read(path)

    def read_partition(self, source: str, logical_date: dt.date | str) -> list[RawDocument]:
        rows = self._rows(source, logical_date)
        return [RawDocument.from_dict(rows[url]) for url in sorted(rows)]

    def count(self, source: str, logical_date: dt.date | str) -> int:
        return len(self._rows(source, logical_date))

    def delete_partition(self, source: str, logical_date: dt.date | str) -> int:
        n = len(self._rows(source, logical_date))
        path = self.path(source, logical_date)
        self._pending.pop(path, None)
        path.unlink(missing_ok=True)
        return n

    def uri(self, source: str, logical_date: dt.date | str) -> str:
        return self.path(source, logical_date).resolve().as_uri()

    def close(self) -> None:
        self.flush()


class MongoRawStore:
    """MongoDB collection with a unique (source, logical_date, url) index; unordered bulk upserts."""

    def __init__(
        self, client: Any, database: str = "harvest", collection: str = "raw_pages"
    ) -> None:
        self.client = client
        self.collection = client[database][collection]
        self.collection.create_index(
            [("source", 1), ("logical_date", 1), ("url", 1)], unique=True, name="partition_url"
        )

    @classmethod
    def from_url(cls, url: str) -> MongoRawStore:
        from pymongo import MongoClient

        parsed = urlparse(url)
        database = unquote(parsed.path.lstrip("/")) or "harvest"
        return cls(MongoClient(url, tz_aware=True), database=database)

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        from pymongo import ReplaceOne

        ops = [
            ReplaceOne(
                {"source": d.source, "logical_date": d.logical_date, "url": d.url},
                {"_id": d.doc_id, **d.to_dict()},
                upsert=True,
            )
            for d in docs
        ]
        if not ops:
            return 0
        self.collection.bulk_write(ops, ordered=False)
        return len(ops)

    def read_partition(self, source: str, logical_date: dt.date | str) -> list[RawDocument]:
        cursor = self.collection.find(
            {"source": source, "logical_date": _iso(logical_date)}, {"_id": 0}
        ).sort("url", 1)
        return [RawDocument.from_dict(row) for row in cursor]

    def count(self, source: str, logical_date: dt.date | str) -> int:
        return int(
            self.collection.count_documents({"source": source, "logical_date": _iso(logical_date)})
        )

    def delete_partition(self, source: str, logical_date: dt.date | str) -> int:
        result = self.collection.delete_many({"source": source, "logical_date": _iso(logical_date)})
        return int(result.deleted_count)

    def uri(self, source: str, logical_date: dt.date | str) -> str:
        return (
            f"mongodb://{self.collection.database.name}/{self.collection.name}"
            f"?source={source}&logical_date={_iso(logical_date)}"
        )

    def close(self) -> None:
        self.client.close()


def open_raw_store(url: str, *, deferred: bool = False) -> FileRawStore | MongoRawStore:
    """Open the raw store a URL names: ``file:///path`` or ``mongodb://host/db``.

    ``deferred`` lets the file store write each partition once, at ``flush``/``close`` (MongoDB
    writes every batch as it comes, with unordered bulk upserts).
    """
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FileRawStore(unquote(urlparse(url).path), deferred=deferred)
    if scheme in ("mongodb", "mongodb+srv"):
        return MongoRawStore.from_url(url)
    raise ValueError(
        f"raw store URL {redact_url(url)!r}: unsupported scheme {scheme!r}; use file:///path or mongodb://host/db"
    )
