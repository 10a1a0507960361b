"""The crawl's progress for the parent process, as JSON lines on a pipe.

``python -m harvest.crawler.crawl --progress-fd N`` sets ``HARVEST_PROGRESS_FD``, which enables
:class:`ProgressReport`: every :data:`INTERVAL_SECONDS`, when it changed, and once more when the
spider closes, it writes ``{"done": D, "total": T}`` and a newline to file descriptor N, where T
is the pages the spider asked for so far (it grows as the crawl finds links) and D those of them
already done: stored, failed or ignored on purpose (robots.txt, off-site). The parent
(:func:`harvest.scraping.runner.run_crawl`) reads them into :mod:`harvest.progress`. A separate
pipe keeps them out of the log lines, which the parent streams to its log as they are.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

FD_SETTING = "HARVEST_PROGRESS_FD"
INTERVAL_SECONDS = 0.5
DONE_STATS = ("harvest/pages_ok", "harvest/failed_pages", "harvest/ignored_requests")
TOTAL_STAT = "harvest/pages_asked"


class ProgressReport:
    """Extension: the pages done and asked, written to the progress pipe while the spider runs.

    The pipe is non-blocking: a parent that stopped reading never holds the crawl up (a full
    or closed pipe switches the reports off)."""

    def __init__(self, crawler: Crawler, fd: int) -> None:
        self.crawler = crawler
        self.fd: int | None = fd
        self.last: tuple[int, int] | None = None
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        from scrapy.exceptions import NotConfigured

        fd = crawler.settings.getint(FD_SETTING, -1)
        if fd < 0:
            raise NotConfigured
        os.set_blocking(fd, False)
        extension = cls(crawler, fd)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def counts(self) -> tuple[int, int]:
        """``(done, total)`` pages from the crawl's stats."""
        stats = self.crawler.stats
        if stats is None:
            return 0, 0
        done = sum(int(stats.get_value(key) or 0) for key in DONE_STATS)
        return done, max(done, int(stats.get_value(TOTAL_STAT) or 0))

    def report(self) -> None:
        counts = self.counts()
        if self.fd is None or counts == (self.last or (0, 0)):  # nothing asked yet: total unknown
            return
        self.last = counts
        line = json.dumps({"done": counts[0], "total": counts[1]}) + "\n"
        try:
            os.write(self.fd, line.encode())
        except OSError as exc:  # full (the parent is not reading) or closed: stop reporting
            logger.info("crawl progress no longer reported (%s)", exc)
            self.fd = None

    def spider_opened(self) -> None:
        from scrapy.utils.asyncio import create_looping_call

        self.task = create_looping_call(self.report)
        self.task.start(INTERVAL_SECONDS)

    def spider_closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.report()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
