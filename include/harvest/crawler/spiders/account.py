"""The completeness account a spider keeps (:mod:`harvest.crawler.completeness`): counters
per level, the links followed whose page has not come yet (skipped for ``deadline`` at a stop
at the deadline), and the first page that failed or was not fetched (a crawl that fetched no
page says why)."""

from __future__ import annotations

from typing import Any

import scrapy

from harvest.crawler.completeness import (
    LEVEL_META,
    REGEX_UNMATCHED_EXAMPLE,
    REGEX_UNMATCHED_PREFIX,
    skip_key,
    stat_key,
)
from harvest.crawler.crawl import DEADLINE_FINISH_REASON
from harvest.crawler.deadline import DEADLINE_PAGES_STAT

URL_META = "harvest_url"  # request.meta: the canonical URL a page was asked for as
FIRST_FAILURE_STAT = "harvest/first_failure"  # the first page failed or not fetched, and why


class CrawlAccount:
    """Mixin of :class:`~harvest.crawler.spiders.base.HarvestSpider`: the account's counters."""

    crawler: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # followed links whose page has not come yet: URL -> the account's level
        self._awaited: dict[str, str] = {}

    def first_failure(self, message: str) -> None:
        """Keep the first page that failed or was not fetched, and why
        (``harvest/first_failure``): a crawl that fetched no page says it."""
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None and stats.get_value(FIRST_FAILURE_STAT) is None:
            stats.set_value(FIRST_FAILURE_STAT, message)

    def awaits(self, request: scrapy.Request, level: str) -> None:
        """``request`` follows a link of ``level`` (counted as ``followed``): until its page
        comes (or fails), a stop at the deadline counts it as skipped for ``deadline``."""
        request.meta[LEVEL_META] = level
        self._awaited[request.meta.get(URL_META, request.url)] = level

    def closed(self, reason: str) -> None:
        """At a stop at the deadline, the links followed whose page never came (still in the
        scheduler, or cut in the downloader without an errback) are skipped for ``deadline``."""
        if reason != DEADLINE_FINISH_REASON:
            return
        for level in self._awaited.values():
            self.unfollowed(level, "deadline")
        if self._awaited:
            self._inc(DEADLINE_PAGES_STAT, len(self._awaited))
        self._awaited.clear()

    def count(self, level: str, counter: str, n: int = 1) -> None:
        """Add ``n`` to one counter of a level's completeness account
        (:mod:`harvest.crawler.completeness`)."""
        if n:
            self._inc(stat_key(level, counter), n)

    def skipped(self, level: str, reason: str, n: int = 1) -> None:
        """Count ``n`` links of ``level`` not followed, for ``reason``."""
        if n:
            self._inc(skip_key(level, reason), n)

    def unfollowed(self, level: str, reason: str) -> None:
        """A link counted as followed that ended before its page was parsed (robots, depth,
        failed): moved from ``followed`` to ``skipped/<reason>``."""
        self.count(level, "followed", -1)
        self.skipped(level, reason)

    def regex_unmatched(self, field: str, url: str, text: str) -> None:
        """A page or card of ``url`` where ``field``'s regex matched none of the text its
        selector found (the first string: ``text``): counted
        (``harvest/fields_regex_unmatched/<field>``), and the example of the least (URL, text)
        kept, so that a Scrapy crawl and a cache replay name the same one whatever their order."""
        self._inc(f"{REGEX_UNMATCHED_PREFIX}{field}")
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None:
            key = f"{REGEX_UNMATCHED_EXAMPLE}{field}"
            example = stats.get_value(key)
            if example is None or [url, text] < list(example):
                stats.set_value(key, [url, text])

    def _inc(self, key: str, count: int = 1) -> None:
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None:
            stats.inc_value(key, count)

    def _inc_get(self, key: str, count: int = 1) -> int:
        """:meth:`_inc`, then the stat's new value (0 without a crawler)."""
        self._inc(key, count)
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        return int(stats.get_value(key, 0)) if stats is not None else 0
