"""Downloader middlewares: retries with exponential backoff, fetch times, and headless Chromium.

The browser pool itself is :mod:`harvest.crawler.browser`.

:class:`SeleniumMiddleware` renders the requests a spider flags with ``meta["harvest_render"]``
in a pool of reused headless Chromium browsers. Rendering runs in threads so the Twisted reactor
keeps crawling; a crashed browser is replaced and the page retried once. Without Chromium the
crawl carries on: JavaScript pages are kept with their plain HTML and an error saying why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy import Request, signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, threads

from harvest.crawler.browser import (
    UNAVAILABLE_WARNING,
    BrowserPool,
    Rendered,
    RenderError,
    Scroll,
)
from harvest.crawler.throttle import RetryAfterTooLong, retry_after_seconds, sleep

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

RENDER_META = "harvest_render"  # request.meta flag: render this request with Chromium
PLAIN_META = "harvest_plain"  # request.meta: the plain HTTP response, kept if rendering fails
RENDER_ERROR_META = "harvest_render_error"  # request.meta: why the page is not rendered
FETCHED_AT_META = "harvest_fetched_at"  # request.meta: ISO UTC time the response was fetched
SCROLL_META = "harvest_scroll"  # request.meta: a browser.Scroll: scroll the rendered page
SCROLLED_META = "harvest_scrolled"  # request.meta: the browser.Scrolled of a scrolled page
RENDERED_HEADER = b"X-Harvest-Rendered-With"
# what a retry step hands back, passed through the backoff unchanged
_Outcome = TypeVar("_Outcome", bound=Request | Response | None)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry middleware, waiting ``base * 2**(n-1)`` seconds before the n-th retry, or
    what the site asks for in ``Retry-After`` on a 429/503.

    A ``Retry-After`` (seconds or an HTTP date) up to ``HARVEST_MAX_RETRY_AFTER_SECONDS`` is
    waited out before the retry; a longer one fails the page at once (:class:`RetryAfterTooLong`).
    (A 429 also slows the whole site down: :class:`harvest.crawler.throttle.SiteSlowDown`.)
    Settings: ``HARVEST_RETRY_BACKOFF_SECONDS`` (base, default 0.5)
    and ``HARVEST_RETRY_BACKOFF_MAX_SECONDS`` (cap, default 30). Stats:
    ``harvest/retry_after_waits``, ``harvest/retry_after_too_long``.
    The wait does not block the reactor.
    """

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("HARVEST_RETRY_BACKOFF_SECONDS", 0.5)
        self.backoff_max = settings.getfloat("HARVEST_RETRY_BACKOFF_MAX_SECONDS", 30.0)
        self.max_retry_after = settings.getfloat("HARVEST_MAX_RETRY_AFTER_SECONDS", 60.0)

    def backoff_seconds(self, retry_times: int) -> float:
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(retry_times - 1, 0)))

    async def _after_backoff(self, result: _Outcome, retry_after: float | None = None) -> _Outcome:
        if isinstance(result, Request):
            if retry_after is not None:
                self._inc("harvest/retry_after_waits")
                await sleep(retry_after)
            elif self.backoff_base > 0:
                await sleep(self.backoff_seconds(int(result.meta.get("retry_times", 1))))
        return result

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        retry_after = None
        if response.status in (429, 503) and not request.meta.get("dont_retry"):
            retry_after = retry_after_seconds(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                self._inc("harvest/retry_after_too_long")
                raise RetryAfterTooLong(response, retry_after, self.max_retry_after)
        result = super().process_response(request, response)
        return await self._after_backoff(result, retry_after)

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        return await self._after_backoff(super().process_exception(request, exception))

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)


class FetchTimeMiddleware:
    """Stamp ``meta["harvest_fetched_at"]``: when the site served the page (cached: originally)."""

    def process_response(self, request: Request, response: Response) -> Response:
        cached_at = request.meta.get("cache_timestamp")
        if "cached" in response.flags and cached_at:
            request.meta[FETCHED_AT_META] = dt.datetime.fromtimestamp(
                float(cached_at), dt.UTC
            ).isoformat()
        else:
            request.meta[FETCHED_AT_META] = utc_now_iso()
        return response


class SeleniumMiddleware:
    """Render requests flagged ``meta["harvest_render"]`` with a pool of headless Chromium.

    Settings: ``HARVEST_BROWSERS`` (pool size), ``USER_AGENT`` (sent by the browsers too),
    ``HARVEST_JS_WAIT_FOR`` (CSS selector),
    ``HARVEST_JS_TIMEOUT_SECONDS``, ``HARVEST_CHROMIUM_PATH`` and ``HARVEST_CHROMEDRIVER_PATH``.
    Stats: ``harvest/js_rendered`` (requests that reached this middleware: not served from the
    HTTP cache), ``harvest/js_unavailable``, ``harvest/browser_restarts``; the spider counts
    ``harvest/js_pages`` (every JavaScript page of the crawl, cached or not).
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.size = max(1, settings.getint("HARVEST_BROWSERS", 2))
        self.chromium_path: str | None = settings.get("HARVEST_CHROMIUM_PATH")
        self.chromedriver_path: str | None = settings.get("HARVEST_CHROMEDRIVER_PATH")
        self.wait_for: str | None = settings.get("HARVEST_JS_WAIT_FOR")
        self.timeout_seconds = settings.getfloat("HARVEST_JS_TIMEOUT_SECONDS", 15.0)
        self.user_agent: str | None = settings.get("USER_AGENT")
        self.cut_at = settings.getfloat("HARVEST_CUT_AT", 0.0) or None  # the deadline's cut
        self.pool: BrowserPool | None = None
        self.unavailable: str | None = self._why_unavailable()
        self._warned = False
        self._semaphore = defer.DeferredSemaphore(self.size)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _why_unavailable(self) -> str | None:
        missing = [
            f"{name} ({path or 'not on PATH'})"
            for name, path in (
                ("chromium", self.chromium_path),
                ("chromedriver", self.chromedriver_path),
            )
            if not path or not Path(path).is_file()
        ]
        return f"{' and '.join(missing)} not found" if missing else None

    def _mark_unavailable(self, reason: str) -> None:
        """Remember why rendering is impossible and warn about it once per crawl."""
        self.unavailable = reason
        if not self._warned:
            self._warned = True
            logger.warning("%s (%s)", UNAVAILABLE_WARNING, reason)

    async def process_request(self, request: Request) -> Response | None:
        if not request.meta.get(RENDER_META):
            return None
        self._inc("harvest/js_rendered")
        if self.unavailable is not None:
            self._mark_unavailable(self.unavailable)
            self._inc("harvest/js_unavailable")
            return self._plain(request, f"javascript rendering unavailable: {self.unavailable}")
        if self.pool is None:
            self.pool = BrowserPool(
                self.size,
                str(self.chromium_path),
                str(self.chromedriver_path),
                wait_for=self.wait_for,
                timeout_seconds=self.timeout_seconds,
                user_agent=self.user_agent,
            )
        pool = self.pool
        scroll = request.meta.get(SCROLL_META)
        if isinstance(scroll, Scroll) and self.cut_at is not None:
            scroll = dataclasses.replace(scroll, until=self.cut_at)
        try:
            rendered: Rendered = await maybe_deferred_to_future(
                self._semaphore.run(threads.deferToThread, pool.render, request.url, scroll)
            )
        except RenderError as exc:
            self._inc("harvest/browser_restarts")
            return self._plain(request, str(exc))
        except Exception as exc:  # the browser cannot even start: carry on without it
            if pool.browsers:
                return self._plain(request, f"javascript rendering failed: {exc}")
            self._mark_unavailable(f"cannot start Chromium: {type(exc).__name__}: {exc}")
            self._inc("harvest/js_unavailable")
            return self._plain(request, f"javascript rendering unavailable: {self.unavailable}")
        if rendered.restarts:
            self._inc("harvest/browser_restarts", rendered.restarts)
        if rendered.error:
            request.meta[RENDER_ERROR_META] = rendered.error
            request.meta["dont_cache"] = True
        if rendered.scrolled is not None:
            request.meta[SCROLLED_META] = rendered.scrolled
            if rendered.scrolled.ended == "deadline":  # cut short: not the page to keep
                request.meta["dont_cache"] = True
        plain = request.meta.get(PLAIN_META)
        final_url = rendered.final_url or request.url
        if final_url != request.url:  # checked like a redirect (PageCheckMiddleware); not cached
            request.meta["dont_cache"] = True
        return HtmlResponse(
            url=final_url,
            status=plain.status if isinstance(plain, Response) else 200,
            headers={
                b"Content-Type": b"text/html; charset=utf-8",
                RENDERED_HEADER: b"chromium",
            },
            body=rendered.html.encode("utf-8"),
            encoding="utf-8",
            request=request,
        )

    def _plain(self, request: Request, error: str) -> Response | None:
        """The plain HTTP response kept by the spider (or None: download it plainly)."""
        request.meta[RENDER_ERROR_META] = error
        request.meta["dont_cache"] = True
        plain = request.meta.get(PLAIN_META)
        if isinstance(plain, Response):
            return plain.replace(request=request)
        return None

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)

    def spider_closed(self) -> None:
        if self.pool is not None:
            self.pool.close()
