"""The HTTP cache's entries as stored data: where they are, and removing them.

The crawl reads and writes entries through Scrapy (:mod:`harvest.crawler.http_cache_storage`,
keyed by source, logical date and request fingerprint); this module only knows their layout, so
the load stage can remove a loaded partition's entries without importing Scrapy:

- files: ``<settings.http_cache_dir>/<source>/<YYYY-MM-DD>/<fingerprint>[-chromium].gz``;
- Redis (``settings.cache_url``): hashes ``harvest:httpcache:<source>:<YYYY-MM-DD>:<fingerprint>``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path

from harvest.config.settings import Settings
from harvest.text import redact_url

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "harvest:httpcache"
ENTRY_SUFFIX = ".gz"


def remove_expired_files(cachedir: Path, max_age_secs: float) -> tuple[int, int]:
    """Remove every file under ``cachedir`` last written more than ``max_age_secs`` ago, then
    the folders left empty; returns (files removed, bytes freed).

    By write time, not by logical date: a backfill of an old date keeps its fresh entries.
    Files of the former layout (Scrapy's, seven files per response) go the same way.
    """
    removed = freed = 0
    if not cachedir.is_dir():
        return removed, freed
    cutoff = time.time() - max_age_secs
    for root, dirs, files in os.walk(cachedir, topdown=False):
        for name in files:
            path = Path(root, name)
            try:
                stat = path.stat()
                if stat.st_mtime < cutoff:
                    path.unlink()
                    removed += 1
                    freed += stat.st_size
            except FileNotFoundError:
                continue  # removed by a concurrent crawl
        for name in dirs:
            try:
                Path(root, name).rmdir()
            except OSError:
                continue  # not empty
    return removed, freed


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
    entries = sum(1 for p in folder.iterdir() if p.name.endswith(ENTRY_SUFFIX))
    shutil.rmtree(folder, ignore_errors=True)
    logger.info("HTTP cache: removed %d entries of partition %s/%s", entries, source, day)
    return entries


def _purge_redis(url: str, key_prefix: str) -> int:
    import redis

    pattern = "".join(f"[{c}]" if c in "*?[]\\" else c for c in key_prefix) + "*"
    removed = 0
    try:
        with redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) as client:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 1000):
                removed += client.unlink(*keys[start : start + 1000])
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
