"""The item every spider yields: one page, fetched or failed, before it becomes a raw document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageItem:
    """One page of a crawl; the pipeline adds the source and the partition (logical date)."""

    url: str  # the URL requested (the raw document's key)
    status: int | None
    page_type: str  # "index" | "detail" | "sitemap"
    fetched_at: str  # ISO timestamp (UTC) of the real fetch
    fields: dict[str, Any] = field(default_factory=dict)  # str | list[str] | None per field
    records: list[dict[str, Any]] = field(default_factory=list)  # items from the page's cards
    body: str | None = None
    error: str | None = None
    rendered_with: str = "http"  # "http" | "chromium"
    final_url: str | None = None  # where the page ended (after redirects or JavaScript)
    redirect_chain: list[str] = field(default_factory=list)  # requested URL, ..., final URL
    content_type: str | None = None  # the response's Content-Type header
    # list pages: where the page sits in the crawl graph and what it lists (see
    # harvest.crawler.spiders.base.listing): {"branch", "parent", "level", "links", "continues"}
    listing: dict[str, Any] | None = None
    # cards met here that come before the card an item's record was stored with (see
    # harvest.crawler.spiders.item_pages): {"of", "card", "at", "fields"}
    earlier_cards: list[dict[str, Any]] = field(default_factory=list)
