"""The generic spider: walks a spec's crawl graph, everything it needs comes from the spec.

From the start URLs it walks the link levels (``levels:``, or the older ``index:`` as one level),
each with its own pagination (every ``next_page`` link, or numbered ``pages``) and, with
``recurse``, deeper pages of the same level (a category tree of any depth, bounded by
``max_recursion``), down to the item pages; or the start URLs are the item pages (no levels);
or it starts from sitemaps. Pages may be HTML or JSON (selectors in JMESPath). Items come from
item pages, from cards on a list page, or from both merged (the card's fields travel with the
link, in the request's ``cb_kwargs``). Several cards linking one item page each stay a record:
the page is fetched once and joined to every card (:class:`SharedItemPage`); cards whose joined
records share a ``detail.key`` are one item, one record.

Every link and card seen is counted in the level's completeness account
(:mod:`harvest.crawler.completeness`) as followed or skipped with its reason. A level whose
selector matches nothing on a page is logged with the level, the selector and the URL, and
counted (``harvest/empty_levels``); the first such message is kept in the stats
(``harvest/first_empty_level``) so that a crawl reaching no item page can say why.

Hooks for other spiders (a subclass, or a browser-driven level): :meth:`GenericSpider.level_page`
reads one level page that is already fetched (or rendered, scrolled, posted to) and returns the
item and requests; :meth:`GenericSpider.follow_link` follows one link of a level with the
account kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response, TextResponse

from harvest.config.spec import FormSpec, LevelSpec
from harvest.config.spec.crawl import browser_selector
from harvest.crawler.browser import Scroll
from harvest.crawler.completeness import LEVELS_STAT, LIMITS_STAT, limits_of
from harvest.crawler.middlewares import SCROLL_META, SCROLLED_META
from harvest.crawler.outcomes import PAGE_TYPE_META
from harvest.crawler.spiders.base import NUMBERED_META, URL_META
from harvest.crawler.spiders.forms import FORM_META, form_key, form_request
from harvest.crawler.spiders.item_pages import Card, ItemPages
from harvest.crawler.spiders.sitemap import SITEMAP_LEVEL, SitemapSpider
from harvest.extract import Extractor
from harvest.selection import Page, hrefs, select

START_LEVEL = "start"  # the account's level of item pages given as start URLs


class GenericSpider(ItemPages, SitemapSpider):
    """Walks ``spec.graph`` (or ``spec.sitemap``) from the partition's start URLs.

    Every page becomes one item: list pages with the items of their cards when the cards are the
    items (``records``), item pages with the value of every field. Pages matching
    ``javascript`` are rendered first.
    """

    name = "generic"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graph = self.spec.graph
        self.extractor = Extractor(self.spec, self.regex_unmatched)

    def first_requests(self) -> Iterator[Any]:
        names = [level.name for level in self.graph] or [START_LEVEL]
        stats = self.crawler.stats if getattr(self, "crawler", None) else None
        if stats is not None:
            stats.set_value(LEVELS_STAT, names + ([SITEMAP_LEVEL] if self.spec.sitemap else []))
            stats.set_value(LIMITS_STAT, limits_of(self.spec))
        for url in self.start_urls_for_partition():
            if self.graph:
                request = self.page_request(url, "index", self.parse)
            else:  # the start URLs are the item pages
                self.count(START_LEVEL, "links_seen")
                request = self.page_request(url, "detail", self.parse_detail)
                if request is None:
                    self.skipped(START_LEVEL, self.refused or "duplicate")
                else:
                    self.count(START_LEVEL, "followed")
                    self.awaits(request, START_LEVEL)
            if request is not None:
                yield request
        if self.spec.sitemap is not None:
            templates = self.spec.sitemap.urls
            for url in self.spec.start_urls_for(
                self.partition, base_url=self.base_url, templates=templates
            ):
                request = self.page_request(url, "sitemap", self.parse_sitemap)
                if request is not None:
                    yield request

    # -- following links, with the account kept ---------------------------------------------

    def follow_link(
        self,
        response: TextResponse,
        href: str,
        at: str,
        page_type: str,
        callback: Any,
        **cb_kwargs: Any,
    ) -> scrapy.Request | None:
        """Follow one link seen on a page of level ``at``: counted as seen, then as followed or
        skipped with its reason (off-site, duplicate, budget). ``cb_kwargs`` go to the callback.
        Returns the request or None."""
        self.count(at, "links_seen")
        url = self.joined(response, href)
        if not url.startswith(("http://", "https://")):
            self.skipped(at, "ignored")
            return None
        if self._off_site(url):
            self.skipped(at, "off-site")
            return None
        request = self.follow_request(response, href, page_type, callback)
        if request is None:
            self.skipped(at, self.refused or "duplicate")
            return None
        self.count(at, "followed")
        self.awaits(request, at)
        request.cb_kwargs.update(cb_kwargs)
        same_level = (
            cb_kwargs.get("level") is not None and self.graph[cb_kwargs["level"]].name == at
        )
        if FORM_META in response.meta and same_level:  # a posted page's next pages: no new post
            request.meta[FORM_META] = response.meta[FORM_META]
        return request

    # -- level pages --------------------------------------------------------------------------

    def parse(
        self,
        response: Response,
        level: int = 0,
        card: Card | None = None,
        depth: int = 0,
        number: int | None = None,
        first_url: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """A page of level ``level``: its cards, its links to the next level, its deeper pages
        (``recurse``, at ``depth``), its next pages; ``number``/``first_url``: a numbered page."""
        form = self.graph[level].form if level < len(self.graph) else None
        if (
            form is not None
            and FORM_META not in response.meta
            and isinstance(response, TextResponse)
        ):
            yield from self.post_forms(response, level, form, card, depth)
            return
        scroll = self.scroll(level)
        if self.needs_rendering(response) or (scroll and SCROLL_META not in response.meta):
            request = self.render_request(response, self.parse)
            if scroll is not None:  # a page that loads more as it is scrolled: in Chromium
                request.meta[SCROLL_META] = scroll
            yield request
            return
        if not isinstance(response, TextResponse):
            yield self.page_item(response, "index")
            return
        yield from self.level_page(response, level, card, depth, number, first_url)

    def post_forms(
        self, response: TextResponse, level: int, form: FormSpec, card: Card | None, depth: int
    ) -> Iterator[Any]:
        """The form page of a level: stored as a page, and its form posted once per ``data``
        (each post a link of the level in the account); the answers are the level's pages."""
        name = self.graph[level].name
        branch, _ = self.branch(response.meta, response.meta.get(URL_META, response.url))
        requests = []
        for data in form.data:
            self.count(name, "links_seen")
            key = form_key(response.meta.get(URL_META, response.url), data)
            if key in self._scheduled:
                self.skipped(name, "duplicate")
                continue
            request = form_request(
                response, form, data, callback=self.parse, errback=self.errback,
                cb_kwargs={"level": level, "card": card, "depth": depth},
                meta={PAGE_TYPE_META: "index", URL_META: key, FORM_META: data},
            )  # fmt: skip
            self._scheduled.add(key)
            self._inc("harvest/pages_asked")
            self.count(name, "followed")
            self.awaits(request, name)
            self.in_branch(request, key, branch)
            requests.append(request)
        yield self.page_item(response, "index", listing=self.listing(response, name))
        yield from requests

    def scroll(self, level: int) -> Scroll | None:
        """How the browser scrolls a page of ``level`` (its ``scroll:``), or None."""
        spec = self.graph[level] if level < len(self.graph) else None
        counted = spec and (spec.cards or spec.links)
        found = browser_selector(counted) if spec and spec.scroll and counted else None
        if spec is None or spec.scroll is None or found is None:
            return None
        by, selector = found
        return Scroll(by, selector, **spec.scroll.model_dump())

    def scrolled(self, response: TextResponse, level: str) -> None:
        """Count a scrolled page's scrolls (or clicks) in the account; one that stopped at
        ``max_rounds`` still growing, or at the deadline, is ``scroll_capped``/``scroll_cut``."""
        scrolled = response.meta.get(SCROLLED_META)
        if scrolled is None:
            return
        self.count(level, "scroll_rounds", scrolled.rounds)
        if scrolled.ended in ("max_rounds", "deadline"):
            self.count(level, "scroll_capped" if scrolled.ended == "max_rounds" else "scroll_cut")
            self.logger.warning(
                "level %r: %s still loading new cards after %d scrolls or clicks (%s): %d cards "
                "kept",
                level, response.url, scrolled.rounds, scrolled.ended, scrolled.elements,
            )  # fmt: skip

    def level_page(
        self,
        response: TextResponse,
        level: int,
        card: Card | None = None,
        depth: int = 0,
        number: int | None = None,
        first_url: str | None = None,
    ) -> Iterator[Any]:
        """Read one fetched page of level ``level``: yields its item, then its requests."""
        spec: LevelSpec = self.graph[level]
        name = spec.name
        url = response.meta.get(URL_META, response.url)
        page = Page(response.selector, url)
        last = level + 1 == len(self.graph)
        requests: list[scrapy.Request | None] = []
        records: list[Card] = []
        new_items = 0
        found = 0
        self.count(name, "pages")
        self.scrolled(response, name)
        branch, parent = self.branch(response.meta, url)
        listed: list[str] = []  # what the page links: item pages, next levels', deeper pages
        continues: list[str] = []  # the pages of its own branch it goes on to

        def to_next(href: str, fields: Card | None, position: int) -> None:
            nonlocal new_items
            listed.append(self.canonical(response, href))
            if last:
                at, number = (level, url, position), len(records) + 1
                request, joined, new = self._to_item_page(response, href, name, fields, at, number)
                if joined is not None:
                    records.append(joined)
                new_items += new
                requests.append(request)
            else:
                request = self.follow_link(
                    response, href, name, "index", self.parse, level=level + 1, card=fields
                )
                if request is not None:  # the first page of a branch of the next level
                    self.in_branch(request, request.meta[URL_META], branch)
                new_items += request is not None
                requests.append(request)

        def same_level(href: str, at_depth: int) -> scrapy.Request | None:
            """A deeper page (``recurse``) or a next page of this level."""
            return self.follow_link(
                response, href, name, "index", self.parse, level=level, card=card, depth=at_depth
            )

        if spec.cards is not None:
            blocks = select(spec.cards, response.selector, page)
            found += len(blocks)
            self.count(name, "cards_seen", len(blocks))
            # an empty numbered page ends the numbering; a tree's category: sub-categories only
            if not blocks and spec.recurse is None and number is None:
                self.empty_level(name, "cards", spec.cards.text, url, response)
            for position, block in enumerate(blocks):
                fields = {**(card or {}), **self.extractor.card_fields(block, url, page)}
                if spec.links is None:
                    record = {**fields, **self.extractor.url_fields(url)}
                    if self._new_card_item(name, record, (level, url, position), len(records) + 1):
                        records.append(record)
                        self.count(name, "records")
                        new_items += 1
                    continue
                links = hrefs(select(spec.links, block, page))[:1]
                if not links:
                    self.count(name, "links_seen")
                    self.skipped(name, "no link")
                for href in links:
                    to_next(href, fields, position)
        elif spec.links is not None:
            links = hrefs(select(spec.links, response.selector, page))
            found += len(links)
            if not links and spec.recurse is None and number is None:
                self.empty_level(name, "links", spec.links.text, url, response)
            for position, href in enumerate(links):
                to_next(href, card, position)
        if spec.recurse is not None:
            deeper = hrefs(select(spec.recurse, response.selector, page))
            found += len(deeper)
            for href in deeper:
                listed.append(self.canonical(response, href))
                if depth + 1 > spec.max_recursion:
                    self.count(name, "links_seen")
                    self.skipped(name, "depth")
                    if not getattr(self, "_recursion_said", False):
                        self._recursion_said = True
                        self.logger.warning(
                            "level %r: max_recursion=%d reached on %s: not following %s",
                            name,
                            spec.max_recursion,
                            url,
                            response.urljoin(href),
                        )
                    continue
                deeper_page = same_level(href, depth + 1)
                if deeper_page is not None:  # a branch of its own below this one
                    self.in_branch(deeper_page, deeper_page.meta[URL_META], branch)
                requests.append(deeper_page)
        if spec.next_page is not None:
            for href in hrefs(select(spec.next_page, response.selector, page)):
                continues.append(self.canonical(response, href))
                next_page = same_level(href, depth)
                self.in_branch(next_page, branch, parent)
                requests.append(next_page)
        if not found and number is None:
            self.count(name, "empty_pages")
        if spec.pages is not None:
            numbered = self._numbered(
                response, spec, level, card, depth, number, first_url, page, found, new_items
            )
            if isinstance(numbered, scrapy.Request):
                self.in_branch(numbered, branch, parent)
                requests.append(numbered)
                numbered = numbered.meta[URL_META]
            continues += [numbered] if numbered is not None else []
        listing = self.listing(response, name, listed, continues)
        yield self.page_item(response, "index", records=records, listing=listing)
        yield from (r for r in requests if r is not None)

    def _numbered(
        self,
        response: TextResponse,
        spec: LevelSpec,
        level: int,
        card: Card | None,
        depth: int,
        number: int | None,
        first_url: str | None,
        page: Page,
        found: int,
        new_items: int,
    ) -> scrapy.Request | str | None:
        """The next numbered page (``pages``); None when a stop rule ends the numbering; its URL
        when it is not asked for (``pages.max`` reached, or refused): the branch goes on
        unread."""
        pages = spec.pages
        assert pages is not None  # noqa: S101 - called only for a level with pages
        first_url = first_url or response.meta.get(URL_META, response.url)
        current = pages.first - 1 if number is None else number
        if not found or not new_items:
            return None  # an empty page, or nothing new on it: the numbering ends
        if pages.has_next is not None:
            flags = [m.get() for m in select(pages.has_next, response.selector, page)]
            if not flags or flags[0] in (None, False, "false", "False", "0", "", "null"):
                return None
        href = urljoin(first_url, pages.template.format(page=current + 1))
        if current + 1 - (pages.first - 1) > pages.max:
            self.count(spec.name, "links_seen")
            self.skipped(spec.name, "budget")
            self.logger.warning(
                "level %r: pages.max=%d reached at %s; the numbering may go on",
                spec.name, pages.max, response.url,
            )  # fmt: skip
            return self.canonical_url(href, response.encoding)
        request = self.follow_link(
            response,
            href,
            spec.name,
            "index",
            self.parse,
            level=level,
            card=card,
            depth=depth,
            number=current + 1,
            first_url=first_url,
        )
        if request is not None:
            request.meta[NUMBERED_META] = True
        return request or self.canonical_url(href, response.encoding)
