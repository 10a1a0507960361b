"""Downloader middlewares: retries with exponential backoff, fetch times, and headless Chromium.

:class:`SeleniumMiddleware` renders the requests a spider flags with ``meta["harvest_render"]``
in a pool of reused headless Chromium browsers. Rendering runs in threads so the Twisted reactor
keeps crawling; a crashed browser is replaced and the page retried once. Without Chromium the
crawl carries on: JavaScript pages are kept with their plain HTML and an error saying why.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task, threads

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

RENDER_META = "harvest_render"  # request.meta flag: render this request with Chromium
PLAIN_META = "harvest_plain"  # request.meta: the plain HTTP response, kept if rendering fails
RENDER_ERROR_META = "harvest_render_error"  # request.meta: why the page is not rendered
FETCHED_AT_META = "harvest_fetched_at"  # request.meta: ISO UTC time the response was fetched
RENDERED_HEADER = b"X-Harvest-Rendered-With"

CHROMIUM_ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
UNAVAILABLE_WARNING = (
    "Chromium not found: JavaScript pages are stored unrendered; "
    "install chromium and chromium-driver"
)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry middleware, waiting ``base * 2**(n-1)`` seconds before the n-th retry.

    Settings: ``HARVEST_RETRY_BACKOFF_SECONDS`` (base, default 0.5) and
    ``HARVEST_RETRY_BACKOFF_MAX_SECONDS`` (cap, default 30). The wait does not block the reactor.
    """

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("HARVEST_RETRY_BACKOFF_SECONDS", 0.5)
        self.backoff_max = settings.getfloat("HARVEST_RETRY_BACKOFF_MAX_SECONDS", 30.0)

    def backoff_seconds(self, retry_times: int) -> float:
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(retry_times - 1, 0)))

    async def _after_backoff(self, result: Request | Response | None) -> Any:
        if isinstance(result, Request) and self.backoff_base > 0:
            from twisted.internet import reactor  # the installed one; never install at import

            delay = self.backoff_seconds(int(result.meta.get("retry_times", 1)))
            await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))
        return result

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        return await self._after_backoff(super().process_response(request, response))

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        return await self._after_backoff(super().process_exception(request, exception))


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


class RenderError(RuntimeError):
    """A page could not be rendered, even after restarting its browser."""


@dataclass
class Rendered:
    """What a browser made of one URL."""

    html: str
    error: str | None = None  # e.g. the wait_for selector did not appear in time
    restarts: int = 0
    final_url: str | None = None  # where the browser ended (a script may navigate away)


class BrowserPool:
    """Up to ``size`` headless Chromium browsers (Selenium), started lazily and reused.

    :meth:`render` is blocking and thread-safe; callers run it in threads and must not run more
    than ``size`` renders at once (the middleware guards that with a semaphore).
    """

    def __init__(
        self,
        size: int,
        chromium_path: str,
        chromedriver_path: str,
        *,
        wait_for: str | None = None,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.size = size
        self.chromium_path = chromium_path
        self.chromedriver_path = chromedriver_path
        self.wait_for = wait_for
        self.timeout_seconds = timeout_seconds
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._all: list[Any] = []
        self._profiles: dict[int, Path] = {}
        self._lock = threading.Lock()
        self._closed = False

    def start_browser(self) -> Any:
        """A new headless Chromium with a fresh profile directory."""
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        profile = Path(tempfile.mkdtemp(prefix="harvest-chromium-"))
        options = Options()
        options.binary_location = self.chromium_path
        for argument in CHROMIUM_ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={profile}")
        try:
            driver = webdriver.Chrome(
                service=Service(executable_path=self.chromedriver_path), options=options
            )
        except BaseException:
            shutil.rmtree(profile, ignore_errors=True)
            raise
        driver.set_page_load_timeout(self.timeout_seconds)
        with self._lock:
            self._all.append(driver)
            self._profiles[id(driver)] = profile
        return driver

    def quit_browser(self, driver: Any) -> None:
        """Quit one browser (it may already be dead) and remove its profile."""
        try:
            driver.quit()
        except Exception:  # a crashed browser cannot always be asked to quit
            logger.debug("quitting a browser failed", exc_info=True)
        with self._lock:
            if driver in self._all:
                self._all.remove(driver)
            profile = self._profiles.pop(id(driver), None)
        if profile is not None:
            shutil.rmtree(profile, ignore_errors=True)

    def _checkout(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self.start_browser()

    def _load(self, driver: Any, url: str) -> Rendered:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        error = None
        try:
            driver.get(url)
            if self.wait_for:
                WebDriverWait(driver, self.timeout_seconds).until(
                    expected_conditions.presence_of_element_located(
                        (By.CSS_SELECTOR, self.wait_for)
                    )
                )
        except TimeoutException:
            error = (
                f"javascript rendering timed out: {self.wait_for or 'the page'} "
                f"not ready within {self.timeout_seconds:g} s"
            )
        return Rendered(html=driver.page_source, error=error, final_url=driver.current_url)

    def render(self, url: str) -> Rendered:
        """Load ``url``, wait for ``wait_for``, return the DOM; restart a crashed browser once."""
        if self._closed:
            raise RenderError("the browser pool is closed")
        driver = self._checkout()
        restarts = 0
        try:
            try:
                result = self._load(driver, url)
            except Exception as exc:  # a dead browser raises WebDriverException or urllib3 errors
                logger.warning(
                    "Browser failed on %s (%s: %s); starting a new one and retrying once",
                    url,
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                )
                self.quit_browser(driver)
                driver = None
                restarts = 1
                driver = self.start_browser()
                try:
                    result = self._load(driver, url)
                except Exception as again:
                    self.quit_browser(driver)
                    driver = None
                    raise RenderError(
                        f"javascript rendering failed after a browser restart: "
                        f"{type(again).__name__}: {str(again).splitlines()[0] if str(again) else ''}"
                    ) from again
        finally:
            if driver is not None:
                if self._closed:
                    self.quit_browser(driver)
                else:
                    self._idle.put(driver)
        result.restarts = restarts
        return result

    def close(self) -> None:
        """Quit every browser."""
        self._closed = True
        with self._lock:
            drivers = list(self._all)
        for driver in drivers:
            self.quit_browser(driver)
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break

    @property
    def browsers(self) -> list[Any]:
        with self._lock:
            return list(self._all)


class SeleniumMiddleware:
    """Render requests flagged ``meta["harvest_render"]`` with a pool of headless Chromium.

    Settings: ``HARVEST_BROWSERS`` (pool size), ``HARVEST_JS_WAIT_FOR`` (CSS selector),
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
            )
        pool = self.pool
        try:
            rendered: Rendered = await maybe_deferred_to_future(
                self._semaphore.run(threads.deferToThread, pool.render, request.url)
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
