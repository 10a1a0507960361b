"""The crawl's HTTP/1.1 download handler with the deadline's cut (:mod:`harvest.crawler.deadline`).

Apart from :mod:`harvest.crawler.deadline` so that what imports the deadline's names (the
spiders) does not import Scrapy's HTTP/1.1 handler and its TLS context factory.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import DownloadTimeoutError

from harvest.crawler.deadline import CUT_AT_SETTING, cut

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings


def idle_connections(settings: BaseSettings) -> int:
    """How many idle keep-alive connections to one site the download handler keeps: twice
    ``CONCURRENT_REQUESTS_PER_DOMAIN`` (see :class:`DeadlineDownloadHandler`)."""
    return 2 * int(settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))


class DeadlineDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler, with every download ending by the crawl's cut.

    A download that would run past the cut gets only the time left (``download_timeout``); if
    that time runs out, or none is left, the request fails with :class:`DeadlineReached`. Its
    connection pool keeps :func:`idle_connections` idle connections per site, not Scrapy's
    ``CONCURRENT_REQUESTS_PER_DOMAIN``, so a crawl reuses its connections.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.cut_at = crawler.settings.getfloat(CUT_AT_SETTING, 0.0) or None
        # Scrapy keeps at most CONCURRENT_REQUESTS_PER_DOMAIN idle connections per site, but a
        # download's slot is free (and the site's next request asks for a connection) before
        # Twisted gives the finished one back to the pool: more are in use at once (26 at 16
        # per domain on the demo site), and each one given back to a full pool was closed, to
        # be opened anew for a later request; a third of a crawl's requests paid a new TCP
        # connection (about 400 for 1,040 pages; 26 with this). The requests in flight stay
        # bounded by the per-domain concurrency; only idle connections are kept longer.
        self._pool.maxPersistentPerHost = max(
            self._pool.maxPersistentPerHost, idle_connections(crawler.settings)
        )

    async def download_request(self, request: Request) -> Response:
        if self.cut_at is None:
            return await super().download_request(request)
        left = self.cut_at - time.time()
        timeout = float(request.meta.get("download_timeout") or 180.0)
        if left <= 0:
            raise cut(request, "the crawl's deadline came before it was sent")
        if left >= timeout:
            return await super().download_request(request)
        request.meta["download_timeout"] = left
        try:
            return await super().download_request(request)
        except DownloadTimeoutError:
            raise cut(
                request, f"the crawl's deadline cut its download after {left:.1f} s"
            ) from None
        finally:
            request.meta["download_timeout"] = timeout
