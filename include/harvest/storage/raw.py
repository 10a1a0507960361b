"""The raw store: one document per fetched page, keyed by (source, logical date, URL).

Two backends behind one small interface. :class:`~harvest.storage.raw_mongo.MongoRawStore` keeps documents in a MongoDB
collection with a unique index on the key and writes with unordered bulk upserts;
:class:`FileRawStore` keeps one JSON Lines file per (source, date) partition and replaces it
atomically. In both, writing the same page twice replaces it, so re-running a date never
duplicates; and a crawl that completes calls :meth:`RawStore.commit`, after which the partition
holds exactly the pages that crawl wrote (pages an earlier run of the date saw and this one did
not are gone). A crawl interrupted before its commit leaves the previous partition's pages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from harvest.text import redact_url

if TYPE_CHECKING:
    from harvest.storage.raw_mongo import MongoRawStore

logger = logging.getLogger(__name__)


def content_hash(body: bytes | str) -> str:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


@dataclass
class RawDocument:
    """One fetched page (or one page that could not be fetched), keyed by the URL requested.

    ``error`` is set for a failed page (HTTP error, network error, a redirect off-site or in a
    loop, a login/blocked page, a truncated or empty body, a non-HTML page, an extraction error).
    """

    source: str
    logical_date: str  # ISO date of the partition, never the wall clock
    url: str
    status: int | None
    fetched_at: str  # ISO timestamp (UTC) of the fetch
    page_type: str  # "index" | "detail" | "sitemap"
    content_hash: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # str | list[str] | None per field
    error: str | None = None
    rendered_with: str = "http"  # "http" | "chromium"
    body: str | None = None
    final_url: str | None = None  # where the requested ``url`` ended (redirects, JavaScript)
    redirect_chain: list[str] = field(default_factory=list)  # requested URL, ..., final URL
    content_type: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)  # items from the page's cards
    # a list page's place in the crawl graph and the pages it links (harvest.observation):
    # {"branch", "parent", "level", "links", "continues"}; None for item pages and old documents
    listing: dict[str, Any] | None = None
    earlier_cards: list[dict[str, Any]] = field(default_factory=list)  # harvest.records

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.logical_date, self.url)

    @property
    def doc_id(self) -> str:
        return hashlib.sha1("\x1f".join(self.key).encode(), usedforsecurity=False).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row_view(self) -> dict[str, Any]:
        """The document as a row, its values not copied (for writing it out: ``to_dict`` deep-copies
        the body, fields and records of every page)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RawDocument:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class RawStore(Protocol):
    """What every raw-store backend offers."""

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        """Insert or replace documents by key; return how many were written."""

    def read_partition(self, source: str, logical_date: dt.date) -> list[RawDocument]:
        """All documents of one partition, ordered by URL."""

    def iter_partition(
        self, source: str, logical_date: dt.date, light: bool = False
    ) -> Iterator[RawDocument]:
        """The documents of :meth:`read_partition`, in its order, read one at a time (a
        partition larger than memory is never held whole). ``light``: a store may leave out
        the body, the field values of a page without an error and the card values (the
        number of cards kept): what a pass over URLs, statuses and listings needs."""

    def count(self, source: str, logical_date: dt.date) -> int:
        """How many documents one partition holds."""

    def delete_partition(self, source: str, logical_date: dt.date) -> int:
        """Remove one partition; return how many documents it held."""

    def commit(self, source: str, logical_date: dt.date) -> int:
        """A crawl completed: make the partition exactly the documents this store instance wrote
        to it (none: an empty partition), removing the rest; return how many it now holds."""

    def uri(self, source: str, logical_date: dt.date) -> str:
        """Where one partition lives, for logs and task results."""

    def close(self) -> None: ...


def _json_line(row: dict[str, Any]) -> bytes:
    """One document as a JSON line in UTF-8, newline included, kept readable; a document
    holding a surrogate code point (a page rendered by a browser can) is written with ASCII
    escapes, which read back as the same string. Encoded once: the bytes are what is written."""
    try:
        return (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(row, ensure_ascii=True, sort_keys=True) + "\n").encode("utf-8")


class FileRawStore:
    """JSON Lines partitions: ``<root>/<source>/<YYYY-MM-DD>.jsonl``, each replaced atomically.

    With ``deferred=True`` (what a crawl uses) every upsert is appended at once to the partition's
    journal ``<YYYY-MM-DD>.jsonl.partial`` (flushed to disk, so a killed crawl keeps every batch
    written), and :meth:`commit` turns the journal into the partition, newest document per URL,
    in one atomic rename: the partition becomes exactly this crawl's documents, whatever it held
    before. Memory stays flat however large the day: the commit holds only an index of
    (URL -> journal offset), never the documents. Readers of a partition (the next stages) never
    see a journal: a crawl killed or closed before its commit leaves the partition as it was, and
    its journal beside it. The next deferred crawl of that partition starts afresh: its first
    write truncates the journal (with a warning counting the documents dropped), since a journal
    may hold pages of other start URLs or another spec; the per-partition HTTP cache serves the
    pages already fetched again without asking the site. The journal's index is kept as its
    batches are appended, so the commit copies the newest line of each URL without parsing the
    journal again (a JSON parse of every page's body: a tenth of a millisecond per page).
    """

    JOURNAL_SUFFIX = ".partial"

    def __init__(self, root: Path | str, deferred: bool = False) -> None:
        self.root = Path(root)
        self.deferred = deferred
        self._journals: dict[Path, Any] = {}  # partition path -> open journal handle (binary)
        # partition path -> {URL: byte offset of its newest line in the journal}
        self._index: dict[Path, dict[str, int]] = {}

    def path(self, source: str, logical_date: dt.date) -> Path:
        return self._file(source, logical_date.isoformat())

    def _file(self, source: str, iso_day: str) -> Path:
        return self.root / source / f"{iso_day}.jsonl"

    def journal_path(self, source: str, logical_date: dt.date) -> Path:
        """Where a deferred crawl appends its batches before the partition is replaced."""
        path = self.path(source, logical_date)
        return path.with_name(path.name + self.JOURNAL_SUFFIX)

    def _read(self, path: Path) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        row = json.loads(line)
                        rows[row["url"]] = row
        return rows

    def _write(self, path: Path, rows: dict[str, dict[str, Any]]) -> None:
        lines = (_json_line(rows[url]) for url in sorted(rows))
        self._replace(path, lines)

    def _replace(self, path: Path, lines: Iterable[bytes]) -> None:
        """Write ``lines`` (UTF-8, each ending in a newline) to a temporary file beside
        ``path`` and rename it over ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        by_partition: dict[Path, list[RawDocument]] = {}
        for doc in docs:
            by_partition.setdefault(self._file(doc.source, doc.logical_date), []).append(doc)
        written = 0
        for path, batch in by_partition.items():
            if self.deferred:
                self._append(path, batch)
            else:
                rows = self._read(path)
                for doc in batch:
                    rows[doc.url] = doc.to_dict()
                self._write(path, rows)
            written += len(batch)
        return written

    def _append(self, path: Path, batch: list[RawDocument]) -> None:
        handle = self._journals.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            journal = path.with_name(path.name + self.JOURNAL_SUFFIX)
            if journal.exists():
                with journal.open("rb") as stale:
                    dropped = sum(1 for line in stale if line.strip())
                logger.warning(
                    "%s: an interrupted crawl left %d documents in its journal; this crawl "
                    "starts afresh and replaces the partition with what it fetches",
                    journal,
                    dropped,
                )
            handle = journal.open("wb")
            self._journals[path] = handle
            self._index[path] = {}
        index, offset = self._index[path], handle.tell()
        lines = []
        for doc in batch:
            line = _json_line(doc.row_view())
            index[doc.url] = offset  # a later line of the same URL replaces it
            offset += len(line)
            lines.append(line)
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())

    def commit(self, source: str, logical_date: dt.date) -> int:
        """Replace the partition with this crawl's journal, newest document per URL, sorted by
        URL, in one atomic rename, and remove the journal; return the documents it now holds.

        A crawl that wrote nothing to the partition leaves it empty. Raises ``RuntimeError`` on
        a store not opened with ``deferred=True`` (its writes go to the partition directly)."""
        if not self.deferred:
            raise RuntimeError(
                f"{self.path(source, logical_date)}: commit() needs a crawl's store "
                "(FileRawStore(..., deferred=True))"
            )
        path = self.path(source, logical_date)
        journal = path.with_name(path.name + self.JOURNAL_SUFFIX)
        handle = self._journals.pop(path, None)
        if handle is None:
            self._replace(path, [])
            journal.unlink(missing_ok=True)  # an interrupted crawl's: this crawl replaced it
            return 0
        handle.close()
        where = self._index.pop(path)  # URL -> offset of its newest line in the journal
        with journal.open("rb") as lines_in:

            def lines() -> Iterator[bytes]:
                for url in sorted(where):
                    lines_in.seek(where[url])
                    yield lines_in.readline()

            self._replace(path, lines())
        journal.unlink()
        return len(where)

    def _rows(self, source: str, logical_date: dt.date) -> dict[str, dict[str, Any]]:
        """The partition as readers see it; for a crawl that has written to it, its journal
        (what :meth:`commit` will make the partition)."""
        path = self.path(source, logical_date)
        handle = self._journals.get(path)
        if handle is None:
            return self._read(path)
        handle.flush()
        return self._read(path.with_name(path.name + self.JOURNAL_SUFFIX))

    def read_partition(self, source: str, logical_date: dt.date) -> list[RawDocument]:
        rows = self._rows(source, logical_date)
        return [RawDocument.from_dict(rows[url]) for url in sorted(rows)]

    def iter_partition(
        self, source: str, logical_date: dt.date, light: bool = False
    ) -> Iterator[RawDocument]:
        """A committed partition's lines one at a time (written sorted by URL, one per URL),
        decoded by msgspec (``json`` for a line it refuses: a lone surrogate's escape);
        ``RuntimeError`` naming the file and line where they are not in order. A crawl's own
        partition (a journal open) is read whole (:meth:`read_partition`). ``light``: see
        :meth:`RawStore.iter_partition`."""
        path = self.path(source, logical_date)
        if path in self._journals:
            yield from self.read_partition(source, logical_date)
            return
        if not path.exists():
            return
        from harvest.storage.raw_lines import document, light_document

        last = ""
        decode = light_document if light else document
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                doc = decode(line)
                if doc.url <= last:
                    raise RuntimeError(
                        f"{path}, line {number}: {doc.url} after {last}: a partition file "
                        "holds one line per URL in URL order (is it a journal or edited?)"
                    )
                last = doc.url
                yield doc

    def count(self, source: str, logical_date: dt.date) -> int:
        path = self.path(source, logical_date)
        if path in self._journals or not path.exists():
            return len(self._rows(source, logical_date))
        with path.open("rb") as handle:  # one line per URL: counted, not parsed
            return sum(1 for line in handle if line.strip())

    def delete_partition(self, source: str, logical_date: dt.date) -> int:
        n = len(self._rows(source, logical_date))
        path = self.path(source, logical_date)
        handle = self._journals.pop(path, None)
        if handle is not None:
            handle.close()
            self._index.pop(path, None)
        path.with_name(path.name + self.JOURNAL_SUFFIX).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        return n

    def uri(self, source: str, logical_date: dt.date) -> str:
        return self.path(source, logical_date).resolve().as_uri()

    def close(self) -> None:
        """Close the journals; a partition not committed keeps its previous contents."""
        while self._journals:
            _, handle = self._journals.popitem()
            handle.close()
        self._index.clear()


def open_raw_store(url: str, *, deferred: bool = False) -> FileRawStore | MongoRawStore:
    """Open the raw store a URL names: ``file:///path`` or ``mongodb://host/db``.

    ``deferred`` makes the file store append batches to a journal and replace a partition once,
    at ``commit`` (MongoDB writes every batch as it comes, with unordered bulk upserts, and its
    ``commit`` removes the documents of earlier crawls).
    """
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FileRawStore(unquote(urlparse(url).path), deferred=deferred)
    if scheme in ("mongodb", "mongodb+srv"):
        from harvest.storage.raw_mongo import MongoRawStore

        return MongoRawStore.from_url(url)
    raise ValueError(
        f"raw store URL {redact_url(url)!r}: unsupported scheme {scheme!r}; use file:///path or mongodb://host/db"
    )
