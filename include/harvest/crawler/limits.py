"""Bounds on one crawl: page size, link depth, and URLs canonicalised so traps stay finite.

- Size: ``DOWNLOAD_MAXSIZE`` / ``DOWNLOAD_WARNSIZE`` come from the spec. Scrapy cancels a body
  larger than the limit while downloading (without a reason when there was no Content-Length),
  and *ignores* a compressed body that only grows past it while being decompressed, as if the
  page had never been asked for. :class:`HttpCompressionMiddleware` turns all three into
  :class:`PageTooLarge`: a failed page with the sizes in its error, not retried.
- Depth: :class:`DepthLimitMiddleware` is Scrapy's ``DEPTH_LIMIT``, saying so in the log.
- URLs: :func:`canonical_url` drops session-id parameters and fragments and sorts the query,
  so the same page is asked for once, whatever link led to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import (
    HttpCompressionMiddleware as ScrapyHttpCompressionMiddleware,
)
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.depth import DepthMiddleware
from w3lib.url import canonicalize_url, url_query_cleaner

from harvest.config.spec import CrawlSpec
from harvest.crawler.completeness import LEVEL_META, skip_key, stat_key
from harvest.errors import HarvestError

logger = logging.getLogger(__name__)


class PageTooLarge(HarvestError):
    """A page whose body (after decompression) is larger than ``crawl.download_maxsize_bytes``."""

    retryable = False


class HttpCompressionMiddleware(ScrapyHttpCompressionMiddleware):
    """Scrapy's decompression, with a decompression bomb recorded as a failed page."""

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            if "DOWNLOAD_MAXSIZE" not in str(exc):
                raise
            if self.stats is not None:
                self.stats.inc_value("harvest/pages_too_large")
            raise PageTooLarge(str(exc)) from exc

    def process_exception(self, request: Request, exception: Exception) -> None:
        """A download cancelled for its size fails as :class:`PageTooLarge`, never retried."""
        if not isinstance(exception, DownloadCancelledError):
            return
        message = str(exception)
        if not message:
            # Scrapy cancels a body without Content-Length silently once it passes the limit
            max_size = request.meta.get("download_maxsize", self._max_size)
            message = f"the body passed DOWNLOAD_MAXSIZE ({max_size} B) while downloading"
        elif "max size" not in message:
            return
        if self.stats is not None:
            self.stats.inc_value("harvest/pages_too_large")
        raise PageTooLarge(message) from exception


class DepthLimitMiddleware(DepthMiddleware):
    """Scrapy's depth limit (``DEPTH_LIMIT``), with a warning the first time it drops a link and
    ``harvest/depth_limit_skipped`` counting the links not followed."""

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        processed = super().get_processed_request(request, response)
        if processed is None and self.maxdepth and request.meta.get("depth", 0) > self.maxdepth:
            self.stats.inc_value("harvest/depth_limit_skipped")
            level = request.meta.get(LEVEL_META)
            if level is not None:  # the completeness account: followed, then skipped for depth
                self.stats.inc_value(stat_key(level, "followed"), -1)
                self.stats.inc_value(skip_key(level, "depth"))
            if self.stats.get_value("harvest/depth_limit_skipped") == 1:
                logger.warning(
                    "crawl.max_depth=%d reached: not following links deeper than that "
                    "(first: %s); raise crawl.max_depth if the site is that deep",
                    self.maxdepth,
                    request.url,
                )
        return processed


# A URL w3lib's canonicalize_url gives back as it is: http(s), a lower-case ASCII host (and a
# port of 1-65535 without a leading zero), a path of unreserved characters without dot
# segments, no query, no ;parameters, no fragment, no percent-escapes. Most links of a crawl
# look so; they skip w3lib's parsing and quoting (about 10 us a link).
# tests/unit/test_canonical_url.py checks it against w3lib.
_PORT = r"[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]"
_ALREADY_CANONICAL = re.compile(
    rf"https?://[a-z0-9-]{{1,63}}(?:\.[a-z0-9-]{{1,63}})*(?::(?:{_PORT}))?/[A-Za-z0-9._~/-]*"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\Z)")


def already_canonical(url: str) -> bool:
    """Whether :func:`canonical_url` would give ``url`` back unchanged, whatever parameters
    it drops or fragment it keeps (see ``_ALREADY_CANONICAL``); False when not sure."""
    return _ALREADY_CANONICAL.fullmatch(url) is not None and _DOT_SEGMENT.search(url) is None


def canonical_url(
    url: str,
    drop_parameters: Iterable[str] = (),
    keep_fragment: bool = False,
    encoding: str = "utf-8",
) -> str:
    """``url`` without the named query and ``;path`` parameters (any case) and, unless kept, its
    fragment; the query sorted and percent-encoding normalised (w3lib's ``canonicalize_url``),
    non-ASCII query characters escaped in ``encoding`` (the page's, for a link found on a page).

    >>> canonical_url("http://h/a;JSESSIONID=9?b=2&sid=x&a=1#top", ["jsessionid", "sid"])
    'http://h/a?a=1&b=2'
    """
    if already_canonical(url):
        return url
    names = {name.lower() for name in drop_parameters}
    if names:
        parts = urlsplit(url)
        path = "/".join(
            ";".join([segment, *(p for p in params if not _named(p, names))])
            for segment, *params in (s.split(";") for s in parts.path.split("/"))
        )
        url = urlunsplit(parts._replace(path=path))
        dropped = sorted({p.partition("=")[0] for p in parts.query.split("&") if _named(p, names)})
        if dropped:
            url = url_query_cleaner(url, dropped, remove=True, keep_fragments=True)
    return canonicalize_url(url, keep_fragments=keep_fragment, encoding=encoding)


def _named(piece: str, names: set[str]) -> bool:
    return piece.partition("=")[0].lower() in names


def canonical_url_for(url: str, crawl: CrawlSpec, encoding: str = "utf-8") -> str:
    """:func:`canonical_url` with a spec's ``crawl.drop_url_parameters`` and ``keep_url_fragments``."""
    return canonical_url(url, crawl.drop_url_parameters, crawl.keep_url_fragments, encoding)
