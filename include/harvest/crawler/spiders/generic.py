"""The generic spider: walks a spec's crawl graph, everything it needs comes from the spec.

From the start URLs it walks the link levels (``levels:``, or the older ``index:`` as one level),
each with its own pagination, down to the item pages; or it starts from sitemaps. Items come
from item pages, from cards on a list page, or from both merged (the card's fields travel with
the link, in the request's ``cb_kwargs``). A level whose selector matches nothing on a page is
logged with the level, the selector and the URL, and counted (``harvest/empty_levels``); the
first such message is kept in the stats (``harvest/first_empty_level``) so that a crawl reaching
no item page can say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from harvest.config.spec import LevelSpec
from harvest.crawler.spiders.base import HarvestSpider
from harvest.extract import Extractor, FieldValue

FIRST_EMPTY_LEVEL_STAT = "harvest/first_empty_level"


class GenericSpider(HarvestSpider):
    """Walks ``spec.graph`` (or ``spec.sitemap``) from the partition's start URLs.

    Every page becomes one item: list pages with the items of their cards when the cards are the
    items (``records``), item pages with the value of every field. Pages matching
    ``javascript`` are rendered first.
    """

    name = "generic"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graph = self.spec.graph
        self.extractor = Extractor(self.spec)
        sitemap = self.spec.sitemap
        self._sitemap_follow = [re.compile(p) for p in (sitemap.follow if sitemap else [])]

    async def start(self) -> Any:
        async for request in super().start():
            yield request
        if self.spec.sitemap is not None:
            templates = self.spec.sitemap.urls
            for url in self.spec.start_urls_for(
                self.logical_date, base_url=self.base_url, templates=templates
            ):
                request = self.page_request(url, "sitemap", self.parse_sitemap)
                if request is not None:
                    yield request

    def empty_level(self, level: str, what: str, selector: str, url: str) -> None:
        """Log (and count) a level whose selector matched nothing on ``url``."""
        message = f"level {level!r}: {what} selector {selector!r} matched nothing on {url}"
        self.logger.warning("source %s, %s: %s", self.spec.name, self.logical_date, message)
        self._inc("harvest/empty_levels")
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None and stats.get_value(FIRST_EMPTY_LEVEL_STAT) is None:
            stats.set_value(FIRST_EMPTY_LEVEL_STAT, message)

    def _next(
        self, response: TextResponse, href: str, level: int, card: dict[str, FieldValue] | None
    ) -> Any:
        """The request for a link of ``level``: the next level's page, or an item page."""
        if level + 1 < len(self.graph):
            request = self.follow_request(response, href, "index", self.parse)
            if request is not None:
                request.cb_kwargs.update(level=level + 1, card=card)
        else:
            request = self.follow_request(response, href, "detail", self.parse_detail)
            if request is not None and card:
                request.cb_kwargs["card"] = card
        return request

    def parse(
        self,
        response: Response,
        level: int = 0,
        card: dict[str, FieldValue] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """A page of level ``level``: its cards, its links to the next level, its next page."""
        if self.needs_rendering(response):
            yield self.render_request(response, self.parse)
            return
        if not isinstance(response, TextResponse):
            yield self.page_item(response, "index")
            return
        spec: LevelSpec = self.graph[level]
        url = response.meta.get("harvest_url", response.url)
        requests: list[Any] = []
        records: list[dict[str, FieldValue]] = []
        if spec.cards is not None:
            cards = response.css(spec.cards)
            if not cards:
                self.empty_level(spec.name, "cards", spec.cards, url)
            for block in cards:
                fields = {**(card or {}), **self.extractor.card_fields(block, url)}
                if spec.links is None:
                    records.append({**fields, **self.extractor.url_fields(url)})
                    continue
                for link in block.css(spec.links)[:1]:
                    href = link.attrib.get("href")
                    if href:
                        requests.append(self._next(response, href, level, fields))
        elif spec.links is not None:
            links = response.css(spec.links)
            if not links:
                self.empty_level(spec.name, "links", spec.links, url)
            for link in links:
                href = link.attrib.get("href")
                if href:
                    requests.append(self._next(response, href, level, card))
        if spec.next_page:
            for link in response.css(spec.next_page)[:1]:
                href = link.attrib.get("href")
                if href:
                    request = self.follow_request(response, href, "index", self.parse)
                    if request is not None:
                        request.cb_kwargs.update(level=level, card=card)
                        requests.append(request)
        yield self.page_item(response, "index", records=records)
        yield from (r for r in requests if r is not None)

    def parse_detail(
        self, response: Response, card: dict[str, FieldValue] | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """An item page: every field's value (``None`` when absent), its card's merged in."""
        if self.needs_rendering(response):
            yield self.render_request(response, self.parse_detail)
            return
        fields: dict[str, FieldValue] = {}
        if isinstance(response, TextResponse):
            url = response.meta.get("harvest_url", response.url)
            page = self.extractor.page_fields(response.selector, url)
            card = card or {}
            fields = {name: page.get(name, card.get(name)) for name in self.spec.detail.fields}
        yield self.page_item(response, "detail", fields)

    def parse_sitemap(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """A sitemap, sitemap index or robots.txt: follow sitemaps, request the item pages."""
        yield self.page_item(response, "sitemap")
        url = response.meta.get("harvest_url", response.url)
        if url.endswith("/robots.txt") and isinstance(response, TextResponse):
            for sitemap_url in sitemap_urls_from_robots(response.text, base_url=response.url):
                request = self.page_request(sitemap_url, "sitemap", self.parse_sitemap)
                if request is not None:
                    yield request
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
                request = self.page_request(loc, "sitemap", self.parse_sitemap)
                if request is not None:
                    yield request
            return
        for loc in entries:
            if self._sitemap_follow and not any(p.search(loc) for p in self._sitemap_follow):
                continue
            request = self.page_request(loc, "detail", self.parse_detail)
            if request is not None:
                yield request
