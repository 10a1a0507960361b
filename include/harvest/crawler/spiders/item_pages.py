"""Item pages of the generic spider: fetched once, joined to every card that links them.

Several cards on a list may link one item page (quotes by one author, offers of one product):
each card stays its own record. The page is asked for once (:class:`SharedItemPage`); a card
that links it while it is on its way waits, and is joined to the page's fields once it is
parsed. A card whose joined record has the ``detail.key`` of a record the page already gave (one
item carded in two categories of a tree, a list page reached under two URLs) is the same item:
no second record, counted as ``cards_duplicate`` on its level, as a card that is an item seen
before on its level is. A page that fails, or that the deadline cuts, ends its waiting cards with
that reason in the completeness account.

Of several cards of one item, the record keeps the values of the card that comes first in
(level, list page URL, position on the page) order (:data:`At`), whatever order the crawl met
them in: a Scrapy crawl, a cache replay and a second run keep the same values. The record is
stored when its first card *met* is, so a card met later that comes before it and whose record
differs is stored with the page being read, in ``earlier_cards`` (``{"of": the URL of the page
item holding the record, "card": its number in that item's ``records``, 0 for an item page's
own ``fields``, "at": [level, page URL, position], "fields": the record}``);
:func:`harvest.records.extract_records` takes the one that comes first.
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
At = tuple[int, str, int]
"""Where a card is: (its level's place in ``levels``, the list page's URL, its position there)."""


@dataclass
class Kept:
    """The card whose values an item's record holds (so far), and where that record is stored:
    (the URL of the page item, its number in the item's ``records``; 0: an item page's fields)."""

    at: At
    stored: tuple[str, int]
    record: Card


@dataclass
class SharedItemPage:
    """An item page asked for by a card: its fields once parsed, the cards waiting for it."""

    fields: Card | None = None
    at: At | None = None  # where the card that asked for it is
    waiting: list[tuple[str, Card, At]] = field(default_factory=list)  # (level, card, where)
    keys: dict[str, Kept] = field(default_factory=dict)  # detail.key of the records it gave


class ItemPages(HarvestSpider):
    """The item-page half of :class:`~harvest.crawler.spiders.generic.GenericSpider`."""

    extractor: Extractor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._item_pages: dict[str, SharedItemPage] = {}
        self._card_items: dict[str, dict[Any, Kept]] = {}  # level -> cards that are items
        self._earlier: dict[str, list[dict[str, Any]]] = {}  # page URL -> its earlier_cards

    def page_item(self, response: Response, page_type: str, *args: Any, **kwargs: Any) -> PageItem:
        """The base's page item, with the earlier cards met on the page (``earlier_cards``)."""
        item = super().page_item(response, page_type, *args, **kwargs)
        item.earlier_cards = self._earlier.pop(item.url, [])
        return item

    def _kept(
        self, seen: dict[Any, Kept], ident: Any, level: str, at: At, stored: tuple[str, int],
        record: Card,
    ) -> bool:  # fmt: skip
        """Whether the card at ``at`` is the first of item ``ident`` met (its record is then
        stored at ``stored``). A card of an item met before is counted ``cards_duplicate``; when
        it comes before the kept card and its record differs, it is said in ``earlier_cards``
        of the page being read (see the module docstring)."""
        kept = seen.get(ident)
        if kept is None:
            seen[ident] = Kept(at, stored, record)
            return True
        self.count(level, "cards_duplicate")
        if at < kept.at:
            if record != kept.record:
                here = stored[0]
                self._earlier.setdefault(here, []).append(
                    {"of": kept.stored[0], "card": kept.stored[1], "at": list(at), "fields": record}
                )
            kept.at, kept.record = at, record
        return False

    def _new_card_item(self, level: str, record: Card, at: At, number: int) -> bool:
        """Whether a card that is an item (record ``number`` of its page) was not met before on
        this level (a numbered page repeating the last one, an item in two categories); a repeat
        is counted as a duplicate (:meth:`_kept`)."""
        key = self.spec.detail.key
        value = record.get(key)
        ident = (key, str(value)) if value is not None else tuple(sorted(map(str, record.items())))
        seen = self._card_items.setdefault(level, {})
        return self._kept(seen, ident, level, at, (at[1], number), record)

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
        self, response: TextResponse, href: str, level: str, card: Card | None, at: At,
        number: int,
    ) -> tuple[scrapy.Request | None, Card | None, bool]:  # fmt: skip
        """A link of the last level (at ``at``): the item page's request, or (a card linking an
        item page asked for already) the card joined to it: the joined record now (record
        ``number`` of the list page) when the page is parsed, else the card waits for it.
        Returns (request, record, whether it is new)."""
        url = self.canonical(response, href)
        shared = self._item_pages.get(url) if card is not None else None
        if shared is None:
            request = self.follow_link(response, href, level, "detail", self.parse_detail)
            if request is not None and card is not None:
                self._item_pages[url] = SharedItemPage(at=at)
                request.cb_kwargs["card"] = card
            return request, None, request is not None
        self.count(level, "links_seen")
        self.count(level, "followed")
        if shared.fields is None:
            shared.waiting.append((level, card or {}, at))
            return None, None, True
        stored = (at[1], number)
        record = self._record_of(shared, level, shared.fields, card or {}, at, stored)
        return None, record, record is not None

    def _joined(self, page: Card, card: Card) -> Card:
        return {name: page.get(name, card.get(name)) for name in self.spec.detail.fields}

    def _record_of(
        self, shared: SharedItemPage, level: str, page: Card, card: Card, at: At,
        stored: tuple[str, int],
    ) -> Card | None:  # fmt: skip
        """A card of ``level`` (at ``at``) joined to its shared item page: the record (counted;
        stored at ``stored``), or None when the page gave a record of that key already (the
        same item: ``cards_duplicate``, :meth:`_kept`)."""
        record = self._joined(page, card)
        key = record.get(self.spec.detail.key)
        if key is not None and not self._kept(shared.keys, str(key), level, at, stored, record):
            self.logger.debug(
                "level %r: %s %r carded again: one record", level, self.spec.detail.key, key
            )
            return None
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
        url = response.meta.get(URL_META, response.url)
        shared = self._item_pages.get(url)
        records: list[Card] = []
        if shared is not None:
            shared.fields = page
            key = fields.get(self.spec.detail.key)
            if key is not None and shared.at is not None:  # the record of the asking card
                shared.keys[str(key)] = Kept(shared.at, (url, 0), fields)
            for waiting_level, waiting, at in shared.waiting:
                stored = (url, len(records) + 1)
                record = self._record_of(shared, waiting_level, page, waiting, at, stored)
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
            for level, *_ in shared.waiting:
                self.unfollowed(level, reason)
            shared.waiting = []
        yield from super().errback(failure)

    def closed(self, reason: str) -> None:
        """At a stop at the deadline, the cards waiting for an item page that never came are
        skipped for ``deadline`` too."""
        if reason == DEADLINE_FINISH_REASON:
            for shared in self._item_pages.values():
                for level, *_ in shared.waiting:
                    self.unfollowed(level, "deadline")
                shared.waiting = []
        super().closed(reason)
