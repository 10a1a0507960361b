"""A crawl with a deadline stops itself in time and keeps, counts and reports what it fetched.

``python -m harvest.crawler.crawl --deadline UNIX_SECONDS`` gives the crawl two moments
(:func:`~harvest.crawler.crawl.stop_times`), in the settings ``HARVEST_STOP_AT`` and
``HARVEST_CUT_AT``:

- the *stop* (``soft``): :class:`DeadlineStop` closes the spider (Scrapy's finish reason
  ``closespider_timeout``, as ``CLOSESPIDER_TIMEOUT`` would) and fails the requests still
  waiting in the downloader's queues at once: they were never sent;
- the *cut* (``hard``): :class:`~harvest.crawler.deadline_handler.DeadlineDownloadHandler`
  (Scrapy's HTTP/1.1 handler, in a module of its own: importing the handler costs a fifth of a
  second, which a crawl replayed from its cache, :mod:`harvest.crawler.replay`, never needs) gives every
  download at most until then, so a slow site's in-flight pages cannot hold the close past the
  deadline (Scrapy waits for every in-flight request before it closes).

A page cut either way fails with :class:`DeadlineReached` (an ``IgnoreRequest``: not retried, not
a failed page of the source) and its link is counted in the completeness account as skipped
for ``deadline``, like a link whose request was still in the scheduler at the close (the spider
counts those: :meth:`~harvest.crawler.spiders.base.HarvestSpider.closed`). The raw store then
commits what was fetched: a partial partition, with its counts.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from twisted.python.failure import Failure

from harvest.crawler.crawl import DEADLINE_FINISH_REASON
from harvest.errors import HarvestError

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DEADLINE_PAGES_STAT = "harvest/deadline_pages"  # requests the deadline cut: not fetched
STOP_AT_SETTING = "HARVEST_STOP_AT"  # Unix seconds: close the spider
CUT_AT_SETTING = "HARVEST_CUT_AT"  # Unix seconds: every download has ended


class DeadlineReached(HarvestError, IgnoreRequest):
    """A request not fetched because the crawl's deadline came first."""


class DeadlineStop:
    """Extension: at the stop, fail the requests queued in the downloader and close the spider.

    Enabled by ``HARVEST_DEADLINE`` (Unix seconds). The spider's errback counts the requests
    cut (here and by :class:`~harvest.crawler.deadline_handler.DeadlineDownloadHandler`) in ``harvest/deadline_pages``.
    """

    def __init__(self, crawler: Crawler, stop_at: float) -> None:
        self.crawler = crawler
        self.stop_at = stop_at
        self._call: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        from scrapy.exceptions import NotConfigured

        stop_at = crawler.settings.getfloat(STOP_AT_SETTING, 0.0)
        if not stop_at:  # no deadline (said without a message: Scrapy warns of one)
            raise NotConfigured
        extension = cls(crawler, stop_at)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self) -> None:
        from scrapy.utils.asyncio import call_later

        cut_at = self.crawler.settings.getfloat(CUT_AT_SETTING, self.stop_at)
        logger.info(
            "the crawl stops at its deadline in %.1f s; downloads are cut in %.1f s",
            self.stop_at - time.time(),
            cut_at - time.time(),
        )
        self._call = call_later(max(0.0, self.stop_at - time.time()), self.stop)

    def stop(self) -> None:
        """Fail every request waiting in a downloader slot, then close the spider."""
        self._call = None
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        logger.warning("the crawl's deadline is near: stopping (pages not fetched yet are cut)")
        # Scrapy's downloader keeps (request, deferred) per slot until a transfer slot and the
        # download delay let the request go; none of these was sent yet
        for slot in list(engine.downloader.slots.values()):
            while slot.queue:
                request, waiting = slot.queue.popleft()
                waiting.errback(Failure(cut(request, "the crawl stopped at its deadline")))  # type: ignore[no-untyped-call]
        from scrapy.utils.defer import deferred_from_coro

        deferred_from_coro(engine.close_spider_async(reason=DEADLINE_FINISH_REASON))

    def spider_closed(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None


def cut(request: Request, why: str) -> DeadlineReached:
    """The failure of a request the deadline cut."""
    return DeadlineReached(f"not fetched: {why} ({request.url})")
