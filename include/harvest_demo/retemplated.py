"""The demo site re-templated (the ``retemplated`` fault): the same listings and values, but
other class names, other nesting, other order, no ``id``, no ``data-field`` and no script, as
after a site redesign the demo spec's selectors no longer match. Item pages come in two layouts,
as the demo site has (by the listing's ``layout``): a list of ``<span>`` pairs, and a grid of
``<div>`` pairs with the value wrapped. Index pages put cards in ``<article>`` with other
classes and a numbered pager without ``rel``, so the spec's ``detail_links`` and ``next_page``
find nothing.
"""

from __future__ import annotations

import datetime as dt
import html

from harvest_demo.generator import SiteConfig, day_listings, find_listing
from harvest_demo.listing import Listing
from harvest_demo.pages import FIELD_LABELS, SITE_NAME, shown_fields


def render_retemplated(listing: Listing) -> str:
    """The item page of ``listing`` in the new template (every value in the HTML, no script)."""
    values = shown_fields(listing)
    title = html.escape(values.pop("title"))
    present = [(name, label) for name, label in FIELD_LABELS if name in values]
    if listing.layout == "a":
        items = "".join(
            f'<li class="spec"><span class="spec-name">{label}</span> '
            f'<span class="spec-value">{html.escape(values[name])}</span></li>\n'
            for name, label in reversed(present)
        )
        body = (
            '<main class="property">\n<section class="summary"><div class="headline">'
            f'<h3 class="property-name">{title}</h3></div></section>\n'
            f'<section class="details"><ul class="specs">\n{items}</ul></section>\n</main>\n'
        )
    else:
        items = "".join(
            f'<div class="kv"><div class="k">{label}</div>'
            f'<div class="v"><span>{html.escape(values[name])}</span></div></div>\n'
            for name, label in sorted(present, key=lambda p: p[1])
        )
        body = (
            '<div class="wrap"><div class="card"><div class="card-body">\n'
            f'<p class="lead"><strong class="name">{title}</strong></p>\n'
            f'<div class="kv-grid">\n{items}</div>\n</div></div></div>\n'
        )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} - {SITE_NAME}</title></head>\n"
        f'<body class="v2"><nav class="top"><a href="/">{SITE_NAME}</a></nav>\n{body}'
        '<footer class="legal">Prices per month</footer></body></html>\n'
    )


def render_retemplated_index(config: SiteConfig, day: dt.date, page: int) -> str | None:
    """Index page ``page`` of ``day`` in the new template (``None`` beyond the last page)."""
    pages = config.pages_per_day
    if not 1 <= page <= pages:
        return None
    cards = "".join(
        f'<article class="result"><h2 class="result-title"><a href="/listing/{item.listing_id}">'
        f'{html.escape(item.title)}</a></h2><p class="where">{html.escape(item.city_text)}</p>'
        f'<a class="button" href="/listing/{item.listing_id}">Details</a></article>\n'
        for item in day_listings(config, day).page(page)
    )
    numbers = " ".join(
        f'<a class="pager-link" href="/listings/{day}?page={n}">{n}</a>'
        if n != page
        else f'<span class="pager-current">{n}</span>'
        for n in range(max(1, page - 1), min(pages, page + 1) + 1)
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{day}</title>'
        f'</head>\n<body class="v2"><nav class="top"><a href="/">{SITE_NAME}</a> '
        '<a href="/about">About</a></nav>\n'
        f'<div class="results">\n{cards}</div>\n<div class="pager">{numbers}</div>\n'
        f'<footer class="legal"><a href="/private/report?day={day}">staff report</a></footer>'
        "</body></html>\n"
    )


def index_page(config: SiteConfig, day: dt.date, page: int) -> bytes | None:
    """What the site serves for index page ``page`` of ``day`` (``None``: no such page)."""
    body = render_retemplated_index(config, day, page)
    return None if body is None else body.encode()


def detail_page(config: SiteConfig, listing_id: str) -> bytes | None:
    """What the site serves for the item page of ``listing_id`` (``None``: no such listing)."""
    listing = find_listing(config, listing_id)
    return None if listing is None else render_retemplated(listing).encode()
