"""The catalogue's pages under ``/catalogue/``, as a spec for a real shop would meet them.

Pure functions from (config, day, request) to a :class:`Page`; the server routes ``/catalogue``
here and adds faults and counts. The crawl graph:

- ``/catalogue/`` (latin-1): ``ul.categories a`` links each category list, and one list per city
  for jobs (``category/jobs/?stadt=München``: the query must be sent in latin-1, ``M%FCnchen``;
  the UTF-8 escape ``M%C3%BCnchen`` is another city, so 404);
- ``/catalogue/category/<slug>/?page=N``: ``article.product_pod`` cards with a relative link to
  the product (``h3 a``, full title in its ``title`` attribute), the rating only as a class
  (``p.star-rating.Three``), an optional ``span.badge``, the price, and a basket link that
  robots.txt disallows; ``li.next a`` (``rel=next``, a relative ``?page=N``) to the next page;
- ``/catalogue/p/<id>``: ``h1`` title, ``p.price_color``, ``p.availability`` (text after an empty
  ``<i>``), ``p.published``, ``ul.tags li``, the category in ``ul.breadcrumb``, and
  ``p.location`` for jobs. The id is only in the URL;
- ``/catalogue/sitemap.xml``: every visible product page, with the day it last changed.

Jobs lists and job pages are latin-1 like the home page; the others are UTF-8.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import math
from dataclasses import dataclass
from urllib.parse import parse_qs

from harvest_demo.catalogue import (
    CatalogueConfig,
    Product,
    catalogue_for_day,
    category_products,
    find_product,
)
from harvest_demo.catalogue_kinds import (
    CATEGORIES,
    CATEGORY_BY_SLUG,
    JOB_CITIES,
    RATING_WORDS,
    Category,
)

SHOP_NAME = "Harvest Shop"
UTF8 = "utf-8"
LATIN1 = "iso-8859-1"
SITEMAP_PATH = "/catalogue/sitemap.xml"
BASKET_PATH = "/catalogue/basket/"
ROBOTS_LINES = f"Disallow: {BASKET_PATH}\n"
"""What robots.txt says about the catalogue (the server adds a ``Sitemap:`` line)."""
TITLE_ON_CARD = 30  # longer titles are cut on the card (the full one is in its title attribute)


@dataclass(frozen=True)
class Page:
    """A response of the catalogue: status, body bytes, Content-Type, extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def _html(status: int, title: str, body: str, charset: str = UTF8) -> Page:
    text = (
        "<!DOCTYPE html>\n"
        f'<html lang="en">\n<head>\n<meta charset="{charset}">\n'
        f"<title>{html.escape(title)} | {SHOP_NAME}</title>\n</head>\n<body>\n"
        f'<header><a href="/catalogue/">{SHOP_NAME}</a></header>\n{body}</body>\n</html>\n'
    )
    # latin-1 pages write what latin-1 lacks (the euro sign, en dashes) as character references
    return Page(status, text.encode(charset, "xmlcharrefreplace"), f"text/html; charset={charset}")


def _not_found(message: str) -> Page:
    return _html(404, "Not found", f"<h1>404</h1>\n<p>{html.escape(message)}</p>\n")


def _charset(category: Category) -> str:
    return LATIN1 if category.latin1 else UTF8


def render_home() -> Page:
    """The catalogue's home page (latin-1): one link per category, per city for jobs."""
    items = []
    for category in CATEGORIES:
        if category.slug == "jobs":
            items += [
                f'<li><a href="category/jobs/?stadt={city}">Jobs in {city}</a></li>\n'
                for city in JOB_CITIES
            ]
        else:
            items.append(
                f'<li><a href="category/{category.slug}/">{html.escape(category.name)}</a></li>\n'
            )
    body = (
        f"<h1>{SHOP_NAME}</h1>\n"
        f'<ul class="categories">\n{"".join(items)}</ul>\n'
        '<footer><a href="sitemap.xml">Sitemap</a></footer>\n'
    )
    return _html(200, "Home", body, LATIN1)


def _card(product: Product) -> str:
    title = product.title
    shown = title if len(title) <= TITLE_ON_CARD else title[: TITLE_ON_CARD - 3] + "..."
    rating = (
        f'<p class="star-rating {RATING_WORDS[product.rating - 1]}"></p>\n'
        if product.rating is not None
        else ""
    )
    badge = f'<span class="badge">{html.escape(product.badge)}</span>\n' if product.badge else ""
    return (
        '<li>\n<article class="product_pod">\n'
        f"{rating}{badge}"
        f'<h3><a href="../../p/{product.product_id}" title="{html.escape(title)}">'
        f"{html.escape(shown)}</a></h3>\n"
        f'<div class="product_price">\n<p class="price_color">{html.escape(product.price_text)}'
        f'</p>\n<a class="basket" href="../../basket/add?product={product.product_id}">'
        "Add to basket</a>\n</div>\n</article>\n</li>\n"
    )


@functools.lru_cache(maxsize=1024)
def render_list(
    config: CatalogueConfig, day: dt.date, category: Category, city: str | None, page: int
) -> Page:
    """Page ``page`` (1-based) of one category's list on ``day`` (jobs: of one city)."""
    products = category_products(config, day, category, city)
    pages = max(1, math.ceil(len(products) / config.page_size))
    where = f"{category.name} in {city}" if city else category.name
    if not 1 <= page <= pages:
        return _not_found(f"No page {page} of {where}: pages run from 1 to {pages}.")
    start = (page - 1) * config.page_size
    cards = "".join(_card(p) for p in products[start : start + config.page_size])
    query = f"?stadt={city}&amp;page=" if city else "?page="
    nav = []
    if page > 1:
        nav.append(f'<li class="previous"><a rel="prev" href="{query}{page - 1}">previous</a></li>')
    if page < pages:
        nav.append(f'<li class="next"><a rel="next" href="{query}{page + 1}">next</a></li>')
    body = (
        f"<h1>{html.escape(where)}</h1>\n"
        f'<p class="summary">{len(products)} results, page {page} of {pages}</p>\n'
        f'<ol class="row">\n{cards}</ol>\n<ul class="pager">{"".join(nav)}</ul>\n'
    )
    return _html(200, f"{where}, page {page}", body, _charset(category))


def _description(product: Product) -> str:
    if product.city is not None:
        return f"A position in {product.city}. Apply before the listing closes."
    return f"{product.title}, from our {product.category.name.lower()} range."


@functools.lru_cache(maxsize=4096)
def render_product(config: CatalogueConfig, day: dt.date, product_id: str) -> Page:
    """The product page of ``product_id`` on ``day`` (404 when it is not visible that day)."""
    product = find_product(config, day, product_id)
    if product is None:
        return _not_found(f"No product {product_id} in the catalogue on {day}.")
    category = product.category
    crumb = f"category/{category.slug}/" + (f"?stadt={product.city}" if product.city else "")
    title = html.escape(product.title)
    availability = (
        f'<p class="availability">\n<i class="icon-ok"></i>\n    {product.availability_text}\n</p>\n'
        if product.availability_text is not None
        else ""
    )
    location = f'<p class="location">{html.escape(product.city)}</p>\n' if product.city else ""
    tags = "".join(f"<li>{html.escape(tag)}</li>" for tag in product.tags)
    body = (
        '<ul class="breadcrumb">\n<li><a href="../">Home</a></li>\n'
        f'<li><a href="../{crumb}">{html.escape(category.name)}</a></li>\n'
        f'<li class="active">{title}</li>\n</ul>\n'
        f'<article class="product_page">\n<h1>{title}</h1>\n'
        f'<p class="price_color">{html.escape(product.price_text)}</p>\n'
        f"{availability}{location}"
        f'<p class="published">{product.published_text}</p>\n'
        f'<ul class="tags">{tags}</ul>\n'
        '<div id="product_description">\n<h2>Description</h2>\n'
        f"<p>{html.escape(_description(product))}</p>\n</div>\n</article>\n"
    )
    return _html(200, product.title, body, _charset(category))


@functools.lru_cache(maxsize=64)
def render_sitemap(config: CatalogueConfig, day: dt.date, base_url: str) -> Page:
    """``sitemap.xml`` of ``day``: every visible product page, ``lastmod`` its last change."""
    urls = "".join(
        f"<url><loc>{base_url}{p.path}</loc><lastmod>{p.changed_on}</lastmod></url>\n"
        for p in catalogue_for_day(config, day)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n'
    )
    return Page(200, body.encode(), "application/xml; charset=utf-8")


def _basket() -> Page:
    return _html(200, "Basket", "<h1>Your basket is empty</h1>\n")


def route(config: CatalogueConfig, day: dt.date, path: str, query: str, base_url: str) -> Page:
    """Answer a GET of ``path`` (starting ``/catalogue``) and its raw ``query`` on ``day``.

    The query is decoded as latin-1, the encoding of the pages that link with one; ``base_url``
    (scheme and host) makes the sitemap's absolute URLs.
    """
    if path == "/catalogue":
        return Page(301, b"", "text/plain; charset=utf-8", (("Location", "/catalogue/"),))
    if path == "/catalogue/":
        return render_home()
    if path == SITEMAP_PATH:
        return render_sitemap(config, day, base_url.rstrip("/"))
    if path.startswith(BASKET_PATH):
        return _basket()
    if path.startswith("/catalogue/p/"):
        return render_product(config, day, path.removeprefix("/catalogue/p/"))
    if path.startswith("/catalogue/category/"):
        return _list(config, day, path, parse_qs(query, encoding=LATIN1))
    return _not_found(f"Nothing at {path}.")


def _list(config: CatalogueConfig, day: dt.date, path: str, query: dict[str, list[str]]) -> Page:
    slug = path.removeprefix("/catalogue/category/").removesuffix("/")
    category = CATEGORY_BY_SLUG.get(slug)
    if category is None:
        known = ", ".join(c.slug for c in CATEGORIES)
        return _not_found(f"No category {slug!r}; categories: {known}.")
    raw_page = query.get("page", ["1"])[-1]
    page = int(raw_page) if raw_page.isdigit() else 0
    city = None
    if category.slug == "jobs":
        city = query.get("stadt", [""])[-1]
        if city not in JOB_CITIES:
            return _not_found(
                f"No jobs in stadt={city!r} (queries are read as ISO-8859-1); "
                f"cities: {', '.join(JOB_CITIES)}."
            )
    return render_list(config, day, category, city, page)
