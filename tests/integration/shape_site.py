"""A fixture site of the page shapes a spec must express (issue 17), served over real HTTP.

Each shape lives under its own path prefix and carries its truth (:data:`TRUTH`: the records the
site shows, by shape), so a test crawls a shape end to end and checks exact counts. Written by
us in the style of the demo site's server (``ThreadingHTTPServer`` on a background thread),
never the internet. Shapes:

- ``/quotes/``: cards that share a detail page (quotes by one author), 3 list pages.
- ``/shop/``: a category tree of mixed depth: sub-categories, item links or both on one page,
  pagination with a next link *and* numbered links, an item listed in two categories.
- ``/paged/``: numbered list pages with no next link (``?page=N``), then an empty page;
  ``/clamped/``: a site that serves its last page again for any larger number;
  ``/sitemap.xml``: a sitemap index as the index of the item pages.
- ``/item/N``: item pages reached straight from the start URLs (no levels).
- ``/api/``: JSON: a paged API (cards are array elements, ``next`` a URL), an API with
  ``has_next``, and item pages whose data is in ``application/ld+json``, in a ``<script>`` blob
  and in microdata.
- ``/table/``: a table whose rows are the records; ``/books/``: item pages of label/value pairs
  (``<th>UPC</th><td>``, ``<dt>..</dt><dd>``, ``<strong>Published:</strong> June 21, 2024``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HTML = "text/html; charset=utf-8"
JSON = "application/json"
Page = tuple[str, bytes]


def _html(body: str, title: str = "") -> Page:
    return (
        HTML,
        f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode(),
    )


# -- 1. cards that share a detail page ----------------------------------------------------------
AUTHORS = {
    "ada": ("Ada Lovelace", "1815-12-10"),
    "alan": ("Alan Turing", "1912-06-23"),
    "grace": ("Grace Hopper", "1906-12-09"),
    "edsger": ("Edsger Dijkstra", "1930-05-11"),
    "barbara": ("Barbara Liskov", "1939-11-07"),
}
QUOTES = [(f"q{n:02d}", f"Quote number {n}.", list(AUTHORS)[(n * 7) % 5]) for n in range(1, 24)]
QUOTES_PER_PAGE = 10  # 23 quotes on 3 pages; each author's page linked by 4-5 cards


def _quotes(path: str, query: dict[str, list[str]]) -> Page | None:
    if path.startswith("/quotes/author/"):
        slug = path.rsplit("/", 1)[1]
        if slug not in AUTHORS:
            return None
        name, born = AUTHORS[slug]
        return _html(f'<h2 class="name">{name}</h2><p>Born: <span class="born">{born}</span></p>')
    if path != "/quotes/":
        return None
    page = int(query.get("page", ["1"])[0])
    chunk = QUOTES[(page - 1) * QUOTES_PER_PAGE : page * QUOTES_PER_PAGE]
    if not chunk:
        return None
    cards = "".join(
        f'<div class="quote" data-id="{ident}"><span class="text">{text}</span>'
        f'<a class="author" href="/quotes/author/{slug}">{AUTHORS[slug][0]}</a></div>'
        for ident, text, slug in chunk
    )
    more = page * QUOTES_PER_PAGE < len(QUOTES)
    nxt = f'<li class="next"><a href="/quotes/?page={page + 1}">Next</a></li>' if more else ""
    return _html(cards + f"<ul>{nxt}</ul>")


# -- 2. a category tree of mixed depth ----------------------------------------------------------
# category path -> (sub-categories, items on its pages, items per page)
TREE: dict[str, tuple[list[str], list[str]]] = {
    "": (["tools", "garden"], []),
    "tools": (["tools/hand", "tools/power"], ["t1", "t2"]),  # sub-categories AND items
    "tools/hand": ([], ["h1", "h2", "h3", "h4", "h5", "h6", "h7"]),  # 3 pages
    "tools/power": (["tools/power/drills"], []),
    "tools/power/drills": (["tools/power/drills/cordless"], ["d1"]),
    "tools/power/drills/cordless": ([], ["c1", "c2", "t1"]),  # t1 listed twice in the tree
    "garden": ([], ["g1", "g2", "g3"]),
}
SHOP_PER_PAGE = 3
SHOP_ITEMS = sorted({i for _, items in TREE.values() for i in items})  # 15 distinct items


def _shop(path: str, query: dict[str, list[str]]) -> Page | None:
    if path.startswith("/shop/item/"):
        ident = path.rsplit("/", 1)[1]
        if ident not in SHOP_ITEMS:
            return None
        return _html(f'<h1>Item {ident}</h1><p class="price">{10 + len(ident) * 3} EUR</p>')
    if not path.startswith("/shop/"):
        return None
    category = path.removeprefix("/shop/").strip("/")
    if category not in TREE:
        return None
    subs, items = TREE[category]
    pages = max(1, -(-len(items) // SHOP_PER_PAGE))
    page = int(query.get("page", ["1"])[0])
    if page > pages:
        return None
    shown = items[(page - 1) * SHOP_PER_PAGE : page * SHOP_PER_PAGE]
    body = "".join(f'<a class="sub" href="/shop/{s}/">{s}</a>' for s in subs)
    if category == "":  # a link robots.txt forbids and one off the site: skipped, with reasons
        body += '<a class="sub" href="/private/shop/">staff</a>'
        body += '<a class="sub" href="http://elsewhere.invalid/shop/">partner shop</a>'
    body += "".join(f'<div class="product"><a href="/shop/item/{i}">{i}</a></div>' for i in shown)
    if pages > 1:  # numbered links to every page and a next link: many matches, same URLs
        nav = "".join(
            f'<a class="pg" href="/shop/{category}/?page={n}">{n}</a>' for n in range(1, pages + 1)
        )
        if page < pages:
            nav += f'<a class="pg next" href="/shop/{category}/?page={page + 1}">next</a>'
        body += f'<nav class="pages">{nav}</nav>'
    return _html(body)


# -- 3. pagination without a next link; a sitemap index -----------------------------------------
PAGED = [(f"p{n:02d}", f"Paged item {n}") for n in range(1, 33)]  # 32 items, 5 a page: 7 pages
PAGED_PER_PAGE = 5
CLAMPED = PAGED[:12]  # /clamped/: 3 pages (5, 5, 2), page 4+ serves page 3 again


def _paged(path: str, query: dict[str, list[str]]) -> Page | None:
    if path not in ("/paged/", "/clamped/"):
        return None
    page = int(query.get("page", ["1"])[0])
    items = PAGED if path == "/paged/" else CLAMPED
    last = -(-len(items) // PAGED_PER_PAGE)
    if path == "/clamped/":
        page = min(page, last)
    chunk = items[(page - 1) * PAGED_PER_PAGE : page * PAGED_PER_PAGE]
    return _html(
        "".join(f'<div class="row" id="{i}"><b>{name}</b></div>' for i, name in chunk)
        or "<p>No more results.</p>"
    )


SITEMAP_ITEMS = [f"{n}" for n in range(1, 8)]


def _sitemap(path: str, base: str) -> Page | None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    if path == "/sitemap.xml":
        parts = "".join(f"<sitemap><loc>{base}/sitemap-{k}.xml</loc></sitemap>" for k in ("a", "b"))
        return (
            "application/xml",
            f'<?xml version="1.0"?><sitemapindex {ns}>{parts}</sitemapindex>'.encode(),
        )
    if path in ("/sitemap-a.xml", "/sitemap-b.xml"):
        mine = SITEMAP_ITEMS[:4] if path.endswith("a.xml") else SITEMAP_ITEMS[4:]
        urls = "".join(f"<url><loc>{base}/item/{n}</loc></url>" for n in mine)
        urls += f"<url><loc>{base}/about</loc></url>"
        return "application/xml", f'<?xml version="1.0"?><urlset {ns}>{urls}</urlset>'.encode()
    return None


# -- 4. item pages as start URLs ----------------------------------------------------------------
def item_name(n: str) -> str:
    return f"Widget {n}"


def _item(path: str) -> Page | None:
    if not path.startswith("/item/"):
        return None
    n = path.rsplit("/", 1)[1]
    if n not in SITEMAP_ITEMS:
        return None
    tags = "".join(f"<li>tag{k}</li>" for k in range(int(n)))
    return _html(
        f'<h1>{item_name(n)}</h1><img class="photo" src="/img/{n}.jpg" alt="">'
        f'<p class="desc">{"word " * int(n)}</p><ul class="tags">{tags}</ul>'
    )


# -- 5. JSON ------------------------------------------------------------------------------------
API_PRODUCTS = [
    {"sku": f"S{n:03d}", "title": f"Product {n}", "price": {"amount": 5 * n, "currency": "EUR"}}
    for n in range(1, 12)
]
API_PER_PAGE = 4  # 11 products on 3 pages
JOBS = [{"id": n, "role": f"Role {n}", "city": ["Berlin", "Paris"][n % 2]} for n in range(1, 10)]
JOBS_PER_PAGE = 4  # 9 jobs on 3 pages, has_next false on the last
LD_ITEMS = {"b1": ("Dune", "9.99"), "b2": ("Emma", "4.50"), "b3": ("Ulysses", "12.00")}


def _api(path: str, query: dict[str, list[str]]) -> Page | None:
    page = int(query.get("page", ["1"])[0])
    if path == "/api/products":
        chunk = API_PRODUCTS[(page - 1) * API_PER_PAGE : page * API_PER_PAGE]
        more = page * API_PER_PAGE < len(API_PRODUCTS)
        data = {"products": chunk, "next": f"/api/products?page={page + 1}" if more else None}
        return JSON, json.dumps(data).encode()
    if path == "/api/jobs":
        chunk = JOBS[(page - 1) * JOBS_PER_PAGE : page * JOBS_PER_PAGE]
        more = page * JOBS_PER_PAGE < len(JOBS)
        return JSON, json.dumps({"data": {"jobs": chunk, "has_next": more}}).encode()
    if path == "/api/books/":
        links = "".join(f'<a class="book" href="/api/books/{b}">{b}</a>' for b in LD_ITEMS)
        return _html(links)
    if path.startswith("/api/books/"):
        ident = path.rsplit("/", 1)[1]
        if ident not in LD_ITEMS:
            return None
        name, price = LD_ITEMS[ident]
        ld = {
            "@context": "https://schema.org",
            "@type": "Book",
            "name": name,
            "offers": {"@type": "Offer", "price": price, "priceCurrency": "GBP"},
        }
        blob = {"props": {"book": {"id": ident, "pages": 100 + len(name)}}}
        micro = (
            '<div itemscope itemtype="https://schema.org/Person">'
            f'<span itemprop="name">Author of {name}</span></div>'
        )
        return _html(
            f'<script type="application/ld+json">{json.dumps(ld)}</script>'
            f'<script id="__DATA__" type="application/json">{json.dumps(blob)}</script>'
            f"<h1>{name}</h1>{micro}"
        )
    return None


# -- 8. tables as records, label/value pairs ----------------------------------------------------
TABLE_ROWS = [
    (f"Country {c}", f"{1000 + 37 * k}", f"{k * 1.5:.1f}") for k, c in enumerate("ABCDEFGHIJKL", 1)
]
BOOKS = {
    "1": ("A Light in the Attic", "a897fe39b1053632", "In stock (22 available)", "June 21, 2024"),
    "2": ("Tipping the Velvet", "90fa61229261140a", "In stock (20 available)", "May 3, 2023"),
    "3": ("Soumission", "6957f44c3847a760", "Out of stock", "January 9, 2022"),
}


def _table(path: str) -> Page | None:
    if path == "/table/":
        head = "<tr><th>Country</th><th>Population</th><th>Area (km2)</th></tr>"
        rows = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in TABLE_ROWS)
        return _html(f'<table class="wikitable"><thead>{head}</thead><tbody>{rows}</tbody></table>')
    if path == "/books/":
        return _html("".join(f'<h3><a href="/books/{n}">{t[0]}</a></h3>' for n, t in BOOKS.items()))
    if path.startswith("/books/"):
        n = path.rsplit("/", 1)[1]
        if n not in BOOKS:
            return None
        title, upc, stock, published = BOOKS[n]
        return _html(
            f"<h1>{title}</h1><table><tr><th>UPC</th><td>{upc}</td></tr>"
            "<tr><th>Product Type</th><td>Books</td></tr></table>"
            f"<dl><dt>Availability</dt><dd>{stock}</dd></dl>"
            f"<p><strong>Published:</strong> {published}</p>"
        )
    return None


PAGED_SPEC: dict[str, Any] = {
    "name": "shape_paged", "start_urls": ["{base_url}/paged/"],
    "levels": [{"name": "results", "cards": "div.row",
                "pages": {"template": "?page={page}", "max": 50}}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "card", "css": "::attr(id)", "required": True},
        "name": {"from": "card", "css": "b"},
    }},
}  # fmt: skip
"""The spec of ``/paged/`` (its cards are the records), without ``base_url``."""
TABLE_SPEC: dict[str, Any] = {
    "name": "shape_table",
    "start_urls": ["{base_url}/table/"],
    "levels": [{"name": "rows", "cards": "table.wikitable tbody tr"}],
    "detail": {"key": "country", "fields": {
        "country": {"from": "card", "header": "Country", "required": True},
        "population": {"from": "card", "header": "Population", "kind": "int"},
        "area": {"from": "card", "header": "Area (km2)", "kind": "number"},
    }},
}  # fmt: skip
"""The spec of ``/table/`` (its rows are the records), without ``base_url``."""

SHOP_SPEC: dict[str, Any] = {
    "name": "shape_shop", "start_urls": ["{base_url}/shop/"],
    "levels": [{"name": "category", "recurse": "a.sub",
                "links": {"xpath": "//div[@class='product']/a"}, "next_page": "nav.pages a"}],
    "detail": {"key": "id", "fields": {
        "id": {"from": "url", "regex": r"/shop/item/(\w+)$", "required": True},
        "name": {"xpath": "//h1/text()"},
        "price": {"css": "p.price", "kind": "price"},
    }},
}  # fmt: skip
"""The spec of ``/shop/`` (one level recursing into sub-categories), without ``base_url``."""
TRUTH: dict[str, int] = {
    "quotes": len(QUOTES),  # 23 records, 5 author pages
    "shop": len(SHOP_ITEMS),  # 15 distinct items (t1 twice in the tree)
    "paged": len(PAGED),  # 32
    "clamped": len(CLAMPED),  # 12
    "sitemap": len(SITEMAP_ITEMS),  # 7
    "items": len(SITEMAP_ITEMS),  # 7
    "api_products": len(API_PRODUCTS),  # 11
    "api_jobs": len(JOBS),  # 9
    "ld": len(LD_ITEMS),  # 3
    "table": len(TABLE_ROWS),  # 12
    "books": len(BOOKS),  # 3
}
"""Records the site shows, by shape."""


class ShapeSite:
    """The shapes served on 127.0.0.1 (a free port) until :meth:`stop`; counts requests per path."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                site.requests[parts.path] = site.requests.get(parts.path, 0) + 1
                page = site.route(parts.path, parse_qs(parts.query))
                status, (kind, body) = (200, page) if page else (404, _html("<p>not found</p>"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def route(self, path: str, query: dict[str, list[str]]) -> Page | None:
        if path == "/robots.txt":
            return "text/plain", b"User-agent: *\nDisallow: /private/\n"
        routes: list[Callable[[], Page | None]] = [
            lambda: _quotes(path, query),
            lambda: _shop(path, query),
            lambda: _paged(path, query),
            lambda: _sitemap(path, self.base_url),
            lambda: _item(path),
            lambda: _api(path, query),
            lambda: _table(path),
        ]
        for route in routes:
            page = route()
            if page is not None:
                return page
        return None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
