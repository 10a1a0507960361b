"""Item pages of the generic spider: fetched once, joined to every card that links them.

Several cards on a list may link one item page (quotes by one author, offers of one product):
each card stays its own record. The page is asked for once (:class:`SharedItemPage`); a card
that links it while it is on its way waits, and is joined to the page's fields once it is
parsed. A card whose joined record has the ``detail.key`` of a record the page already gave (one
item carded in two categories of a tree, a list page reached under two URLs) is the same item:
no second record, counted as ``cards_duplicate`` on its level, as a card that is an item seen
before on its level is; the first card joined keeps its values. A page that fails, or that the
deadline cuts, ends its waiting cards with that reason in the completeness account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from harvest.crawler.completeness import LEVEL_META
from harvest.crawler.crawl import DEADLINE_FINISH_REASON
from harvest.crawler.deadline import DeadlineReached
from harvest.crawler.items import PageItem
from harvest.crawler.spiders.base import URL_META, HarvestSpider
from harvest.extract import Extractor, FieldValue

Card = dict[str, FieldValue]


@dataclass
class SharedItemPage:
    """An item page asked for by a card: its fields once parsed, the cards waiting for it."""

    fields: Card | None = None
    waiting: list[tuple[str, Card]] = field(default_factory=list)  # (level, card fields)
    keys: set[str] = field(default_factory=set)  # detail.key of the records it gave


class ItemPages(HarvestSpider):
    """The item-page half of :class:`~harvest.crawler.spiders.generic.GenericSpider`."""

    extractor: Extractor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._item_pages: dict[str, SharedItemPage] = {}

    def follow_link(
        self,
        response: TextResponse,
        href: str,
        at: str,
        page_type: str,
        callback: Any,
        **cb_kwargs: Any,
    ) -> scrapy.Request | None:
        raise NotImplementedError

    def _to_item_page(
        self, response: TextResponse, href: str, level: str, card: Card | None
    ) -> tuple[scrapy.Request | None, Card | None, bool]:
        """A link of the last level: the item page's request, or (a card linking an item page
        asked for already) the card joined to it: the joined record now when the page is
        parsed, else the card waits for it. Returns (request, record, whether it is new)."""
        url = self.canonical(response, href)
        shared = self._item_pages.get(url) if card is not None else None
        if shared is None:
            request = self.follow_link(response, href, level, "detail", self.parse_detail)
            if request is not None and card is not None:
                self._item_pages[url] = SharedItemPage()
                request.cb_kwargs["card"] = card
            return request, None, request is not None
        self.count(level, "links_seen")
        self.count(level, "followed")
        if shared.fields is None:
            shared.waiting.append((level, card or {}))
            return None, None, True
        record = self._record_of(shared, level, shared.fields, card or {})
        return None, record, record is not None

    def _joined(self, page: Card, card: Card) -> Card:
        return {name: page.get(name, card.get(name)) for name in self.spec.detail.fields}

    def _record_of(self, shared: SharedItemPage, level: str, page: Card, card: Card) -> Card | None:
        """A card of ``level`` joined to its shared item page: the record (counted), or None
        when the page gave a record of that key already (the same item: ``cards_duplicate``)."""
        record = self._joined(page, card)
        key = record.get(self.spec.detail.key)
        if key is not None and str(key) in shared.keys:
            self.count(level, "cards_duplicate")
            self.logger.debug(
                "level %r: %s %r carded again: one record", level, self.spec.detail.key, key
            )
            return None
        if key is not None:
            shared.keys.add(str(key))
        self.count(level, "records")
        return record

    def parse_detail(
        self, response: Response, card: Card | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """An item page: every field's value (``None`` when absent), its card's merged in; the
        cards that share the page are its ``records``, each joined to the page's fields."""
        if self.needs_rendering(response):
            yield self.render_request(response, self.parse_detail)
            return
        fields: Card = {}
        page: Card = {}
        if isinstance(response, TextResponse):
            url = response.meta.get(URL_META, response.url)
            page = self.extractor.page_fields(response.selector, url)
            fields = self._joined(page, card or {})
        level = response.meta.get(LEVEL_META)
        shared = self._item_pages.get(response.meta.get(URL_META, response.url))
        records = []
        if shared is not None:
            shared.fields = page
            if fields.get(self.spec.detail.key) is not None:  # the record of the asking card
                shared.keys.add(str(fields[self.spec.detail.key]))
            for waiting_level, waiting in shared.waiting:
                record = self._record_of(shared, waiting_level, page, waiting)
                records += [record] if record is not None else []
            shared.waiting = []
        if level is not None:
            self.count(level, "records")
        yield self.page_item(response, "detail", fields, records=records)

    def errback(self, failure: Failure) -> Iterator[PageItem]:
        """The base errback; an item page that failed also fails the cards waiting for it."""
        request = failure.request  # type: ignore[attr-defined]
        shared = self._item_pages.get(request.meta.get(URL_META, request.url))
        if shared is not None:
            reason = "deadline" if isinstance(failure.value, DeadlineReached) else "failed"
            for level, _ in shared.waiting:
                self.unfollowed(level, reason)
            shared.waiting = []
        yield from super().errback(failure)

    def closed(self, reason: str) -> None:
        """At a stop at the deadline, the cards waiting for an item page that never came are
        skipped for ``deadline`` too."""
        if reason == DEADLINE_FINISH_REASON:
            for shared in self._item_pages.values():
                for level, _ in shared.waiting:
                    self.unfollowed(level, "deadline")
                shared.waiting = []
        super().closed(reason)
