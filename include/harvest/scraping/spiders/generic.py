"""The generic spider: index pages -> detail pages, everything it needs comes from the spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response, TextResponse

from harvest.scraping.spiders.base import HarvestSpider, extract_field


class GenericSpider(HarvestSpider):
    """Walks ``index.detail_links`` and ``index.next_page`` from the start URLs of the partition.

    Every page becomes one item: index pages with empty fields, detail pages with the raw string
    of every ``detail.fields`` selector. Pages matching ``javascript`` are rendered first.
    """

    name = "generic"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """An index page: record it, follow its detail links and its next page."""
        if self.needs_rendering(response):
            yield self.render_request(response, self.parse)
            return
        yield self.page_item(response, "index")
        if not isinstance(response, TextResponse):
            return
        for link in response.css(self.spec.index.detail_links):
            href = link.attrib.get("href")
            if href:
                request = self.follow_request(response, href, "detail", self.parse_detail)
                if request is not None:
                    yield request
        if self.spec.index.next_page:
            for link in response.css(self.spec.index.next_page)[:1]:
                href = link.attrib.get("href")
                if href:
                    request = self.follow_request(response, href, "index", self.parse)
                    if request is not None:
                        yield request

    def parse_detail(self, response: Response) -> Iterator[Any]:
        """A detail page: the raw string of every field (``None`` when absent)."""
        if self.needs_rendering(response):
            yield self.render_request(response, self.parse_detail)
            return
        fields: dict[str, str | None] = {}
        if isinstance(response, TextResponse):
            fields = {
                name: extract_field(response, field)
                for name, field in self.spec.detail.fields.items()
            }
        yield self.page_item(response, "detail", fields)
