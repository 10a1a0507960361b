"""Sitemaps as the index of item pages, and what the generic spider's levels share with them.

:class:`SitemapSpider` reads sitemaps, sitemap indexes and robots.txt (Scrapy's ``Sitemap``)
and requests the item pages whose URL matches ``sitemap.follow``, each entry counted in the
completeness account's ``sitemap`` level; it also holds the checks every level uses (off-site
links, a level that matched nothing on a page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from harvest.crawler.completeness import LEVEL_META
from harvest.crawler.limits import canonical_url_for
from harvest.crawler.outcomes import unreadable
from harvest.crawler.spiders.base import URL_META, HarvestSpider

FIRST_EMPTY_LEVEL_STAT = "harvest/first_empty_level"
SITEMAP_LEVEL = "sitemap"  # the account's level of the item pages a sitemap lists


class SitemapSpider(HarvestSpider):
    """A spider that starts from sitemaps (``spec.sitemap``); subclasses give ``parse_detail``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sitemap = self.spec.sitemap
        self._sitemap_follow = [re.compile(p) for p in (sitemap.follow if sitemap else [])]

    def parse_detail(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        raise NotImplementedError

    def empty_level(
        self, level: str, what: str, selector: str, url: str, response: Response | None = None
    ) -> None:
        """Log (and count) a level whose selector matched nothing on ``url``; with the
        ``response``, say what the page is when the spec cannot read it (a login form, JSON)."""
        message = f"level {level!r}: {what} selector {selector!r} matched nothing on {url}"
        why = unreadable(response, self.spec.reads_json) if response is not None else None
        if why:
            message += f": {why}"
        self.logger.warning("source %s, %s: %s", self.spec.name, self.logical_date, message)
        self._inc("harvest/empty_levels")
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None and stats.get_value(FIRST_EMPTY_LEVEL_STAT) is None:
            stats.set_value(FIRST_EMPTY_LEVEL_STAT, message)

    def _off_site(self, url: str) -> bool:
        host = (urlparse(url).hostname or "").lower()
        domains = self.allowed_domains
        return bool(domains) and not any(host == d or host.endswith(f".{d}") for d in domains)

    def parse_sitemap(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """A sitemap, sitemap index or robots.txt: follow sitemaps, request the item pages. The
        page's listing (:meth:`listing`) names what it lists: sitemaps, or item pages (those
        ``sitemap.follow`` keeps, on the site)."""
        url = response.meta.get(URL_META, response.url)
        requests: list[Any] = []
        links: list[str] = []
        self._sitemap_entries(response, url, requests, links)
        yield self.page_item(
            response, "sitemap", listing=self.listing(response, SITEMAP_LEVEL, links)
        )
        yield from requests

    def _child_sitemap(self, loc: str, branch: str, requests: list[Any], links: list[str]) -> None:
        request = self.page_request(loc, "sitemap", self.parse_sitemap)
        links.append(canonical_url_for(loc, self.spec.crawl))
        if request is not None:  # a branch of its own below this one
            self.in_branch(request, request.meta[URL_META], branch)
            requests.append(request)

    def _sitemap_entries(
        self, response: Response, url: str, requests: list[Any], links: list[str]
    ) -> None:
        """Fill ``requests`` (sitemaps, item pages to ask for) and ``links`` (what the page
        lists) from one sitemap, sitemap index or robots.txt."""
        branch, _ = self.branch(response.meta, url)
        if url.endswith("/robots.txt") and isinstance(response, TextResponse):
            for sitemap_url in sitemap_urls_from_robots(response.text, base_url=response.url):
                self._child_sitemap(sitemap_url, branch, requests, links)
            return
        body = response.body
        if gzip_magic_number(response):
            body = gunzip(body, max_size=self.spec.crawl.download_maxsize_bytes)
        try:
            sitemap = Sitemap(body)
        except Exception:  # lxml has many errors: said in the log, as an empty level
            sitemap = None
        entries = [entry["loc"] for entry in sitemap] if sitemap is not None else []
        if not entries:
            self.empty_level("sitemap", "sitemap", "<loc>", url)
            return
        if sitemap is not None and sitemap.type == "sitemapindex":
            for loc in entries:
                self._child_sitemap(loc, branch, requests, links)
            return
        self.count(SITEMAP_LEVEL, "pages")
        for loc in entries:
            self.count(SITEMAP_LEVEL, "links_seen")
            if self._sitemap_follow and not any(p.search(loc) for p in self._sitemap_follow):
                self.skipped(SITEMAP_LEVEL, "not followed")
                continue
            if self._off_site(loc):
                self.skipped(SITEMAP_LEVEL, "off-site")
                continue
            links.append(canonical_url_for(loc, self.spec.crawl))
            request = self.page_request(loc, "detail", self.parse_detail)
            if request is None:
                self.skipped(SITEMAP_LEVEL, self.refused or "duplicate")
                continue
            self.count(SITEMAP_LEVEL, "followed")
            request.meta[LEVEL_META] = SITEMAP_LEVEL
            requests.append(request)
