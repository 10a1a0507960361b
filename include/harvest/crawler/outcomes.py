"""Every page a spider asks for ends as exactly one outcome: stored, or failed with the reason.

Scrapy on its own loses pages silently: a redirect to a URL already seen is dropped by the
duplicate filter, a redirect off-site by the off-site filter, a gzip body cut short is decoded as
far as it goes, an empty 200 is a page, and an exception in a callback leaves no trace. These
middlewares turn each of those into a :class:`PageFailed` (which the spider's errback records as a
failed page) or a retry:

* :class:`TracedRedirectMiddleware` and :class:`TracedMetaRefreshMiddleware` (replace Scrapy's
  redirect middlewares): a redirect (3xx or meta refresh) that loops,
  leaves the site or lands on a login/blocked URL fails the page; every other redirect is
  followed even to a URL already crawled (the requested page still needs its outcome).
* :class:`BodyCheckMiddleware` (before the HTTP cache, so nothing it rejects is cached): a body
  cut short (``dataloss``, or a gzip/deflate stream that does not end) or empty where HTML was
  expected is retried, then failed; a non-HTML ``Content-Type`` fails at once (JSON is a page
  when the spec reads JSON: a ``jmespath`` selector anywhere; else the reason says so).
* :class:`PageCheckMiddleware` (after decompression and rendering): the final URL (after
  redirects or JavaScript navigation) must be on the site and not a blocked URL, and the page
  must not match the spec's ``blocked_selector``.
* :class:`PageErrorMiddleware` (spider middleware): an exception while extracting one page makes
  that page a failed page with the exception as the reason; the crawl goes on.

Only Harvest's page requests (``meta["harvest_page_type"]``) are checked; robots.txt is not.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from scrapy.downloadermiddlewares.redirect import (
    BaseRedirectMiddleware,
    MetaRefreshMiddleware,
    RedirectMiddleware,
)
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

from harvest.crawler.completeness import LEVEL_META
from harvest.errors import HarvestError

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PAGE_TYPE_META = (
    "harvest_page_type"  # request.meta: "index" | "detail" | "sitemap"; marks a page request
)
RECORDED_META = "harvest_recorded"  # request.meta: the spider already yielded this page's item
BLOCKED = "a login/blocked page"
HTML_TYPES = (b"text/html", b"application/xhtml+xml")
SITEMAP_TYPES = (
    b"application/xml", b"text/xml", b"text/plain", b"application/gzip", b"application/x-gzip",
)  # fmt: skip
"""What a sitemap page (``page_type`` ``sitemap``) may be besides HTML: XML, robots.txt, gzip."""
_INFLATE_CHUNK = 1 << 20


class PageFailed(HarvestError, IgnoreRequest):
    """A page that was fetched (or redirected) but must not be stored as a good page."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        final_url: str | None = None,
        redirect_chain: list[str] | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.final_url = final_url
        self.redirect_chain = redirect_chain or []
        self.content_type = content_type

    @classmethod
    def of(cls, reason: str, request: Request, response: Response) -> PageFailed:
        """The failure of a page that was fetched: its status, final URL, chain and type."""
        return cls(
            reason,
            status=response.status,
            final_url=response.url,
            redirect_chain=redirect_chain(request, response.url),
            content_type=content_type(response),
        )


def is_page_request(request: Request) -> bool:
    return PAGE_TYPE_META in request.meta


def redirect_chain(request: Request, final_url: str) -> list[str]:
    """The URLs a page request went through: the requested one first, ``final_url`` last."""
    chain = [*request.meta.get("redirect_urls", [])]
    if not chain or chain[-1] != final_url:
        chain.append(final_url)
    return chain


LOGIN_FORM_SELECTOR = "form input[type=password]"


def unreadable(response: Response, reads_json: bool) -> str | None:
    """What a fetched page is when the spec cannot read it: a login form, or JSON served as
    HTML to a spec that reads HTML (a JSON ``Content-Type`` fails earlier:
    :class:`BodyCheckMiddleware`); None when it looks like a page the spec reads."""
    from scrapy.http import TextResponse

    if not isinstance(response, TextResponse):
        return f"the page is not text ({content_type(response) or 'no Content-Type'})"
    if response.selector.type == "json":
        return None
    if response.css(LOGIN_FORM_SELECTOR):
        return (
            "the page is a login form (it has a password field): the site wants a login "
            "(give the spec a login:, whose credentials come from an Airflow Connection or the "
            "environment)"
        )
    text = response.text.lstrip()
    if not reads_json and text[:1] in ("{", "["):
        import json

        try:
            json.loads(text)
        except ValueError:
            return None
        return (
            f"the page is JSON (served as {content_type(response) or 'no Content-Type'}), and "
            "the spec reads HTML (css/xpath): read JSON with 'jmespath:' selectors"
        )
    return None


def content_type(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    return value.decode("latin-1") if value else None


class _SiteRules:
    """The spider's own hosts and the spec's blocked URL patterns and selector."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.blocked_patterns = [
            re.compile(p) for p in settings.getlist("HARVEST_BLOCKED_URL_PATTERNS")
        ]
        self.blocked_selector: str | None = settings.get("HARVEST_BLOCKED_SELECTOR") or None

    def url_problem(self, url: str) -> tuple[str, str] | None:
        """Why a page must not end at ``url``: ``("off-site", why)`` or ``("a login/blocked
        page", why)``; None when it may."""
        spider = self.crawler.spider
        domains = list(getattr(spider, "allowed_domains", None) or [])
        host = (urlparse(url).hostname or "").lower()
        if domains and not any(host == d or host.endswith(f".{d}") for d in domains):
            return "off-site", f"{url} is not on {', '.join(domains)}"
        for pattern in self.blocked_patterns:
            if pattern.search(url):
                return BLOCKED, f"{url} matches blocked_url_patterns {pattern.pattern!r}"
        return None


def ended(how: str, problem: tuple[str, str]) -> str:
    """``"redirected off-site: ..."``, ``"javascript navigated to a login/blocked page: ..."``."""
    label, why = problem
    return f"{how} {'to ' if label == BLOCKED else ''}{label}: {why}"


class _TracedRedirects(BaseRedirectMiddleware):
    """Fail a page redirected in a loop, off-site or to a blocked URL; follow other redirects
    even to URLs already crawled. Mixed into Scrapy's two redirect middlewares."""

    rules: _SiteRules | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        middleware.rules = _SiteRules(crawler)
        return middleware

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        if not is_page_request(request):
            return super()._redirect(redirected, request, reason)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        target = redirected.url
        if target in chain:
            raise PageFailed(
                f"redirect loop: {' -> '.join([*chain, target])}",
                final_url=target,
                redirect_chain=[*chain, target],
            )
        problem = self.rules.url_problem(target) if self.rules else None
        if problem:
            raise PageFailed(
                ended("redirected", problem), final_url=target, redirect_chain=[*chain, target]
            )
        try:
            followed = super()._redirect(redirected, request, reason)
        except IgnoreRequest:
            raise PageFailed(
                f"too many redirects (more than {self.max_redirect_times}): "
                f"{' -> '.join([*chain, target])}",
                final_url=target,
                redirect_chain=[*chain, target],
            ) from None
        followed.dont_filter = True  # its page was asked for: never dropped as a duplicate
        return followed


class TracedRedirectMiddleware(_TracedRedirects, RedirectMiddleware):
    """Scrapy's 3xx redirect middleware with the checks of :class:`_TracedRedirects`."""


class TracedMetaRefreshMiddleware(_TracedRedirects, MetaRefreshMiddleware):
    """Scrapy's ``<meta http-equiv="refresh">`` middleware with the same checks."""


def incomplete_body(response: Response) -> str | None:
    """Why a response's body is not the whole page (cut short, or empty), or None."""
    if "dataloss" in response.flags:
        return "truncated body: fewer bytes than Content-Length"
    if not response.body:
        return f"empty body (HTTP {response.status})"
    encodings = [
        part.strip().lower()
        for header in response.headers.getlist(b"Content-Encoding")
        for part in header.split(b",")
    ]
    if encodings and encodings[-1] in (b"gzip", b"x-gzip", b"deflate"):
        wbits = 47 if encodings[-1] != b"deflate" else 15  # 47: gzip or zlib header
        inflater = zlib.decompressobj(wbits)
        data = response.body
        try:
            while data and not inflater.eof:
                inflater.decompress(data, _INFLATE_CHUNK)  # output dropped: only the end matters
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            if encodings[-1] == b"deflate":  # raw deflate without a zlib header is common
                return None if _raw_deflate_ends(response.body) else f"corrupt body: {exc}"
            return f"corrupt {encodings[-1].decode()} body: {exc}"
        if not inflater.eof:
            return f"truncated body: the {encodings[-1].decode()} stream ends early"
    return None


def _raw_deflate_ends(body: bytes) -> bool:
    inflater = zlib.decompressobj(-15)
    try:
        inflater.decompress(body)
    except zlib.error:
        return False
    return inflater.eof


class BodyCheckMiddleware:
    """Retry, then fail, a page whose body is cut short or empty; fail a non-HTML page.

    Sits before the HTTP cache (a higher order than 900) so a response it rejects is never
    cached. Stats: ``harvest/incomplete_bodies``, ``harvest/non_html_pages``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.reads_json = crawler.settings.getbool("HARVEST_READS_JSON")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not is_page_request(request) or not 200 <= response.status < 300:
            return response
        kind = content_type(response)
        mime = (kind or "").split(";")[0].strip().lower().encode()
        accepted: tuple[bytes, ...] = HTML_TYPES
        if request.meta.get(PAGE_TYPE_META) == "sitemap":
            accepted += SITEMAP_TYPES
        json_page = mime.endswith(b"json")
        if kind and mime not in accepted and not (json_page and self.reads_json):
            self._inc("harvest/non_html_pages")
            hint = ""
            if json_page:
                hint = "; the spec reads HTML (css/xpath): read JSON with 'jmespath:' selectors"
            raise PageFailed.of(f"not an HTML page (Content-Type: {kind}){hint}", request, response)
        problem = incomplete_body(response)
        if problem is None:
            return response
        self._inc("harvest/incomplete_bodies")
        spider = self.crawler.spider
        retry = get_retry_request(request, spider=spider, reason=problem) if spider else None
        if retry is not None:
            return retry
        raise PageFailed.of(problem, request, response)

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)


class PageCheckMiddleware:
    """Fail a page whose final URL is off-site or blocked, or that shows the blocked selector."""

    def __init__(self, crawler: Crawler) -> None:
        self.rules = _SiteRules(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if not is_page_request(request) or not 200 <= response.status < 300:
            return response
        problem = self.rules.url_problem(response.url)
        selector = self.rules.blocked_selector
        if problem is not None and response.url != request.url:
            reason = ended("javascript navigated", problem)  # redirects were checked hop by hop
        elif problem is not None:
            reason = f"{problem[0]}: {problem[1]}"
        elif selector and hasattr(response, "css") and response.css(selector):
            reason = f"{BLOCKED}: it matches blocked_selector {selector!r}"
        else:
            return response
        raise PageFailed.of(reason, request, response)


class PageErrorMiddleware:
    """Spider middleware: an exception while extracting one page becomes that page's failure."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_spider_exception(
        self, response: Response, exception: Exception, spider: Any = None
    ) -> Iterable[Any] | None:
        from scrapy.spidermiddlewares.httperror import HttpError

        spider = self.crawler.spider
        if isinstance(exception, HttpError | IgnoreRequest) or not hasattr(spider, "failed_page"):
            return None
        request = response.request
        if request is None or not is_page_request(request):
            return None
        logger.error(
            "extracting %s failed: %s: %s",
            response.url,
            type(exception).__name__,
            exception,
            exc_info=exception,
        )
        if request.meta.get(RECORDED_META):  # its item went out before the error: replace it
            stats = self.crawler.stats
            if stats is not None:
                stats.inc_value("harvest/pages_ok", -1)
                if request.meta.get(PAGE_TYPE_META) == "detail":  # its record is no record
                    stats.inc_value("harvest/item_pages", -1)
        if request.meta.get(LEVEL_META) is not None and hasattr(spider, "unfollowed"):
            spider.unfollowed(request.meta[LEVEL_META], "failed")  # the account: a failed page
        return [
            spider.failed_page(
                request,
                f"extraction failed: {type(exception).__name__}: {exception}",
                status=response.status,
                final_url=response.url,
                content_type=content_type(response),
            )
        ]
