"""The base of every Harvest spider: the constructor contract, page items and failure records.

A hand-written spider (named by ``spider:`` in a source spec) subclasses :class:`HarvestSpider`
(or :class:`~harvest.crawler.spiders.generic.GenericSpider`) and is constructed with keyword
arguments ``spec`` (the :class:`SourceSpec`), ``logical_date`` (the partition, a ``date``) and
``base_url`` (``None``: the spec's, after its environment override). Its name is the source name.
It yields :class:`PageItem` objects built with :meth:`page_item`, schedules pages with
:meth:`page_request` (which honours ``crawl.max_pages`` and records failures through
:meth:`errback`) and may hand JavaScript pages to Chromium with :meth:`render_request`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from harvest.config.spec import SourceSpec
from harvest.crawler.completeness import LEVEL_META
from harvest.crawler.deadline import DEADLINE_PAGES_STAT, DeadlineReached
from harvest.crawler.items import PageItem
from harvest.crawler.limits import canonical_url_for
from harvest.crawler.middlewares import (
    FETCHED_AT_META,
    PLAIN_META,
    RENDER_ERROR_META,
    RENDER_META,
    RENDERED_HEADER,
    utc_now_iso,
)
from harvest.crawler.outcomes import (
    PAGE_TYPE_META,
    RECORDED_META,
    PageFailed,
    content_type,
    redirect_chain,
)
from harvest.crawler.spiders.account import URL_META as URL_META
from harvest.crawler.spiders.account import CrawlAccount
from harvest.crawler.spiders.forms import LoginSteps
from harvest.partitions import Partition

# The list pages of a crawl form branches: the pages of one level reached from one link (a
# category's first page and its next/numbered pages). A request carries the branch it belongs to
# (the URL of the branch's first page) and the branch that linked that first page (its parent);
# each list page's item says so, with the URLs it links (harvest.observation reads them).
BRANCH_META = "harvest_branch"
PARENT_META = "harvest_parent_branch"
NUMBERED_META = "harvest_numbered"  # a numbered page (pages.template): a 404 ends the numbering
ITEM_PAGES_STAT = "harvest/item_pages"


class HarvestSpider(LoginSteps, CrawlAccount, scrapy.Spider):
    """Base class: spec, partition, page scheduling with ``max_pages``, items and failures."""

    name = "harvest"

    def __init__(
        self,
        spec: SourceSpec,
        logical_date: Partition | dt.date,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=spec.name, **kwargs)
        self.spec = spec
        self.partition = Partition.of(spec.name, logical_date)  # parsed once, by the crawl child
        self.logical_date = self.partition.day
        self.base_url = (base_url or spec.resolved_base_url()).rstrip("/")
        host = urlparse(self.base_url).hostname
        self.allowed_domains = [host] if host else []
        self.max_pages = spec.crawl.max_pages
        self._scheduled: set[str] = set()
        self.refused: str | None = None  # why the last page_request gave None
        self._js_patterns = [re.compile(p) for p in spec.javascript.url_patterns]
        self._last_canonical: tuple[tuple[str, str] | None, str] = (None, "")
        self._last_join: tuple[Response | None, str, str] = (None, "", "")

    # -- scheduling -------------------------------------------------------------------------

    def start_urls_for_partition(self) -> list[str]:
        return self.spec.start_urls_for(self.partition, base_url=self.base_url)

    def page_request(
        self, url: str, page_type: str, callback: Callable[..., Any], *, encoding: str = "utf-8"
    ) -> scrapy.Request | None:
        """A request for a page not seen yet, or ``None`` (seen, or ``max_pages`` reached).

        ``url`` is canonicalised first (:func:`~harvest.crawler.limits.canonical_url_for`): the
        same page reached with another session id or query order is seen already. ``encoding``
        escapes non-ASCII characters of the query (the path is always UTF-8); a link found on a
        page must use the page's encoding: see :meth:`follow_request`.
        """
        url = self.canonical_url(url, encoding)
        if url in self._scheduled:
            self.refused = "duplicate"
            return None
        if self.max_pages is not None and len(self._scheduled) >= self.max_pages:
            self.refused = "budget"
            if self._inc_get("harvest/max_pages_skipped") == 1:
                self.logger.warning(
                    "source %s, %s: page budget crawl.max_pages=%d reached; not following "
                    "further links (first: %s)",
                    self.spec.name,
                    self.logical_date,
                    self.max_pages,
                    url,
                )
            return None
        self._scheduled.add(url)
        self._inc("harvest/pages_asked")
        meta: dict[str, Any] = {PAGE_TYPE_META: page_type, URL_META: url}
        if any(pattern.search(url) for pattern in self._js_patterns):
            meta[RENDER_META] = True
            self._inc("harvest/js_pages")
        return scrapy.Request(
            url, callback=callback, errback=self.errback, meta=meta, encoding=encoding
        )

    def follow_request(
        self, response: TextResponse, href: str, page_type: str, callback: Callable[..., Any]
    ) -> scrapy.Request | None:
        """:meth:`page_request` for a link on ``response``: joined to the page's URL and escaped
        in the page's encoding, as Scrapy's ``response.follow`` does (a latin-1 page's
        ``?stadt=München`` is requested as ``M%FCnchen``, which is what its server expects)."""
        return self.page_request(
            self.joined(response, href), page_type, callback, encoding=response.encoding
        )

    def needs_rendering(self, response: Response) -> bool:
        """True for a plain-HTTP page the spec says needs JavaScript (marker or URL pattern)."""
        js = self.spec.javascript
        if not js.enabled or response.meta.get(RENDER_META):
            return False
        if any(pattern.search(response.url) for pattern in self._js_patterns):
            return True
        return bool(
            js.marker
            and isinstance(response, TextResponse)
            and response.selector.type != "json"
            and response.css(js.marker)
        )

    def render_request(self, response: Response, callback: Callable[..., Any]) -> scrapy.Request:
        """Request the same URL again, this time through headless Chromium."""
        self._inc("harvest/js_pages")
        meta = {
            PAGE_TYPE_META: response.meta.get(PAGE_TYPE_META, "detail"),
            URL_META: response.meta.get(URL_META, response.url),
            RENDER_META: True,
            PLAIN_META: response,
        }
        # the account's level, a numbered page, the page's branch in the crawl graph
        for key in (LEVEL_META, NUMBERED_META, BRANCH_META, PARENT_META):
            if key in response.meta:
                meta[key] = response.meta[key]
        return scrapy.Request(
            meta[URL_META],
            callback=callback,
            errback=self.errback,
            meta=meta,
            cb_kwargs=dict(response.request.cb_kwargs) if response.request is not None else {},
            dont_filter=True,
        )

    async def start(self) -> AsyncIterator[Any]:
        """Log in first when the spec says so (:class:`LoginSteps`), then
        :meth:`first_requests`."""
        if self.spec.login is not None:
            yield self.login_request()
            return
        for request in self.first_requests():
            yield request

    def first_requests(self) -> Iterator[Any]:
        """The crawl's first requests: the partition's start URLs."""
        for url in self.start_urls_for_partition():
            request = self.page_request(url, "index", self.parse)
            if request is not None:
                yield request

    # -- items --------------------------------------------------------------------------------

    def page_item(
        self,
        response: Response,
        page_type: str,
        fields: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        listing: dict[str, Any] | None = None,
    ) -> PageItem:
        """The item for a fetched page, with its final URL and redirect chain: ``fields`` of an
        item page, or ``records`` of a list page whose cards are the items; ``listing``: a list
        page's place in the crawl graph (:meth:`listing`). Item pages and card items are counted
        in ``harvest/item_pages``."""
        errors = []
        if response.meta.get(RENDER_ERROR_META):
            errors.append(str(response.meta[RENDER_ERROR_META]))
        rendered = response.headers.get(RENDERED_HEADER) == b"chromium"
        body = response.text if isinstance(response, TextResponse) else None
        if body is None:
            errors.append(f"not a text page ({type(response).__name__})")
        self._inc("harvest/pages_ok")
        self._awaited.pop(response.meta.get(URL_META, response.url), None)
        items = (page_type == "detail") + len(records or [])
        if items:
            self._inc(ITEM_PAGES_STAT, items)
        response.meta[RECORDED_META] = True
        return PageItem(
            url=response.meta.get(URL_META, response.url),
            status=response.status,
            page_type=page_type,
            fetched_at=response.meta.get(FETCHED_AT_META) or utc_now_iso(),
            fields=dict(fields or {}),
            records=list(records or []),
            body=body,
            error="; ".join(errors) or None,
            rendered_with="chromium" if rendered else "http",
            final_url=response.url,
            redirect_chain=redirect_chain(response.request, response.url)
            if response.request is not None
            else [response.url],
            content_type=content_type(response),
            listing=listing,
        )

    def branch(self, meta: dict[str, Any], url: str) -> tuple[str, str | None]:
        """(branch, parent branch) of the page asked for with ``meta`` (see :data:`BRANCH_META`):
        a page asked for without one (a start URL) starts its own branch."""
        return str(meta.get(BRANCH_META) or url), meta.get(PARENT_META)

    def canonical(self, response: TextResponse, href: str) -> str:
        """The canonical URL of a link on ``response`` (as :meth:`follow_request` asks for it)."""
        return self.canonical_url(self.joined(response, href), response.encoding)

    def joined(self, response: TextResponse, href: str) -> str:
        """``response.urljoin(href)``, remembering the last: a link is joined to be recorded,
        checked and followed."""
        if self._last_join[0] is not response or self._last_join[1] != href:
            self._last_join = (response, href, response.urljoin(href))
        return self._last_join[2]

    def canonical_url(self, url: str, encoding: str = "utf-8") -> str:
        """:func:`~harvest.crawler.limits.canonical_url_for` with the spec's crawl settings,
        remembering the last URL: a link is canonicalised to be recorded (:meth:`canonical`),
        then again by :meth:`page_request` when it is followed."""
        if self._last_canonical[0] == (url, encoding):
            return self._last_canonical[1]
        canonical = canonical_url_for(url, self.spec.crawl, encoding)
        self._last_canonical = ((url, encoding), canonical)
        return canonical

    @staticmethod
    def in_branch(request: scrapy.Request | None, branch: str, parent: str | None) -> None:
        """Say which branch (and parent branch) the page ``request`` asks for belongs to."""
        if request is not None:
            request.meta[BRANCH_META], request.meta[PARENT_META] = branch, parent

    def listing(
        self,
        response: Response,
        level: str,
        links: list[str] | None = None,
        continues: list[str] | None = None,
    ) -> dict[str, Any]:
        """A list page's listing: its ``branch`` and ``parent`` (:meth:`branch`), its ``level``,
        the canonical URLs it ``links`` (item pages, next levels' pages, deeper pages: every link
        its selectors found, followed or not) and the pages of its own branch it ``continues``
        to (next and numbered pages)."""
        branch, parent = self.branch(response.meta, response.meta.get(URL_META, response.url))
        return {
            "branch": branch,
            "parent": parent,
            "level": level,
            "links": list(dict.fromkeys(links or [])),
            "continues": list(dict.fromkeys(continues or [])),
        }

    def errback(self, failure: Failure) -> Iterator[PageItem]:
        """Record a request that finally failed: an HTTP error after retries, a network error,
        or a :class:`~harvest.crawler.outcomes.PageFailed` check. A page not fetched on purpose
        (robots.txt, an off-site link) is counted in ``harvest/ignored_requests`` and logged."""
        request = failure.request  # type: ignore[attr-defined]
        value = failure.value
        response = getattr(value, "response", None)
        status = response.status if isinstance(response, Response) else None
        if request.meta.get(NUMBERED_META) and status == 404:
            # past the last numbered page: the numbering's end, not a failure of the source
            self._inc("harvest/numbered_pages_ended")
            self.logger.info("numbered pages end at %s (HTTP 404)", request.url)
            return
        level = request.meta.get(LEVEL_META)
        self._awaited.pop(request.meta.get(URL_META, request.url), None)
        if isinstance(value, DeadlineReached):  # not fetched: no page, a skip of its link
            self._inc(DEADLINE_PAGES_STAT)
            if level is not None:
                self.unfollowed(level, "deadline")
            self.logger.info("%s", value)
            return
        ignored = failure.check(IgnoreRequest) and not failure.check(HttpError)  # type: ignore[no-untyped-call]
        if level is not None:  # the link was followed, and ended here: say why in the account
            reason = "failed"
            if ignored and not isinstance(value, PageFailed):
                reason = "robots" if "robots" in str(value).lower() else "ignored"
                if "offsite" in str(value).lower().replace("-", ""):
                    reason = "off-site"
            self.unfollowed(level, reason)
        if isinstance(value, PageFailed):
            yield self.failed_page(
                request,
                value.reason,
                status=value.status,
                final_url=value.final_url,
                chain=value.redirect_chain,
                content_type=value.content_type,
            )
            return
        if ignored:
            # robots.txt or an off-site link: not fetched on purpose, not a failure of the source
            self._inc("harvest/ignored_requests")
            url = request.meta.get(URL_META, request.url)
            self.logger.info("not fetched: %s (%s)", url, value)
            if "robots" in str(value).lower():
                self.first_failure(
                    f"robots.txt of {urlparse(url).netloc} forbids {url} to Harvest "
                    f"({value}; the spec's crawl.obey_robots_txt is on: ask the site's owner, "
                    "or turn it off only for a site you own)"
                )
            else:
                self.first_failure(f"{url} not fetched: {value}")
            return
        if status is not None:
            error = f"HTTP {status}"
            # e.g. RetryAfterTooLong: say why (twisted's Failure.check is unannotated)
            if not failure.check(HttpError):  # type: ignore[no-untyped-call]
                error += f": {failure.getErrorMessage()}"
        else:
            error = f"{type(value).__name__}: {failure.getErrorMessage()}"
        yield self.failed_page(
            request,
            error,
            status=status,
            body=response.text if isinstance(response, TextResponse) else None,
            final_url=response.url if isinstance(response, Response) else None,
            content_type=content_type(response) if isinstance(response, Response) else None,
        )

    def failed_page(
        self,
        request: scrapy.Request,
        error: str,
        *,
        status: int | None = None,
        body: str | None = None,
        final_url: str | None = None,
        chain: list[str] | None = None,
        content_type: str | None = None,
    ) -> PageItem:
        """The item of a page that failed, counted in ``harvest/failed_pages`` and logged."""
        url = request.meta.get(URL_META, request.url)
        self._awaited.pop(url, None)
        retries = int(request.meta.get("retry_times", 0))
        if retries:
            error += f" (after {retries} retr{'y' if retries == 1 else 'ies'})"
        self._inc("harvest/failed_pages")
        self.logger.warning("failed page %s: %s", url, error)
        self.first_failure(f"{url} failed: {error}")
        if chain is None:
            chain = redirect_chain(request, final_url) if final_url else []
        page_type = request.meta.get(PAGE_TYPE_META, "detail")
        listing = None
        if page_type != "detail":  # a list page that failed: its branch was not read whole
            branch, parent = self.branch(request.meta, url)
            listing = {"branch": branch, "parent": parent}
        return PageItem(
            url=url,
            status=status,
            page_type=page_type,
            fetched_at=request.meta.get(FETCHED_AT_META) or utc_now_iso(),
            body=body,
            error=error,
            rendered_with="chromium" if request.meta.get(RENDER_META) else "http",
            final_url=final_url,
            redirect_chain=chain,
            content_type=content_type,
            listing=listing,
        )
