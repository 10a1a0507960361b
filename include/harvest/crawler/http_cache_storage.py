"""The HTTP cache's Scrapy storage (``HTTPCACHE_STORAGE``, ``HTTPCACHE_POLICY``), per partition:
Redis (shared, expiring) or an SQLite database per partition on disk (embedded default).

What it is for: a retry or re-run of the *same* partition (source, logical date) does not fetch
again what it already fetched. An entry is keyed by (source, logical date, request fingerprint),
so a crawl for another date never reads it, even on a site whose URLs carry no date. Only
complete 2xx responses are stored (:class:`HarvestCachePolicy`). Disk and memory are bounded:
the load stage removes a partition's entries once it has loaded
(:func:`harvest.storage.http_cache_entries.purge_partition`, no Scrapy
needed), and entries older than
``HTTPCACHE_EXPIRATION_SECS`` (the retention) are never served and are removed (on disk: at the
start of every crawl; Redis: by their TTL).

Both storages implement Scrapy's cache-storage interface (``open_spider``, ``close_spider``,
``retrieve_response``, ``store_response``) and read the partition from the Scrapy settings
``HARVEST_SOURCE`` and ``HARVEST_LOGICAL_DATE``. A page rendered by Chromium is its own entry
(fingerprint + ``:chromium``) so the plain HTML and the rendered DOM of one URL never overwrite
each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.extensions.httpcache import DummyPolicy
from scrapy.http.headers import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.python import to_unicode

from harvest.config.settings import DEFAULT_HTTP_CACHE_RETENTION_DAYS
from harvest.partitions import Partition
from harvest.storage.http_cache_entries import (
    DB_NAME,
    DEFAULT_PREFIX,
    CacheDb,
    CacheDbError,
    remove_expired_files,
)
from harvest.text import redact_url

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

DEFAULT_EXPIRATION_SECS = DEFAULT_HTTP_CACHE_RETENTION_DAYS * 24 * 3600
REDIS_RETRY_SECONDS = 30
RENDER_META = "harvest_render"


def cache_key(spider: Spider, request: Request) -> str:
    """The request fingerprint (hex), with ``:chromium`` for a request to be rendered."""
    if spider.crawler is None:
        raise RuntimeError(f"spider {spider.name!r} is not bound to a crawler")
    key = spider.crawler.request_fingerprinter.fingerprint(request).hex()
    return f"{key}:chromium" if request.meta.get(RENDER_META) else key


class HarvestCachePolicy(DummyPolicy):
    """Store only complete successful responses: 2xx, and not truncated (``dataloss``).

    A 3xx, 404 or any other failure is fetched again by the next run of the partition.
    """

    def should_cache_response(self, response: Response, request: Request) -> bool:
        if not 200 <= response.status < 300:
            return False
        if "dataloss" in response.flags:
            return False
        return super().should_cache_response(response, request)


class _PartitionCache:
    """What both storages share: the partition (source, date) and the retention."""

    def __init__(self, settings: BaseSettings) -> None:
        partition = settings.get("HARVEST_PARTITION")
        if not isinstance(partition, Partition):
            raise ValueError(
                f"{type(self).__name__} needs HARVEST_PARTITION (a harvest Partition): the HTTP "
                "cache is kept per partition, so that no date is ever served another date's pages"
            )
        self.day: str = partition.iso
        self.source: str | None = settings.get("HARVEST_SOURCE")
        # Unlike Scrapy, 0 does not mean "never expire": a cache must not grow forever.
        self.expiration_secs: int = (
            settings.getint("HTTPCACHE_EXPIRATION_SECS") or DEFAULT_EXPIRATION_SECS
        )

    def _source(self, spider: Spider) -> str:
        return self.source or spider.name


class FilesystemCacheStorage(_PartitionCache):
    """One SQLite database per partition: ``<HTTPCACHE_DIR>/<source>/<YYYY-MM-DD>/cache.sqlite``.

    A row per response: the request fingerprint (its key), when it was stored, status, URLs,
    headers (JSON) and the body (zlib, level 1). SQLite makes an entry whole or absent even when
    the crawl is killed mid-write (entries are committed every :data:`COMMIT_EVERY` stores, the
    rest at the close: a killed crawl only leaves its last pages uncached). Opening a crawl
    removes its partition's entries older than the retention, and every database (and file of
    the former one-file-per-response layout) not written to for longer than the retention.

    Why a database and not a file per response (the layout before): creating a file cost about
    0.9 ms of CPU on this project's virtual disks, more than a plain Scrapy spider spends on a
    whole page; an insert costs about 10 us and a cached read 7 us instead of 0.2 ms.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.cachedir = Path(settings["HTTPCACHE_DIR"])
        self._warned = False
        self._db: CacheDb | None = None
        self._db_path: Path | None = None
        self._pending = 0
        self._looked = False

    def open_spider(self, spider: Spider) -> None:
        removed, freed = remove_expired_files(self.cachedir, self.expiration_secs)
        logger.info(
            "Using the on-disk HTTP cache of partition %s/%s in %s; removed %d files older than "
            "the retention of %.1f days (%.1f MB)",
            self._source(spider),
            self.day,
            self.cachedir,
            removed,
            self.expiration_secs / 86400,
            freed / 1e6,
        )
        db = self._connect(spider, create=False)
        if db is not None:
            try:
                db.delete_older(time.time() - self.expiration_secs)
            except CacheDbError as exc:
                self._not_stored(exc)

    def _connect(self, spider: Spider, *, create: bool) -> CacheDb | None:
        """The partition's database; made by the first store only (``create``): a crawl that
        stores nothing, or only reads, leaves nothing on disk. A database found missing is
        looked for once per crawl (the crawl itself never asks for a page it stored)."""
        if self._db is not None or self._warned:
            return self._db
        path = self.cachedir / self._source(spider) / self.day / DB_NAME
        if not create:
            if self._looked:
                return None
            self._looked = True
            if not path.is_file():
                return None
        self._db_path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = CacheDb(path)
        except (OSError, CacheDbError) as exc:
            self._not_stored(exc)
        return self._db

    def close_spider(self, spider: Spider) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except CacheDbError as exc:
                self._not_stored(exc)

    def flush(self) -> None:
        """Commit every entry stored so far (for other readers: this storage reads its own)."""
        if self._db is not None:
            try:
                self._db.commit()
                self._pending = 0
            except CacheDbError as exc:
                self._not_stored(exc)

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        """The cached response of this partition, or None (not cached, or older than retention)."""
        db = self._connect(spider, create=False)
        if db is None:
            return None
        try:
            found = db.get(cache_key(spider, request))
        except CacheDbError:  # unreadable: fetched again (a write failing warns)
            return None
        if found is None or time.time() - found[0] > self.expiration_secs:
            return None
        stored_at, (status, url, _, headers, body) = found
        request.meta["cache_timestamp"] = stored_at
        return _response(
            url,
            status,
            Headers(
                {
                    name.encode("latin-1"): [v.encode("latin-1") for v in values]
                    for name, values in headers.items()
                }
            ),
            body,
        )

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        """Insert (or replace) the entry; a write that fails (disk full, no permission, a
        folder that cannot be made) leaves the page uncached with one warning, never fails the
        crawl."""
        db = self._connect(spider, create=True)
        if db is None:
            return
        headers = {
            name.decode("latin-1"): [v.decode("latin-1") for v in values]
            for name, values in response.headers.items()
        }
        entry = (response.status, response.url, request.url, headers, response.body)
        try:
            db.put(cache_key(spider, request), time.time(), entry)
            self._pending += 1
            if self._pending >= COMMIT_EVERY:
                db.commit()
                self._pending = 0
        except CacheDbError as exc:
            self._not_stored(exc)

    def _not_stored(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "HTTP cache: cannot write %s (%s): pages of this crawl may stay uncached",
                self._db_path or self.cachedir,
                exc,
            )


COMMIT_EVERY = 100  # entries per transaction: a killed crawl loses at most these


class RedisCacheStorage(_PartitionCache):
    """Responses in Redis hashes ``<prefix>:<source>:<YYYY-MM-DD>:<key>`` that expire.

    Settings: ``HARVEST_CACHE_URL`` (``redis://host:port/db``), ``HARVEST_SOURCE`` (the source
    name, default the spider's name), ``HARVEST_LOGICAL_DATE``, ``HARVEST_HTTPCACHE_PREFIX``
    (default ``harvest:httpcache``) and ``HTTPCACHE_EXPIRATION_SECS`` (the TTL of every entry).
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        url = settings.get("HARVEST_CACHE_URL")
        if not url:
            raise ValueError("RedisCacheStorage needs HARVEST_CACHE_URL (redis://host:port/db)")
        self.url: str = url
        self.prefix: str = settings.get("HARVEST_HTTPCACHE_PREFIX", DEFAULT_PREFIX)
        self.client: Any = None
        self._down_until = 0.0
        self._warned = False
        self._ahead: dict[str, dict[bytes, bytes]] = {}  # entries read ahead (read_ahead)

    def _available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._down_until

    def _unavailable(self, exc: Exception) -> None:
        """Redis failed: crawl on uncached (a cache must never stop a crawl), retry it in 30 s."""
        self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._warned:
            self._warned = True
            logger.warning(
                "Redis HTTP cache at %s is unavailable (%s): fetching pages uncached; "
                "trying Redis again every %d s",
                redact_url(self.url),
                exc,
                REDIS_RETRY_SECONDS,
            )

    def open_spider(self, spider: Spider) -> None:
        import redis

        self.client = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
        self.source = self._source(spider)
        logger.info(
            "Using the Redis HTTP cache at %s (keys %s:%s:%s:*, expiry %d s)",
            redact_url(self.url),
            self.prefix,
            self.source,
            self.day,
            self.expiration_secs,
        )

    def close_spider(self, spider: Spider) -> None:
        self._ahead.clear()
        if self.client is not None:
            self.client.close()
            self.client = None

    def _key(self, spider: Spider, request: Request) -> str:
        return f"{self.prefix}:{self._source(spider)}:{self.day}:{cache_key(spider, request)}"

    def read_ahead(self, spider: Spider, requests: Iterable[Request]) -> None:
        """Read the entries of ``requests`` in one round trip (a pipeline) for
        :meth:`retrieve_response` to take, each once: what the cached replay
        (:mod:`harvest.crawler.replay`) asks for the pages it has queued, instead of a round
        trip per page (a tenth of a second of waiting per thousand pages on localhost). A
        failure reads nothing ahead: each page is then asked for alone."""
        import redis

        if not self._available():
            return
        keys = list(dict.fromkeys(self._key(spider, request) for request in requests))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        try:
            self._ahead.update(zip(keys, pipe.execute(), strict=True))
        except redis.RedisError:
            return

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        """The cached response of this partition, or None (not cached, or expired)."""
        import redis

        if not self._available():
            return None
        key = self._key(spider, request)
        data: dict[bytes, bytes] | None = self._ahead.pop(key, None)
        if data is None:
            try:
                data = self.client.hgetall(key)
            except redis.RedisError as exc:
                self._unavailable(exc)
                return None
        if not data:
            return None
        url = to_unicode(data[b"url"])
        headers = Headers(_headers_from_raw(data.get(b"headers", b"")))
        body = data.get(b"body", b"")
        request.meta["cache_timestamp"] = float(data.get(b"timestamp", b"0"))
        return _response(url, int(data[b"status"]), headers, body)

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        """Store status, URL, headers and body, expiring after ``HTTPCACHE_EXPIRATION_SECS``."""
        import redis

        if not self._available():
            return
        key = self._key(spider, request)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "status": response.status,
                "url": response.url,
                "request_url": request.url,
                "headers": _headers_to_raw(response.headers),
                "body": response.body,
                "timestamp": repr(time.time()),
            },
        )
        pipe.expire(key, self.expiration_secs)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._unavailable(exc)


def _headers_to_raw(headers: Headers) -> bytes:
    lines = [name + b": " + value for name, values in headers.items() for value in values if value]
    return b"\r\n".join(lines)


def _headers_from_raw(raw: bytes) -> dict[bytes, list[bytes]]:
    headers: dict[bytes, list[bytes]] = {}
    for line in raw.split(b"\r\n"):
        name, sep, value = line.partition(b": ")
        if sep:
            headers.setdefault(name, []).append(value)
    return headers


def _response(url: str, status: int, headers: Headers, body: bytes) -> Response:
    cls = responsetypes.from_args(headers=headers, url=url, body=body)
    return cls(url=url, status=status, headers=headers, body=body)
