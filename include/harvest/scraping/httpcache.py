"""HTTP cache storages and policy: Redis (shared, expiring) or the filesystem (embedded default).

Both implement Scrapy's cache-storage interface (``open_spider``, ``close_spider``,
``retrieve_response``, ``store_response``) and key entries by the request fingerprint. A page
rendered by Chromium is cached under its own key (fingerprint + ``:chromium``) so the plain HTML
and the rendered DOM of one URL never overwrite each other.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy.extensions.httpcache import DummyPolicy
from scrapy.extensions.httpcache import FilesystemCacheStorage as _ScrapyFilesystemCacheStorage
from scrapy.http.headers import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.python import to_unicode

from harvest.text import redact_url

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

DEFAULT_EXPIRATION_SECS = 7 * 24 * 3600
DEFAULT_PREFIX = "harvest:httpcache"
REDIS_RETRY_SECONDS = 30
RENDER_META = "harvest_render"


def cache_key(spider: Spider, request: Request) -> str:
    """The request fingerprint (hex), with ``:chromium`` for a request to be rendered."""
    if spider.crawler is None:
        raise RuntimeError(f"spider {spider.name!r} is not bound to a crawler")
    key = spider.crawler.request_fingerprinter.fingerprint(request).hex()
    return f"{key}:chromium" if request.meta.get(RENDER_META) else key


class HarvestCachePolicy(DummyPolicy):
    """Scrapy's DummyPolicy, except that a truncated body (``dataloss``) is never stored."""

    def should_cache_response(self, response: Response, request: Request) -> bool:
        if "dataloss" in response.flags:
            return False
        return super().should_cache_response(response, request)


class FilesystemCacheStorage(_ScrapyFilesystemCacheStorage):
    """Scrapy's filesystem storage with a separate entry for rendered pages."""

    def _get_request_path(self, spider: Spider, request: Request) -> str:
        path: str = super()._get_request_path(spider, request)
        return f"{path}-chromium" if request.meta.get(RENDER_META) else path


class RedisCacheStorage:
    """Responses in Redis hashes ``<prefix>:<source>:<fingerprint>`` that expire.

    Settings: ``HARVEST_CACHE_URL`` (``redis://host:port/db``), ``HARVEST_SOURCE`` (the source
    name, default the spider's name), ``HARVEST_HTTPCACHE_PREFIX`` (default ``harvest:httpcache``)
    and ``HTTPCACHE_EXPIRATION_SECS``; unlike Scrapy, 0 does not mean "never": it means the
    default of 7 days, because a shared cache must not grow forever.
    """

    def __init__(self, settings: BaseSettings) -> None:
        url = settings.get("HARVEST_CACHE_URL")
        if not url:
            raise ValueError("RedisCacheStorage needs HARVEST_CACHE_URL (redis://host:port/db)")
        self.url: str = url
        self.source: str | None = settings.get("HARVEST_SOURCE")
        self.prefix: str = settings.get("HARVEST_HTTPCACHE_PREFIX", DEFAULT_PREFIX)
        self.expiration_secs: int = (
            settings.getint("HTTPCACHE_EXPIRATION_SECS") or DEFAULT_EXPIRATION_SECS
        )
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
        self.source = self.source or spider.name
        logger.info(
            "Using the Redis HTTP cache at %s (keys %s:%s:*, expiry %d s)",
            redact_url(self.url),
            self.prefix,
            self.source,
            self.expiration_secs,
        )

    def close_spider(self, spider: Spider) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _key(self, spider: Spider, request: Request) -> str:
        return f"{self.prefix}:{self.source or spider.name}:{cache_key(spider, request)}"

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        """The cached response, or None when it is not cached (or has expired)."""
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
        cls = responsetypes.from_args(headers=headers, url=url, body=body)
        return cls(url=url, status=int(data[b"status"]), headers=headers, body=body)

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
