"""How a source is walked: the crawl graph (``levels:``, ``index:``, ``sitemap:``), which pages
need JavaScript (``javascript:``), and the politeness and limit knobs (``crawl:``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harvest.config.spec.base import _Model


class LevelSpec(_Model):
    """One level of the crawl graph between the start URLs and the item pages.

    ``links`` selects the ``<a>`` elements leading to the next level (the item pages after the
    last level); ``next_page`` this level's own pagination; ``cards`` the repeated blocks of an
    item on a list page. With ``cards``, ``links`` is looked up inside each card and the fields
    ``from: card`` travel with the link to the item page; a last level with ``cards`` and no
    ``links`` makes each card an item (no detail page).
    """

    name: str
    links: str | None = Field(None, description="CSS selector of the <a> to the next level")
    next_page: str | None = Field(None, description="CSS selector of the <a> to the next page")
    cards: str | None = Field(None, description="CSS selector of the repeated item blocks")

    @model_validator(mode="after")
    def _goes_somewhere(self) -> LevelSpec:
        if self.links is None and self.cards is None:
            raise ValueError(f"level {self.name!r} needs 'links' or 'cards' (or both)")
        return self


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
