"""The baseline of ``bench_crawl.py``: a plain, minimal hand-written Scrapy spider for the demo site.

What a developer would write without Harvest: follow the index's detail links and next page,
extract every field of the demo spec with the same CSS selectors, and let Scrapy's feed export
write the items as JSON Lines (``scrapy runspider plain_spider.py -a start_url=... -O out.jsonl``).
No HTTP cache, no raw store, no checks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response


class PlainSpider(scrapy.Spider):
    name = "plain"

    def __init__(self, start_url: str, fields: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url
        self.fields: dict[str, str] = json.loads(fields)  # name -> CSS selector

    async def start(self) -> AsyncIterator[Any]:
        yield scrapy.Request(self.start_url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from response.follow_all(css="a.listing-link", callback=self.parse_detail)
        yield from response.follow_all(css="a[rel=next]", callback=self.parse)

    def parse_detail(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {
            "url": response.url,
            **{name: response.css(css).get() for name, css in self.fields.items()},
        }
