"""How a source is walked: the crawl graph (``levels:``, ``index:``, ``sitemap:``), which pages
need JavaScript (``javascript:``), and the politeness and limit knobs (``crawl:``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harvest.config.selectors import SelectorSpec, check_css
from harvest.config.spec.base import _Model
from harvest.config.spec.forms import FormSpec


class PagesSpec(_Model):
    """Numbered pages of a level without a next link: ``template`` (``?page={page}``, joined to
    the level's first page URL) for pages ``first``, ``first + 1``, ... asked one after the
    other. The numbering stops at a page with no card and no link (empty), a page whose cards
    and links were all seen before (no new items), a failed page, ``has_next`` false on a page
    (a JSON API's ``has_next``), or after ``max`` pages (counted as skipped for the budget)."""

    template: str = Field(description="URL of page {page}, relative to the level's first page")
    first: int = Field(2, ge=0, description="the number of the first page after the start page")
    max: int = Field(100, ge=1, description="most pages of one level page's numbering")
    has_next: SelectorSpec | None = Field(
        None, description="a value on the page that is true while there are more pages"
    )

    @field_validator("template")
    @classmethod
    def _has_page(cls, value: str) -> str:
        if "{page}" not in value:
            raise ValueError(f"template {value!r} needs '{{page}}' where the page number goes")
        unknown = set(re.findall(r"{(\w*)}", value)) - {"page"}
        if unknown:
            raise ValueError(f"template {value!r} may use only {{page}}, not {sorted(unknown)}")
        return value


class ScrollSpec(_Model):
    """Infinite scroll or a "load more" button on a level's pages: each page is rendered in
    headless Chromium, then scrolled to the bottom (or its ``load_more`` button clicked) until
    no new card (or link) appears within ``wait_seconds``, the button is gone, or
    ``max_rounds`` scrolls or clicks were made: a page still growing then is the warning
    ``scroll_capped``."""

    load_more: str | None = Field(
        None, description="CSS selector of the button that loads more (else: scroll down)"
    )
    max_rounds: int = Field(50, ge=1, le=1000, description="most scrolls or clicks per page")
    wait_seconds: float = Field(
        3.0, gt=0, le=60, description="how long to wait for new cards after a scroll or click"
    )

    @field_validator("load_more")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_css(value)


class LevelSpec(_Model):
    """One level of the crawl graph between the start URLs and the item pages.

    ``links`` selects the links leading to the next level (the item pages after the last
    level); ``recurse`` the links to more pages of this same level (sub-categories, at most
    ``max_recursion`` deep); ``next_page`` this level's own pagination (every matching link,
    each URL once) or ``pages`` numbered pages; ``cards`` the repeated blocks of an item on a
    list page. With ``cards``, ``links`` is looked up inside each card and the fields ``from:
    card`` travel with the link to the item page (several cards may link one item page: it is
    fetched once and joined to each); a last level with ``cards`` and no ``links`` makes each
    card an item (no detail page). Every selector is CSS, or a mapping with ``css``, ``xpath``
    or ``jmespath`` (see :mod:`harvest.config.selectors`).
    """

    name: str
    links: SelectorSpec | None = Field(None, description="links to the next level")
    next_page: SelectorSpec | None = Field(None, description="links to this level's next pages")
    cards: SelectorSpec | None = Field(None, description="the repeated item blocks")
    recurse: SelectorSpec | None = Field(None, description="links to deeper pages of this level")
    max_recursion: int = Field(10, ge=1, le=100, description="how deep 'recurse' goes")
    pages: PagesSpec | None = Field(None, description="numbered pages (no next link)")
    scroll: ScrollSpec | None = Field(
        None, description="infinite scroll or a 'load more' button (rendered in Chromium)"
    )
    form: FormSpec | None = Field(
        None, description="post this form of the level's page; its answer is the level's page"
    )

    @model_validator(mode="after")
    def _goes_somewhere(self) -> LevelSpec:
        if self.links is None and self.cards is None:
            raise ValueError(f"level {self.name!r} needs 'links' or 'cards' (or both)")
        counted = self.cards or self.links
        if self.scroll is not None and counted is not None and not browser_selector(counted):
            raise ValueError(
                f"level {self.name!r}: scroll counts the level's {'cards' if self.cards else 'links'} "
                f"in the browser, which needs plain CSS or XPath, not {counted.text!r}"
            )
        if self.next_page is not None and self.pages is not None:
            raise ValueError(f"level {self.name!r}: give 'next_page' or 'pages', not both")
        return self


def browser_selector(selector: SelectorSpec) -> tuple[str, str] | None:
    """``("css" | "xpath", selector)`` as a browser finds elements (Selenium's ``By``), or
    None when it cannot (JMESPath, metadata, parsel's ``::text`` and ``::attr()``)."""
    if selector.jmespath is not None or selector.metadata is not None:
        return None
    if selector.css is not None:
        return None if "::" in selector.css else ("css", selector.css)
    return ("xpath", selector.xpath) if selector.xpath else None


class SitemapSpec(_Model):
    """A start from sitemaps (``sitemap.xml``, sitemap indexes, robots.txt): the URLs whose
    address matches one of ``follow`` are item pages (every URL when ``follow`` is empty)."""

    urls: list[str] = Field(description="sitemap URLs; may use {base_url}, {date}, ...")
    follow: list[str] = Field([], description="URL regexes of the item pages to fetch")

    @field_validator("follow")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        return JavaScriptSpec._valid_regexes(patterns)


class IndexSpec(_Model):
    """Index pages: where the links to detail pages are, and the link to the next page: the
    one-level crawl graph (``levels: [{name: index, links: ..., next_page: ...}]``)."""

    detail_links: str = Field(description="CSS selector of <a> elements leading to detail pages")
    next_page: str | None = Field(
        None, description="CSS selector of the <a> to the next index page"
    )

    @field_validator("detail_links", "next_page")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_css(value)


class JavaScriptSpec(_Model):
    """Which pages need a real browser: a CSS marker in the plain HTML and/or URL regexes."""

    marker: str | None = None
    url_patterns: list[str] = []
    wait_for: str | None = Field(None, description="CSS selector that appears once rendered")
    timeout_seconds: float = 15.0

    @field_validator("url_patterns")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return patterns

    @property
    def enabled(self) -> bool:
        return bool(self.marker or self.url_patterns)


# Query (and ;path) parameters that carry a session id: dropped from every URL before it is
# requested, so a link space that mints a new id per link cannot grow without bound.
SESSION_ID_PARAMETERS = (
    "jsessionid", "phpsessid", "aspsessionid", "cfid", "cftoken", "sessionid", "session_id", "sid",
)  # fmt: skip


class CrawlSpec(_Model):
    """Politeness, reliability and limit knobs of the crawl; the defaults are what a site owner
    would accept (one site: at most 2 requests at a time, at least 1 s apart), and a spec may
    lower them explicitly for a site it owns."""

    obey_robots_txt: bool = True
    concurrency_per_domain: int = Field(2, ge=1, le=64)
    download_delay_seconds: float = Field(1.0, ge=0, description="minimum gap between requests")
    autothrottle: bool = True
    autothrottle_target_concurrency: float = Field(1.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    download_timeout_seconds: float = Field(30.0, gt=0)
    max_pages: int | None = Field(
        10_000, ge=1, description="page budget of one crawl (null: unbounded)"
    )
    max_depth: int | None = Field(
        200, ge=1, description="links followed from a start page (null: unbounded)"
    )
    recrawl_past: bool = Field(
        False,
        description="crawl a past date even though the site only shows today (a backfill of a "
        "source whose URLs carry no date; harvest.scraping.past): the partition records the "
        "day its pages were observed on",
    )
    max_crawl_delay_seconds: float = Field(
        10.0, ge=0, description="cap on a site's robots.txt Crawl-delay and 429 slow-down"
    )
    max_retry_after_seconds: float = Field(
        60.0, ge=0, description="longest Retry-After honoured; a longer one fails the page"
    )
    download_maxsize_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="a larger page (after decompression) fails"
    )
    download_warnsize_bytes: int = Field(1024 * 1024, ge=1, description="a larger page is logged")
    drop_url_parameters: list[str] = Field(
        list(SESSION_ID_PARAMETERS),
        description="query/path parameters removed from every URL (any case): session ids",
    )
    keep_url_fragments: bool = Field(False, description="keep '#...' (hash-routed sites)")
    browsers: int = Field(2, ge=1, le=8, description="headless Chromium instances in the pool")
    blocked_url_patterns: list[str] = Field(
        [], description="URL regexes of login/blocked pages: a page ending there is failed"
    )
    blocked_selector: str | None = Field(
        None, description="CSS selector found only on login/blocked pages: such a page is failed"
    )
    on_deadline: Literal["fail", "warn"] = Field(
        "fail", description="a crawl stopped at its deadline: fail the task, or warn and go on"
    )

    @field_validator("blocked_url_patterns")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        return JavaScriptSpec._valid_regexes(patterns)
