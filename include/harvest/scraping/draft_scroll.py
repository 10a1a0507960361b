"""``harvest init`` on a page of records that loads more as it is scrolled, or when a "load
more" button is clicked: the level gets ``scroll:``.

Only when the page has no next link nor numbered pages, carries scripts and Chromium is
installed: the page is rendered in it (Harvest's browser pool, :class:`~harvest.crawler.browser.
Scroll`) and scrolled (or its button clicked) :data:`ROUNDS` times; when more of the level's cards
show than on the plain page, the page grows: ``scroll: {}``, or ``scroll: {load_more: css}`` for
a ``<button>`` (or link without a page to go to) reading "more" (:data:`MORE_WORDS`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from parsel import Selector

from harvest.learning.itemfields import SamplePage
from harvest.learning.listpage import ListStructure, _part
from harvest.text import collapse_whitespace, fold

ROUNDS = 2
WAIT_SECONDS = 1.5
MORE_WORDS = ("more", "mehr", "plus", "más", "meer", "altri")


def load_more_button(html: str) -> str | None:
    """CSS of the one button (or ``href``-less link) whose text says "more", or ``None``."""
    selector = Selector(text=html)
    found = []
    for element in selector.xpath("//body//button | //body//a[not(@href) or @href='#']"):
        text = fold(collapse_whitespace(" ".join(element.xpath(".//text()").getall()))) or ""
        if text and len(text) <= 30 and any(w in text.split() for w in MORE_WORDS):
            found.append(element.root)
    if len(found) != 1:
        return None
    css = _part(found[0])
    return css if len(selector.css(css)) == 1 else None


def with_scroll(fetcher: Any, page: SamplePage, records: ListStructure) -> ListStructure:
    """``records`` with ``scroll`` when its page grows as it is scrolled (module docstring)."""
    if records.next_page or records.pages or records.cards is None or not fetcher.can_render:
        return records
    if not Selector(text=page.html).xpath("//script[not(@type='application/ld+json')]"):
        return records
    from harvest.crawler.browser import Scroll

    button = load_more_button(page.html)
    scroll = Scroll(
        "css selector",
        records.cards,
        load_more=button,
        max_rounds=ROUNDS,
        wait_seconds=WAIT_SECONDS,
    )
    try:
        rendered = fetcher.render(page.url, scroll=scroll)
    except Exception:  # a page the browser cannot scroll is left as it is
        return records
    before = len(Selector(text=page.html).css(records.cards))
    after = len(Selector(text=rendered.html).css(records.cards))
    if after <= before:
        return records
    return replace(records, scroll={"load_more": button} if button else {})
