"""The demo site's HTML, exactly as the demo source spec's selectors expect it.

Pure functions from (config, day or listing) to bytes, cached: the server only routes, counts
and injects faults. The contract the spider relies on:

- index: ``a.listing-link`` per listing, ``a[rel=next]`` when there is a next page, and one
  ``/private/report`` link (disallowed by robots.txt);
- detail: every field value is the own text of an element with ``data-field="<name>"``, in a
  ``<dl>`` (layout "a") or a ``<table>`` (layout "b"); missing optional fields are absent;
- JavaScript pages: ``<body data-render="js">`` with empty price and area elements that an
  inline script fills in before setting ``body[data-rendered=true]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import json

from harvest_demo.generator import SiteConfig, day_listings, find_listing
from harvest_demo.listing import Listing

ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"
SITE_NAME = "Harvest Homes"

FIELD_LABELS = (
    ("listing_id", "Listing ID"),
    ("price", "Rent"),
    ("area", "Living area"),
    ("rooms", "Rooms"),
    ("floor", "Floor"),
    ("city", "City"),
    ("district", "District"),
    ("balcony", "Balcony"),
    ("built_year", "Built"),
    ("available_from", "Available from"),
)
JS_FIELDS = ("price", "area")  # filled in by the inline script on JavaScript pages


def _page(title: str, body: str, body_attrs: str = "") -> bytes:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)} | {SITE_NAME}</title>\n</head>\n"
        f"<body{body_attrs}>\n"
        f'<header><a href="/">{SITE_NAME}</a></header>\n'
        f"{body}"
        "</body>\n</html>\n"
    ).encode()


def render_home(today: dt.date, days: int = 7) -> bytes:
    """A small home page linking to the index of the last ``days`` days."""
    items = "".join(
        f'<li><a href="/listings/{d}">Listings of {d}</a></li>\n'
        for d in (today - dt.timedelta(days=k) for k in range(days))
    )
    return _page(SITE_NAME, f'<h1>{SITE_NAME}</h1>\n<ul class="days">\n{items}</ul>\n')


@functools.lru_cache(maxsize=4096)
def render_index(config: SiteConfig, day: dt.date, page: int) -> bytes | None:
    """Index page ``page`` (1-based) of ``day``, or ``None`` when there is no such page."""
    pages = config.pages_per_day
    if not 1 <= page <= pages:
        return None
    links = "".join(
        f'<li><a class="listing-link" href="/listing/{listing.listing_id}">'
        f"{html.escape(listing.title)}</a> "
        f'<span class="city">{html.escape(listing.city_text)}</span></li>\n'
        for listing in day_listings(config, day).page(page)
    )
    nav = []
    if page > 1:
        nav.append(f'<a rel="prev" href="/listings/{day}?page={page - 1}">Previous</a>')
    if page < pages:
        nav.append(f'<a rel="next" href="/listings/{day}?page={page + 1}">Next</a>')
    body = (
        f"<h1>Listings of {day}</h1>\n"
        f'<p class="summary">Page {page} of {pages} ({config.listings_per_day} listings)</p>\n'
        f'<ul class="listings">\n{links}</ul>\n'
        f'<nav class="pagination">{" ".join(nav)}</nav>\n'
        f'<footer><a href="/private/report?day={day}">staff report</a></footer>\n'
    )
    return _page(f"Listings of {day}, page {page}", body)


def shown_fields(listing: Listing) -> dict[str, str]:
    """Every field's text as the listing's detail page shows it (title included, missing
    fields left out): what a spider extracts from the rendered page."""
    values = {
        "listing_id": listing.listing_id,
        "title": listing.title,
        "price": listing.price_text,
        "area": listing.area_text,
        "rooms": str(listing.rooms),
        "floor": str(listing.floor),
        "city": listing.city_text,
        "district": listing.district,
        "balcony": "yes" if listing.balcony else "no",
        "built_year": str(listing.built_year),
        "available_from": listing.available_from_text,
    }
    for name in listing.missing:
        values.pop(name, None)
    return values


@functools.lru_cache(maxsize=16384)
def render_detail(config: SiteConfig, listing_id: str, layout_drift: bool = False) -> bytes | None:
    """Detail page of one listing, or ``None`` for an unknown id.

    ``layout_drift`` renames ``data-field`` to ``data-attr`` (a site redesign the spec's
    selectors no longer match).
    """
    listing = find_listing(config, listing_id)
    if listing is None:
        return None
    attr = "data-attr" if layout_drift else "data-field"
    values = {name: text for name, text in shown_fields(listing).items() if name != "title"}
    hidden = (
        {name: values[name] for name in JS_FIELDS if name in values} if listing.needs_js else {}
    )

    def cell(name: str, tag: str) -> str:
        text = "" if name in hidden else html.escape(values[name])
        return f'<{tag} {attr}="{name}" id="field-{name}">{text}</{tag}>'

    title = html.escape(listing.title)
    present = [(name, label) for name, label in FIELD_LABELS if name in values]
    if listing.layout == "a":
        rows = "".join(f"<dt>{label}</dt>{cell(name, 'dd')}\n" for name, label in present)
        body = (
            f'<article data-layout="a">\n<h1 {attr}="title">{title}</h1>\n'
            f"<dl>\n{rows}</dl>\n</article>\n"
        )
    else:
        rows = "".join(f"<tr><th>{label}</th>{cell(name, 'td')}</tr>\n" for name, label in present)
        body = (
            f'<div data-layout="b">\n<h2 {attr}="title">{title}</h2>\n'
            f'<table class="facts">\n{rows}</table>\n</div>\n'
        )
    body_attrs = ""
    if listing.needs_js:
        body_attrs = ' data-render="js"'
        # base64 of ASCII-only JSON: no plain-text value in the HTML, and atob() round-trips it
        payload = base64.b64encode(json.dumps(hidden, ensure_ascii=True).encode()).decode()
        body += (
            "<script>\n(function () {\n"
            f'  var data = JSON.parse(atob("{payload}"));\n'
            "  Object.keys(data).forEach(function (name) {\n"
            '    var el = document.getElementById("field-" + name);\n'
            "    if (el) { el.textContent = data[name]; }\n"
            "  });\n"
            '  document.body.dataset.rendered = "true";\n'
            "})();\n</script>\n"
        )
    return _page(listing.title, body, body_attrs)


def render_report(config: SiteConfig, day: dt.date) -> bytes:
    """The staff-only report (robots.txt disallows /private/; a polite spider never asks)."""
    body = (
        f"<h1>Staff report for {day}</h1>\n"
        f"<p>{config.listings_per_day} listings on {config.pages_per_day} pages.</p>\n"
    )
    return _page(f"Staff report {day}", body)


def render_message(status: int, message: str) -> bytes:
    """A small error page."""
    return _page(f"{status}", f"<h1>{status}</h1>\n<p>{html.escape(message)}</p>\n")
