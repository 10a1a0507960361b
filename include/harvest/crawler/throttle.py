"""Per-site pacing: robots.txt Crawl-delay, Retry-After, and slowing a site down after a 429.

A site's minimum delay lives where Scrapy itself keeps per-site settings: the downloader's
``DOWNLOAD_SLOTS`` entry for the site's slot (``{"delay": seconds}``), read whenever the slot is
(re)created. :func:`raise_site_delay` writes it there and into the live slot;
:class:`SiteAutoThrottle` is Scrapy's AutoThrottle that never lowers a slot below that floor
(the stock one only knows the global ``DOWNLOAD_DELAY``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider, signals
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from harvest.errors import HarvestError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

SLOW_DOWN_MIN_SECONDS = 1.0  # the least gap a site gets after answering 429


class RetryAfterTooLong(HarvestError):
    """A 429/503 asked for a wait longer than ``crawl.max_retry_after_seconds``: the page fails.

    ``response`` is the site's answer, so the failure is recorded with its status.
    """

    def __init__(self, response: Response, seconds: float, cap: float) -> None:
        self.response = response
        super().__init__(
            f"HTTP {response.status} with Retry-After {seconds:g} s, more than "
            f"crawl.max_retry_after_seconds ({cap:g} s); not retried"
        )


def retry_after_seconds(response: Response, now: dt.datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (>= 0), or ``None`` without one.

    RFC 9110 allows delay-seconds (``120``) or an HTTP date (``Wed, 21 Oct 2026 07:28:00 GMT``);
    anything else is ignored (``None``), with a debug line.
    """
    raw = response.headers.get(b"Retry-After")
    if not raw:
        return None
    text = raw.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        logger.debug("ignoring an unreadable Retry-After %r from %s", text, response.url)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


async def sleep(seconds: float) -> None:
    """Wait without blocking the reactor."""
    if seconds > 0:
        from twisted.internet import reactor  # the installed one; never install at import

        await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))


def site_delay(crawler: Crawler, request: Request) -> float:
    """The current minimum delay of ``request``'s site (0 when none was set)."""
    downloader = crawler.engine.downloader if crawler.engine else None
    if downloader is None:
        return 0.0
    key = downloader.get_slot_key(request)
    return float(downloader.per_slot_settings.get(key, {}).get("delay", 0.0))


def raise_site_delay(
    crawler: Crawler, request: Request, seconds: float, *, pause: float = 0.0
) -> float:
    """Make ``request``'s site wait at least ``seconds`` between requests for the rest of the
    crawl (never lowering a floor already set); with ``pause``, send nothing to it for that
    many seconds from now. Returns the site's delay now in force."""
    downloader = crawler.engine.downloader if crawler.engine else None
    if downloader is None:
        return 0.0
    key = downloader.get_slot_key(request)
    per_slot = downloader.per_slot_settings.setdefault(key, {})
    floor = max(float(per_slot.get("delay", 0.0)), seconds)
    per_slot["delay"] = floor
    slot = downloader.slots.get(key)
    if slot is not None:
        slot.delay = max(slot.delay, floor)
        if pause > 0:
            # the downloader waits until lastseen + delay; push that to now + pause
            slot.lastseen = max(slot.lastseen, time.monotonic() + pause - slot.delay)
    return floor


class SiteAutoThrottle(AutoThrottle):
    """AutoThrottle that keeps each site at or above its own floor (see :func:`raise_site_delay`)."""

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        super()._response_downloaded(response, request, spider)
        key, slot = self._get_slot(request, spider)
        if key is None or slot is None:
            return
        per_slot: dict[str, Any] = self.crawler.engine.downloader.per_slot_settings.get(key, {})
        floor = float(per_slot.get("delay", 0.0))
        if slot.delay < floor:
            slot.delay = floor


class SiteSlowDown:
    """After a 429, slow the whole site down for the rest of the crawl: its delay doubles (at
    least 1 s, at most ``HARVEST_MAX_CRAWL_DELAY_SECONDS``) and nothing more is sent to it until
    the ``Retry-After`` (at most ``HARVEST_MAX_RETRY_AFTER_SECONDS``) has passed.

    It listens to ``response_downloaded``, which the downloader sends before it picks the
    site's next request, so no request slips out at the old pace. Stat: ``harvest/site_slowdowns``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.max_delay = crawler.settings.getfloat("HARVEST_MAX_CRAWL_DELAY_SECONDS", 10.0)
        self.max_retry_after = crawler.settings.getfloat("HARVEST_MAX_RETRY_AFTER_SECONDS", 60.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteSlowDown:
        extension = cls(crawler)
        crawler.signals.connect(extension.response_downloaded, signal=signals.response_downloaded)
        return extension

    def response_downloaded(self, response: Response, request: Request) -> None:
        if response.status != 429:
            return
        wanted = min(
            self.max_delay, max(2 * site_delay(self.crawler, request), SLOW_DOWN_MIN_SECONDS)
        )
        pause = min(retry_after_seconds(response) or 0.0, self.max_retry_after)
        delay = raise_site_delay(self.crawler, request, wanted, pause=pause)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("harvest/site_slowdowns")
        logger.warning(
            "HTTP 429 from %s: slowing the site down to one request every %g s%s",
            request.url,
            delay,
            f", after a pause of {pause:g} s (Retry-After)" if pause else "",
        )
