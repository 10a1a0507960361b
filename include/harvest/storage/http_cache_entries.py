"""The HTTP cache's entries as stored data: where they are, and removing them.

The crawl reads and writes entries through Scrapy (:mod:`harvest.crawler.http_cache_storage`,
keyed by source, logical date and request fingerprint); this module only knows their layout, so
the load stage can remove a loaded partition's entries without importing Scrapy:

- files: one SQLite database per partition,
  ``<settings.http_cache_dir>/<source>/<YYYY-MM-DD>/cache.sqlite``, table ``entries`` keyed by
  the fingerprint (``<fingerprint>[:chromium]``);
- Redis (``settings.cache_url``): hashes ``harvest:httpcache:<source>:<YYYY-MM-DD>:<fingerprint>``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import sqlite3
import time
import zlib
from pathlib import Path
from typing import Any

from harvest.config.settings import Settings
from harvest.text import redact_url

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "harvest:httpcache"
DB_NAME = "cache.sqlite"
LEGACY_SUFFIX = ".gz"  # a file per response: the layout before the database
# SQLite's files beside a database, which live and go with it
_SIDECARS = ("-wal", "-shm", "-journal")
_SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,  -- the request fingerprint (hex), ':chromium' for a rendered page
    stored_at REAL NOT NULL,  -- Unix seconds
    status INTEGER NOT NULL,
    url TEXT NOT NULL,  -- the response's URL
    request_url TEXT NOT NULL,
    headers TEXT NOT NULL,  -- JSON: {name: [value, ...]}, latin-1 text
    body BLOB NOT NULL  -- zlib
)"""


CacheDbError = sqlite3.Error  # what every method of CacheDb raises when the database fails
# (status, url, request_url, headers as {name: [value, ...]} latin-1 text, body), as stored
CachedEntry = tuple[int, str, str, dict[str, list[str]], bytes]


class CacheDb:
    """One partition's HTTP cache database (the crawl's on-disk storage writes and reads it
    through this class: SQL stays in ``harvest.storage``).

    Write-ahead log with ``synchronous=NORMAL``: a commit is not flushed to the disk one by one
    (an entry lost to a power cut is only fetched again), never half written. Bodies are stored
    zlib-compressed (level 1: HTML shrinks about as much as at level 9, several times faster).
    Every method raises :data:`CacheDbError` when the database fails; opening also ``OSError``.
    """

    ZLIB_LEVEL = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=10.0)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.Error:
            self._db.close()
            raise

    def get(self, key: str) -> tuple[float, CachedEntry] | None:
        """(stored at, Unix seconds; the entry) of ``key``, or None."""
        row = self._db.execute(
            "SELECT stored_at, status, url, request_url, headers, body FROM entries WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        stored_at, status, url, request_url, headers, body = row
        return stored_at, (status, url, request_url, json.loads(headers), zlib.decompress(body))

    def put(self, key: str, stored_at: float, entry: CachedEntry) -> None:
        """Insert or replace ``key`` (in the open transaction: :meth:`commit` makes it last)."""
        status, url, request_url, headers, body = entry
        self._db.execute(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, stored_at, status, url, request_url, json.dumps(headers),
             zlib.compress(body, self.ZLIB_LEVEL)),
        )  # fmt: skip

    def delete_older(self, cutoff: float) -> int:
        """Remove the entries stored before ``cutoff`` (Unix seconds); returns how many."""
        removed = self._db.execute("DELETE FROM entries WHERE stored_at < ?", (cutoff,)).rowcount
        self._db.commit()
        return int(removed)

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        """Commit what is stored, then close."""
        try:
            self._db.commit()
        finally:
            self._db.close()


def remove_expired_files(cachedir: Path, max_age_secs: float) -> tuple[int, int]:
    """Remove every file under ``cachedir`` last written more than ``max_age_secs`` ago, then
    the folders left empty; returns (files removed, bytes freed).

    By write time, not by logical date: a backfill of an old date keeps its fresh entries. A
    partition's database goes with its SQLite files (``-wal``, ``-shm``) when the newest of
    them is that old (every entry in it is then older). Files of the former layouts (a gzip
    file per response; Scrapy's, seven files per response) go the same way.
    """
    removed = freed = 0
    if not cachedir.is_dir():
        return removed, freed
    cutoff = time.time() - max_age_secs
    for root, dirs, files in os.walk(cachedir, topdown=False):
        groups: dict[str, list[Path]] = {}
        for name in files:
            base = next((name[: -len(s)] for s in _SIDECARS if name.endswith(s)), name)
            groups.setdefault(base, []).append(Path(root, name))
        for paths in groups.values():
            try:
                stats = [path.stat() for path in paths]
            except FileNotFoundError:
                continue  # removed by a concurrent crawl
            if max(stat.st_mtime for stat in stats) >= cutoff:
                continue
            for path, stat in zip(paths, stats, strict=True):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
                freed += stat.st_size
        for name in dirs:
            try:
                Path(root, name).rmdir()
            except OSError:
                continue  # not empty
    return removed, freed


def count_entries(folder: Path) -> int:
    """The entries of one partition's folder: its database's rows (and files of the former
    layout); 0 for a database that cannot be read."""
    entries = sum(1 for p in folder.iterdir() if p.name.endswith(LEGACY_SUFFIX))
    if (folder / DB_NAME).is_file():
        try:
            db = CacheDb(folder / DB_NAME)
            try:
                entries += db.count()
            finally:
                db.close()
        except sqlite3.Error:
            pass
    return entries


def purge_partition(settings: Settings, source: str, day: dt.date) -> int:
    """Remove the HTTP cache entries of one partition; returns how many were removed.

    The load stage calls this once the partition (``source``, ``day``) is in the warehouse: a
    loaded partition is never re-crawled from its cache, so its entries only take room. Uses the
    backend ``settings`` select (Redis when ``cache_url`` is set, else the files under
    ``settings.http_cache_dir``). Never raises for an unreachable Redis: it logs a warning and
    returns 0, and the entries expire with their TTL.
    """
    if settings.cache_url:
        return _purge_redis(settings.cache_url, f"{DEFAULT_PREFIX}:{source}:{day.isoformat()}:")
    folder = settings.http_cache_dir / source / day.isoformat()
    if not folder.is_dir():
        return 0
    entries = count_entries(folder)
    shutil.rmtree(folder, ignore_errors=True)
    logger.info("HTTP cache: removed %d entries of partition %s/%s", entries, source, day)
    return entries


def _purge_redis(url: str, key_prefix: str) -> int:
    import redis

    pattern = "".join(f"[{c}]" if c in "*?[]\\" else c for c in key_prefix) + "*"
    removed = 0
    try:
        with redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) as client:
            # unlinked as they are found, 1,000 at a time (SCAN allows removing keys it has
            # returned): a partition of 10M pages has 10M keys, about 1.3 GB as one list
            keys: list[Any] = []
            for key in client.scan_iter(match=pattern, count=1000):
                keys.append(key)
                if len(keys) == 1000:
                    removed += client.unlink(*keys)
                    keys.clear()
            if keys:
                removed += client.unlink(*keys)
    except redis.RedisError as exc:
        logger.warning(
            "HTTP cache: could not remove the Redis entries %s* at %s (%s); they expire with "
            "their TTL",
            key_prefix,
            redact_url(url),
            exc,
        )
        return removed
    logger.info("HTTP cache: removed %d Redis entries %s*", removed, key_prefix)
    return removed
