"""A pool of reused headless Chromium browsers (Selenium) that render JavaScript pages.

:class:`BrowserPool` starts browsers lazily, reuses them across pages, and replaces one that
crashed; :class:`~harvest.crawler.middlewares.SeleniumMiddleware` drives it from the crawl.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvest.errors import HarvestError

logger = logging.getLogger(__name__)

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


class RenderError(HarvestError, RuntimeError):
    """A page could not be rendered, even after restarting its browser."""


@dataclass(frozen=True)
class Scroll:
    """Scroll a rendered page (or click its ``load_more`` button) until the elements
    ``by``/``selector`` (Selenium's ``By.CSS_SELECTOR`` or ``By.XPATH``: the level's cards) stop
    growing: at most ``max_rounds`` scrolls or clicks, waiting ``wait_seconds`` for new ones
    after each, and never past ``until`` (Unix seconds: the crawl's deadline cut)."""

    by: str
    selector: str
    load_more: str | None = None
    max_rounds: int = 50
    wait_seconds: float = 3.0
    until: float | None = None


@dataclass
class Scrolled:
    """How a scroll ended: ``rounds`` scrolls or clicks made, ``elements`` counted at the
    end (``before`` after the first load), and why it stopped: ``no new cards``, ``no load
    more button``, ``max_rounds`` (still growing: the page may show more) or ``deadline``."""

    rounds: int
    before: int
    elements: int
    ended: str


@dataclass
class Rendered:
    """What a browser made of one URL."""

    html: str
    error: str | None = None  # e.g. the wait_for selector did not appear in time
    restarts: int = 0
    final_url: str | None = None  # where the browser ended (a script may navigate away)
    scrolled: Scrolled | None = None  # with a Scroll: how scrolling ended


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
        user_agent: str | None = None,
    ) -> None:
        self.size = size
        self.chromium_path = chromium_path
        self.chromedriver_path = chromedriver_path
        self.wait_for = wait_for
        self.timeout_seconds = timeout_seconds
        self.user_agent = user_agent
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
        if self.user_agent:  # else Chromium says HeadlessChrome
            options.add_argument(f"--user-agent={self.user_agent}")
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

    def _load(self, driver: Any, url: str, scroll: Scroll | None = None) -> Rendered:
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
        scrolled = scroll_page(driver, scroll) if scroll is not None and error is None else None
        return Rendered(
            html=driver.page_source, error=error, final_url=driver.current_url, scrolled=scrolled
        )

    def render(self, url: str, scroll: Scroll | None = None) -> Rendered:
        """Load ``url``, wait for ``wait_for``, scroll it (``scroll``), return the DOM; restart a
        crashed browser once."""
        if self._closed:
            raise RenderError("the browser pool is closed")
        driver = self._checkout()
        restarts = 0
        try:
            try:
                result = self._load(driver, url, scroll)
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
                    result = self._load(driver, url, scroll)
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


def scroll_page(driver: Any, scroll: Scroll) -> Scrolled:
    """Scroll ``driver``'s page to the bottom, or click its ``load_more`` button, until no new
    element of ``scroll`` appears within ``wait_seconds`` (see :class:`Scroll`)."""
    import time

    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    by = By.CSS_SELECTOR if scroll.by == "css" else By.XPATH

    def count() -> int:
        return len(driver.find_elements(by, scroll.selector))

    before = seen = count()
    rounds = 0
    while True:
        if rounds >= scroll.max_rounds:
            return Scrolled(rounds, before, seen, "max_rounds")
        if scroll.until is not None and time.time() >= scroll.until:
            return Scrolled(rounds, before, seen, "deadline")
        if scroll.load_more:
            buttons = [
                b
                for b in driver.find_elements(By.CSS_SELECTOR, scroll.load_more)
                if b.is_displayed() and b.is_enabled()
            ]
            if not buttons:
                return Scrolled(rounds, before, seen, "no load more button")
            driver.execute_script(
                "arguments[0].scrollIntoView(); arguments[0].click();", buttons[0]
            )
        else:
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        rounds += 1
        wait = scroll.wait_seconds
        if scroll.until is not None:
            wait = max(0.1, min(wait, scroll.until - time.time()))

        def grew(_: Any, than: int = seen) -> bool:
            return count() > than

        try:
            WebDriverWait(driver, wait, poll_frequency=0.1).until(grew)
        except TimeoutException:
            late = scroll.until is not None and time.time() >= scroll.until
            return Scrolled(rounds, before, count(), "deadline" if late else "no new cards")
        seen = count()
