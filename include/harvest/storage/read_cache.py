"""The read cache: Redis holding the results of expensive warehouse reads (history, row counts,
summaries). Not the crawl's HTTP cache (:mod:`harvest.storage.http_cache_entries`).

Keys are ``harvest:<source>:<kind>:<first>:<last>[:<detail>]``, where ``first``/``last`` are the
ISO dates the value was computed from (``-`` when open-ended), so
:meth:`ReadCache.invalidate_partition` can find every value that a re-loaded partition makes
stale. Frames are stored as Parquet bytes, everything else as JSON; never pickle.

A cache never changes an answer. :class:`NullReadCache` (no ``cache_url``) computes every time.
When Redis is down or slow, :class:`RedisReadCache` logs one warning, computes, and tries Redis
again after a short pause, so the pipeline always completes. Limit: a partition re-loaded while
Redis is down cannot be invalidated; what Redis still holds from before expires with its TTL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from harvest.text import redact_url

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 6 * 3600
OPEN = "-"
_PARQUET = b"pq1:"
_JSON = b"js1:"


def cache_key(
    source: str, kind: str, first: dt.date | None, last: dt.date | None, *detail: str
) -> str:
    """``harvest:<source>:<kind>:<first>:<last>[:<detail>...]``; ``None`` dates are open ends."""
    bounds = [d.isoformat() if d else OPEN for d in (first, last)]
    return ":".join(["harvest", source, kind, *bounds, *detail])


def key_covers(key: str, source: str, day: dt.date) -> bool:
    """Whether a key of ``source`` was computed from data that includes ``day``."""
    parts = key.split(":")
    if len(parts) < 5 or parts[0] != "harvest" or parts[1] != source:
        return False
    first, last = parts[3], parts[4]
    iso = day.isoformat()  # ISO dates compare correctly as strings
    return (first == OPEN or first <= iso) and (last == OPEN or iso <= last)


def encode(value: Any) -> bytes:
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return _PARQUET + buffer.getvalue()
    return _JSON + json.dumps(value, separators=(",", ":")).encode()


def decode(data: bytes) -> Any:
    if data.startswith(_PARQUET):
        return pd.read_parquet(io.BytesIO(data[len(_PARQUET) :]))
    if data.startswith(_JSON):
        return json.loads(data[len(_JSON) :])
    raise ValueError(f"unknown cache encoding {data[:8]!r}")


class ReadCache(ABC):
    """Results cache for values computed from warehouse partitions."""

    @staticmethod
    def from_url(url: str | None, **options: Any) -> ReadCache:
        """A :class:`RedisReadCache` for ``redis://``/``rediss://``/``unix://`` URLs, else a :class:`NullReadCache`."""
        if not url:
            return NullReadCache()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"cache URL {redact_url(url)!r} is not supported; use redis://host:6379/0 or leave "
                "HARVEST_CACHE_URL unset for no cache"
            )
        return RedisReadCache(url, **options)

    @abstractmethod
    def get_or_compute(self, key: str, ttl_seconds: int, fn: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``fn()`` (then cached for ``ttl_seconds``)."""

    @abstractmethod
    def invalidate_partition(self, source: str, logical_date: dt.date) -> int:
        """Drop every key of ``source`` computed from ``logical_date``; return how many."""

    def close(self) -> None:
        return None


class NullReadCache(ReadCache):
    """No cache: every call computes."""

    def get_or_compute(self, key: str, ttl_seconds: int, fn: Callable[[], T]) -> T:
        return fn()

    def invalidate_partition(self, source: str, logical_date: dt.date) -> int:
        return 0


class RedisReadCache(ReadCache):
    """Redis with short timeouts; when Redis fails, warn once and compute instead."""

    def __init__(
        self,
        url: str,
        socket_timeout: float = 0.5,
        connect_timeout: float = 0.5,
        retry_after_seconds: float = 10.0,
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.retry_after_seconds = retry_after_seconds
        self._error = redis.RedisError
        # No client-side retries: a down Redis must cost one short timeout, not several.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        self._down_until = 0.0
        self._warned = False

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after_seconds
        if not self._warned:
            self._warned = True
            log.warning(
                "Redis cache at %s is unavailable (%s); computing without the cache "
                "and retrying Redis every %.0fs",
                self.client.get_connection_kwargs().get("host", self.url),
                exc,
                self.retry_after_seconds,
            )

    def _succeeded(self) -> None:
        if self._warned:
            self._warned = False
            log.info("Redis cache is reachable again")

    def get_or_compute(self, key: str, ttl_seconds: int, fn: Callable[[], T]) -> T:
        if self._available():
            try:
                data = self.client.get(key)
            except self._error as exc:
                self._failed(exc)
            else:
                self._succeeded()
                if data is not None:
                    try:
                        value: T = decode(data)  # type: ignore[arg-type]
                        return value
                    except Exception as exc:  # a bad entry is a miss, never a failure
                        log.warning("ignoring unreadable cache entry %s: %s", key, exc)
        value = fn()
        if self._available():
            try:
                self.client.set(key, encode(value), ex=max(1, int(ttl_seconds)))
            except self._error as exc:
                self._failed(exc)
        return value

    def invalidate_partition(self, source: str, logical_date: dt.date) -> int:
        try:
            stale = [
                key
                for key in self.client.scan_iter(match=f"harvest:{source}:*", count=1000)
                if key_covers(key.decode(), source, logical_date)
            ]
            if stale:
                self.client.delete(*stale)
        except self._error as exc:
            self._failed(exc)
            return 0
        self._succeeded()
        return len(stale)

    def close(self) -> None:
        self.client.close()
