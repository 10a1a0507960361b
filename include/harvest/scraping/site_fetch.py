"""The pages a repair fetches from a source's site (:mod:`harvest.learning.walk`): a sample of
item pages through proposed level selectors, asked as the crawl asks them.

One request at a time with the spec's ``crawl.download_delay_seconds`` between them (or the
site's robots.txt ``Crawl-delay``, capped at ``crawl.max_crawl_delay_seconds``), robots.txt
obeyed when the spec's ``crawl.obey_robots_txt`` is (one that answers 5xx or not at all allows
nothing, RFC 9309, as the crawl reads it), the crawl's user agent; a page the spec's
``javascript`` says needs a browser is rendered by headless Chromium (``wait_for`` awaited) and
left out when Chromium is not installed (its plain HTML lacks the values a field is learned
from). A page that cannot be fetched is logged and left out: a repair never fails a stage. URLs are
stored under the spec's own ``base_url`` (:func:`harvest.crawler.pipelines.canonical_url`):
they are asked where the site is reached this time (the crawl's ``base_url``, else
``HARVEST_SOURCE_<NAME>_BASE_URL``), and the pages keep their stored URLs.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from scrapy.http import HtmlResponse

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.crawler.pipelines import canonical_url
from harvest.scraping.draft import Fetcher
from harvest.scraping.preview import needs_rendering

log = logging.getLogger(__name__)


class SiteFetch:
    """``fetch(url)`` -> ``(final URL, HTML)`` or ``None`` (not allowed, failed, needs a browser
    that is not installed); a context manager that closes the browser it may start."""

    def __init__(self, spec: SourceSpec, settings: Settings, base_url: str | None = None) -> None:
        crawl = spec.crawl
        self.spec = spec
        self.canonical = spec.base_url.rstrip("/")
        self.reached = (base_url or spec.resolved_base_url()).rstrip("/")
        self.fetcher = Fetcher(
            settings.user_agent,
            delay=crawl.download_delay_seconds,
            browser=spec.javascript.enabled,
            obey_robots=crawl.obey_robots_txt,
            max_crawl_delay=crawl.max_crawl_delay_seconds,
            wait_for=spec.javascript.wait_for,
        )

    def __call__(self, url: str) -> tuple[str, str] | None:
        url = canonical_url(url, self.canonical, self.reached)  # where the site is reached
        try:
            if not self.fetcher.allowed(url):
                log.info("source=%s: repair does not fetch %s: robots.txt", self.spec.name, url)
                return None
            page = self.fetcher.get(url)
            plain = HtmlResponse(page.url, body=page.html, encoding="utf-8")
            if self.spec.javascript.enabled and needs_rendering(self.spec, plain):
                if not self.fetcher.can_render:
                    log.info("source=%s: %s needs a browser (not installed)", self.spec.name, url)
                    return None
                page = self.fetcher.render(url)
        except Exception as exc:  # a page, the browser, a bad URL: a repair never fails a stage
            log.warning("source=%s: repair could not fetch %s: %s", self.spec.name, url, exc)
            return None
        return canonical_url(page.url, self.reached, self.canonical), page.html

    @property
    def requests(self) -> int:
        return self.fetcher.requests

    def close(self) -> None:
        self.fetcher.close()

    def __enter__(self) -> SiteFetch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def run_site_repair(settings: Settings, args: Any) -> int:
    """The ``repair`` command with item pages fetched through proposed levels, where the site is
    served now (``--base-url``, else the spec's; :func:`harvest.learning.repair.run_repair`;
    ``--offline`` fetches nothing)."""
    from harvest.learning.repair import run_repair

    return run_repair(settings, args, lambda spec: SiteFetch(spec, settings, args.base_url))
