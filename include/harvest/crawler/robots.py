"""robots.txt per RFC 9309, on top of Scrapy's own robots middleware and parsers.

Scrapy's :class:`~scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware` parses whatever
robots.txt answer it gets, so a 503 page reads as "allow everything", and the fetch goes
through the retry middleware (four fetches in a few seconds). RFC 9309 (section 2.3.1) says:

- 2xx: obey the file; its ``Crawl-delay`` for our user agent becomes the site's minimum delay
  (capped by ``HARVEST_MAX_CRAWL_DELAY_SECONDS``; a larger one is logged and the cap used);
- 3xx: follow up to five redirects, even to another host; more: unavailable (allow all);
- 4xx: unavailable, allow all (429 is the exception: the site is overloaded, treated as 5xx);
- 5xx or a network error: unreachable, disallow all for this crawl. Every page of that site is
  then recorded as a failed page saying why (:class:`RobotsTxtUnavailable`), so the next run
  fetches it again.

One fetch per site, and at most one polite retry after ``Retry-After`` (or the retry backoff),
never longer than ``HARVEST_MAX_RETRY_AFTER_SECONDS``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from harvest.crawler.throttle import raise_site_delay, retry_after_seconds, sleep
from harvest.errors import HarvestError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five consecutive redirects
ATTEMPTS = 2  # one fetch and one polite retry of a 5xx / network error


class RobotsTxtUnavailable(HarvestError):
    """A page not fetched because its site's robots.txt is unreachable (5xx, 429, network)."""


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's robots.txt middleware with RFC 9309 status handling and Crawl-delay.

    Settings: ``ROBOTSTXT_OBEY``, ``HARVEST_MAX_CRAWL_DELAY_SECONDS`` (default 10),
    ``HARVEST_MAX_RETRY_AFTER_SECONDS`` (default 60), ``HARVEST_RETRY_BACKOFF_SECONDS`` (the
    wait before the retry when no Retry-After is given). Stats: Scrapy's ``robotstxt/*`` and
    ``harvest/robotstxt_unreachable`` (sites), ``harvest/robotstxt_blocked`` (pages),
    ``harvest/crawl_delay_capped``.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.max_crawl_delay = settings.getfloat("HARVEST_MAX_CRAWL_DELAY_SECONDS", 10.0)
        self.max_retry_after = settings.getfloat("HARVEST_MAX_RETRY_AFTER_SECONDS", 60.0)
        self.retry_wait = settings.getfloat("HARVEST_RETRY_BACKOFF_SECONDS", 0.5)
        # netloc -> why its robots.txt counts as disallow-all
        self._unreachable: dict[str, str] = {}

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        reason = self._unreachable.get(urlparse_cached(request).netloc)
        if reason is not None:
            self._stats.inc_value("harvest/robotstxt_blocked")
            raise RobotsTxtUnavailable(f"{reason}; RFC 9309: nothing on the site is fetched")
        super().process_request_2(rp, request)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robots_url = f"{url.scheme}://{netloc}/robots.txt"
            try:
                response = await self._fetch(robots_url)
            except IgnoreRequest as exc:  # too many redirects: unavailable, allow all
                self._allow_all(netloc, f"robots.txt {robots_url} not usable ({exc})")
            except Exception as exc:
                self._disallow_all(
                    netloc, f"robots.txt {robots_url} unreachable ({type(exc).__name__}: {exc})"
                )
            else:
                status = response.status
                if 200 <= status < 300:
                    await self._parse_robots(response, netloc, request)  # counts the response
                    self._apply_crawl_delay(netloc, request)
                else:
                    self._stats.inc_value("robotstxt/response_count")
                    self._stats.inc_value(f"robotstxt/response_status_count/{status}")
                    why = f"robots.txt {robots_url} answered HTTP {status}"
                    if status >= 500 or status == 429:
                        self._disallow_all(netloc, why)
                    else:
                        self._allow_all(netloc, why)
            self._stats.inc_value("robotstxt/request_count")

        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser

    async def _fetch(self, robots_url: str) -> Response:
        """robots.txt after redirects; a 5xx/429 or network error is retried once, politely."""
        for attempt in range(1, ATTEMPTS + 1):
            robots_request = Request(
                robots_url,
                priority=self.DOWNLOAD_PRIORITY,
                meta={
                    "dont_obey_robotstxt": True,
                    "dont_retry": True,  # retried here, once, not by the retry middleware
                    "allow_offsite": True,  # a redirect may lead to another host
                    "redirect_ttl": MAX_REDIRECTS,
                },
                callback=NO_CALLBACK,
                dont_filter=True,
            )
            try:
                response = await self.crawler.engine.download_async(robots_request)
            except IgnoreRequest:
                raise
            except Exception as exc:
                if attempt == ATTEMPTS:
                    raise
                wait = self.retry_wait
                logger.warning("robots.txt %s: %s; retrying in %g s", robots_url, exc, wait)
            else:
                if attempt == ATTEMPTS or not (response.status >= 500 or response.status == 429):
                    return response
                retry_after = retry_after_seconds(response)
                if retry_after is not None and retry_after > self.max_retry_after:
                    return response
                wait = self.retry_wait if retry_after is None else retry_after
                logger.warning(
                    "robots.txt %s answered HTTP %d; retrying once in %g s",
                    robots_url,
                    response.status,
                    wait,
                )
            await sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _disallow_all(self, netloc: str, reason: str) -> None:
        logger.error(
            "%s: RFC 9309 says disallow all; every page of %s is recorded as failed this crawl",
            reason,
            netloc,
        )
        self._unreachable[netloc] = reason
        self._stats.inc_value("harvest/robotstxt_unreachable")
        self._resolve(netloc, None)

    def _allow_all(self, netloc: str, reason: str) -> None:
        logger.info("%s: RFC 9309 says allow all", reason)
        self._resolve(netloc, None)

    def _resolve(self, netloc: str, parser: Any) -> None:
        waiting = self._parsers[netloc]
        self._parsers[netloc] = parser
        if isinstance(waiting, Deferred):
            waiting.callback(parser)

    def _apply_crawl_delay(self, netloc: str, request: Request) -> None:
        """The site's ``Crawl-delay`` for our user agent, capped, as its minimum delay."""
        parser = self._parsers.get(netloc)
        if parser is None or isinstance(parser, Deferred):
            return
        user_agent = self._robotstxt_useragent or self._default_useragent
        delay = parser.crawl_delay(user_agent)
        if not delay:
            return
        if delay > self.max_crawl_delay:
            logger.warning(
                "robots.txt of %s asks for Crawl-delay %g s, more than "
                "crawl.max_crawl_delay_seconds (%g s); using %g s",
                netloc,
                delay,
                self.max_crawl_delay,
                self.max_crawl_delay,
            )
            self._stats.inc_value("harvest/crawl_delay_capped")
            delay = self.max_crawl_delay
        applied = raise_site_delay(self.crawler, request, float(delay))
        logger.info(
            "robots.txt of %s: Crawl-delay %g s (site delay now %g s)", netloc, delay, applied
        )
