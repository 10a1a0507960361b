"""``harvest init`` on a sitemap: the spec starts from it (``sitemap:``) and follows its item URLs.

The sitemap (or sitemap index: at most :data:`MAX_SITEMAPS` of its sitemaps are read) is parsed
by Scrapy's own :class:`scrapy.utils.sitemap.Sitemap`, as the crawl parses it. Its page URLs are
grouped by their path without its last segment (``/item/7`` -> ``/item/``); the largest group
of at least :data:`~harvest.learning.listpage.MIN_ITEMS` URLs is the item pages, written as
``sitemap.follow`` (``/item/[^/?#]+$``: the other URLs are counted as not followed), and a
sample of them is drafted as item pages (:func:`harvest.learning.draft.draft_source`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from harvest.learning.draft import Draft, draft_source
from harvest.learning.itemfields import SamplePage
from harvest.learning.listpage import MIN_ITEMS
from harvest.scraping.preview import PreviewError

MAX_SITEMAPS = 5
"""Sitemaps of an index read to find the item URLs."""


def sitemap_kind(page: SamplePage) -> str | None:
    """``urlset`` or ``sitemapindex`` when ``page`` is a sitemap, else ``None``."""
    if not page.html.lstrip().startswith("<?xml") and "<urlset" not in page.html[:500]:
        return None
    from scrapy.utils.sitemap import Sitemap

    try:
        kind = Sitemap(page.html.encode()).type
    except Exception:  # XML that is no sitemap (lxml's errors): not one
        return None
    return kind if kind in ("urlset", "sitemapindex") else None


def _locations(page: SamplePage) -> list[str]:
    from scrapy.utils.sitemap import Sitemap

    return [entry["loc"] for entry in Sitemap(page.html.encode()) if entry.get("loc")]


def page_urls(fetcher: Any, page: SamplePage) -> list[str]:
    """The page URLs of sitemap ``page`` (its sitemaps' when it is an index)."""
    if sitemap_kind(page) == "urlset":
        return _locations(page)
    urls: list[str] = []
    for child in _locations(page)[:MAX_SITEMAPS]:
        try:
            fetched = fetcher.get(child)
        except PreviewError:  # a sitemap that fails is left out, as the crawl does
            continue
        if sitemap_kind(fetched) == "urlset":
            urls += _locations(fetched)
    return urls


def item_pattern(urls: list[str]) -> str | None:
    """The ``follow`` regex of the largest group of URLs sharing their path but the last
    segment (at least :data:`MIN_ITEMS` of them), or ``None``."""
    prefixes = Counter(urlsplit(u).path.rsplit("/", 1)[0] + "/" for u in urls)
    if not prefixes:
        return None
    prefix, count = prefixes.most_common(1)[0]
    return re.escape(prefix) + r"[^/?#]+$" if count >= MIN_ITEMS else None


def draft_from_sitemap(
    fetcher: Any,
    page: SamplePage,
    *,
    sample: int,
    examples: dict[str, str] | None = None,
    name: str | None = None,
) -> Draft:
    """The spec of sitemap ``page``: ``sitemap: {urls, follow}`` and the fields of a sample of
    its item pages (module docstring). ``PreviewError`` when it lists no group of item URLs."""
    from harvest.scraping.draft import sample_urls

    urls = page_urls(fetcher, page)
    pattern = item_pattern(urls)
    if pattern is None:
        raise PreviewError(f"{page.url}: the sitemap lists no {MIN_ITEMS} URLs of one path")
    items = [u for u in urls if re.search(pattern, u) and fetcher.allowed(u)]
    pages = [fetcher.get(u) for u in sample_urls(items, sample)]
    draft = draft_source(
        page.url,
        None,
        pages,
        examples=examples,
        name=name,
        sitemap={"follow": [pattern]},
    )
    draft.notes.insert(
        0,
        f"a sitemap: {len(items)} of its {len(urls)} URLs match {pattern!r} (sitemap.follow), "
        "the others are not followed",
    )
    return draft
