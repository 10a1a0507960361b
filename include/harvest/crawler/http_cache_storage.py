"""The HTTP cache's Scrapy storage (``HTTPCACHE_STORAGE``, ``HTTPCACHE_POLICY``), per partition:
Redis (shared, expiring) or files (embedded default).

What it is for: a retry or re-run of the *same* partition (source, logical date) does not fetch
again what it already fetched. An entry is keyed by (source, logical date, request fingerprint),
so a crawl for another date never reads it, even on a site whose URLs carry no date. Only
complete 2xx responses are stored (:class:`HarvestCachePolicy`). Disk and memory are bounded:
the load stage removes a partition's entries once it has loaded
(:func:`harvest.storage.http_cache_entries.purge_partition`, no Scrapy
needed), and entries older than
``HTTPCACHE_EXPIRATION_SECS`` (the retention) are never served and are removed (files: at the
start of every crawl; Redis: by their TTL).

Both storages implement Scrapy's cache-storage interface (``open_spider``, ``close_spider``,
``retrieve_response``, ``store_response``) and read the partition from the Scrapy settings
``HARVEST_SOURCE`` and ``HARVEST_LOGICAL_DATE``. A page rendered by Chromium is its own entry
(fingerprint + ``:chromium``) so the plain HTML and the rendered DOM of one URL never overwrite
each other.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.extensions.httpcache import DummyPolicy
from scrapy.http.headers import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.python import to_unicode

from harvest.config.settings import DEFAULT_HTTP_CACHE_RETENTION_DAYS
from harvest.partitions import Partition
from harvest.storage.http_cache_entries import DEFAULT_PREFIX, ENTRY_SUFFIX, remove_expired_files
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
    """One gzip file per response: ``<HTTPCACHE_DIR>/<source>/<YYYY-MM-DD>/<key>.gz``.

    A file holds a JSON line (status, URLs, headers, time stored) and then the body. It is
    written to a temporary file and renamed, so an entry is whole or absent even when the crawl
    is killed mid-write. Opening a crawl removes every entry older than the retention.

    The files are written by one background thread (:class:`_EntryWriter`), so the crawl's
    event loop does not wait for the disk: creating a file costs about 0.5 ms of wall time on
    a busy virtual disk, as much as a plain spider spends on a whole page. Closing the spider
    waits until every queued entry is on disk.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.cachedir = Path(settings["HTTPCACHE_DIR"])
        self._warned = False
        self._writer: _EntryWriter | None = None

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
        self._writer = _EntryWriter(self._not_stored)

    def close_spider(self, spider: Spider) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def flush(self) -> None:
        """Wait until every entry stored so far is on disk (the crawl itself only needs
        :meth:`close_spider`: it never asks for a page it has just stored)."""
        if self._writer is not None:
            self._writer.flush()

    def _path(self, spider: Spider, request: Request) -> Path:
        name = cache_key(spider, request).replace(":", "-") + ENTRY_SUFFIX
        return self.cachedir / self._source(spider) / self.day / name

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        """The cached response of this partition, or None (not cached, or older than retention)."""
        path = self._path(spider, request)
        try:
            if time.time() - path.stat().st_mtime > self.expiration_secs:
                return None
            with gzip.open(path, "rb") as file:
                meta_line = file.readline()
                body = file.read()
        except OSError:  # not cached (or unreadable: the write already warned)
            return None
        meta = json.loads(meta_line)
        headers = Headers(
            {
                name.encode("latin-1"): [v.encode("latin-1") for v in values]
                for name, values in meta["headers"].items()
            }
        )
        request.meta["cache_timestamp"] = meta["timestamp"]
        return _response(meta["url"], int(meta["status"]), headers, body)

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        """Queue the entry for the writer thread, which writes it atomically (temporary file,
        then rename); a write that fails (disk full, no permission) leaves the page uncached
        with one warning, never fails the crawl."""
        meta = {
            "status": response.status,
            "url": response.url,
            "request_url": request.url,
            "timestamp": time.time(),
            "headers": {
                name.decode("latin-1"): [v.decode("latin-1") for v in values]
                for name, values in response.headers.items()
            },
        }
        entry = (self._path(spider, request), json.dumps(meta).encode() + b"\n", response.body)
        if self._writer is None:  # used without open_spider (tests): write in this thread
            _write_entry(*entry, on_error=self._not_stored)
        else:
            self._writer.put(entry)

    def _not_stored(self, path: Path, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "HTTP cache: cannot write %s (%s): pages of this crawl may stay uncached", path, exc
            )


GZIP_LEVEL = 1  # HTML shrinks about as much as at level 9, several times faster
_Entry = tuple[Path, bytes, bytes]  # (path, meta line, body)


def _write_entry(
    path: Path, meta: bytes, body: bytes, *, on_error: Any, made: set[Path] | None = None
) -> None:
    """Write one cache file atomically: a temporary file beside it, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if made is None or path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            if made is not None:
                made.add(path.parent)
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL) as file,
        ):
            file.write(meta)
            file.write(body)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a folder that cannot be written has no tmp file
            tmp.unlink(missing_ok=True)
        on_error(path, exc)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


class _EntryWriter:
    """One daemon thread writing queued cache entries (file I/O releases the GIL); at most
    ``maxsize`` entries wait, so a slow disk slows the crawl down instead of filling memory."""

    def __init__(self, on_error: Any, maxsize: int = 256) -> None:
        self._queue: queue.Queue[_Entry | None] = queue.Queue(maxsize=maxsize)
        self._on_error = on_error
        self._made: set[Path] = set()
        self._thread = threading.Thread(target=self._run, name="http-cache-writer", daemon=True)
        self._thread.start()

    def put(self, entry: _Entry) -> None:
        self._queue.put(entry)

    def _run(self) -> None:
        while (entry := self._queue.get()) is not None:
            try:
                _write_entry(*entry, on_error=self._on_error, made=self._made)
            except Exception:  # never lose the thread: the entry stays uncached
                logger.exception("HTTP cache: writing %s failed", entry[0])
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until the queue is written."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()


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
        if self.client is not None:
            self.client.close()
            self.client = None

    def _key(self, spider: Spider, request: Request) -> str:
        return f"{self.prefix}:{self._source(spider)}:{self.day}:{cache_key(spider, request)}"

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        """The cached response of this partition, or None (not cached, or expired)."""
        import redis

        if not self._available():
            return None
        try:
            data: dict[bytes, bytes] = self.client.hgetall(self._key(spider, request))
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
