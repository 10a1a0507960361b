"""A fixture site over real HTTP, crawled end to end into the raw store: two link levels with
pagination, items that are only cards, latin-1 pages (and a latin-1 query), and a start from a
sitemap index. Every item's fields are checked against the site's own truth."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.records import extract_records, parse_records
from harvest.scraping import run_crawl
from harvest.storage.raw import FileRawStore

DAY = dt.date(2026, 3, 1)
LATIN1 = "text/html; charset=iso-8859-1"
# the site's truth: (category, page) -> [(id, name, city, price)]
CARDS = {
    ("K%F6ln", 1): [("1", "Stuhl", "Köln", "12"), ("2", "Tisch", "Köln", "40")],
    ("K%F6ln", 2): [("3", "Bänkchen", "Köln", "7")],
    ("M%FCnchen", 1): [("4", "Schrank", "München", "99")],
}


def _card(item: tuple[str, str, str, str]) -> str:
    ident, name, city, price = item
    return (
        f'<div class="card" data-id="{ident}"><b class="name">{name}</b>'
        f'<i class="city">{city}</i><span class="price">{price} €</span></div>'
    )


def pages(base: str) -> dict[str, tuple[str, bytes]]:
    def latin1(body: str) -> tuple[str, bytes]:
        return LATIN1, f"<html><body>{body}</body></html>".encode("latin-1", "xmlcharrefreplace")

    out = {"/": latin1('<ul class="cats"><a href="list?stadt=Köln">K</a>'
                       '<a href="list?stadt=München">M</a></ul>')}  # fmt: skip
    for (city, page), items in CARDS.items():
        nxt = f'<a class="next" href="list?stadt={city}&page={page + 1}">next</a>'
        more = (city, page + 1) in CARDS
        out[f"/list?stadt={city}&page={page}"] = latin1(
            "".join(_card(i) for i in items) + (nxt if more else "")
        )
        if page == 1:
            out[f"/list?stadt={city}"] = out[f"/list?stadt={city}&page={page}"]
    for items in CARDS.values():
        for ident, name, city, price in items:
            out[f"/item/{ident}"] = latin1(f"<h1>{name}</h1><p>in {city}</p><p>{price} €</p>")
    urls = "".join(f"<url><loc>{base}/item/{i}</loc></url>" for i in ("1", "3", "4"))
    out["/sitemap.xml"] = ("application/xml", (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/'
        f'schemas/sitemap/0.9"><sitemap><loc>{base}/items.xml</loc></sitemap></sitemapindex>'
    ).encode())  # fmt: skip
    out["/items.xml"] = ("application/xml", (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
        f'sitemap/0.9">{urls}<url><loc>{base}/about</loc></url></urlset>'
    ).encode())  # fmt: skip
    return {_sorted_query(path): page for path, page in out.items()}


def _sorted_query(path: str) -> str:
    """The path with its query parameters sorted (the crawl canonicalises query order)."""
    path, _, query = path.partition("?")
    return path + ("?" + "&".join(sorted(query.split("&"))) if query else "")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    content = pages(base)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = content.get(_sorted_query(self.path))
            status, (kind, body) = (200, page) if page else (404, ("text/html", b"<p>no</p>"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()


def crawl(spec: SourceSpec, base: str, home: Path) -> tuple[Any, Any]:
    settings = Settings.from_env({"HARVEST_HOME": str(home)})
    result = run_crawl(spec, DAY, settings, base_url=base)
    docs = FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition(
        spec.name, DAY
    )
    return result, parse_records(extract_records(docs, spec), spec)


FAST = {"concurrency_per_domain": 4, "download_delay_seconds": 0, "autothrottle": False}


def test_two_levels_of_latin1_pages_with_cards_as_items(site: str, tmp_path: Path) -> None:
    spec = SourceSpec.model_validate({
        "name": "fixture_cards",
        "base_url": site,
        "start_urls": ["{base_url}/"],
        "levels": [
            {"name": "cities", "links": "ul.cats a"},
            {"name": "lists", "cards": "div.card", "next_page": "a.next"},
        ],
        "detail": {"key": "id", "fields": {
            "id": {"from": "card", "css": "::attr(data-id)", "required": True},
            "name": {"from": "card", "css": "b.name"},
            "city": {"from": "card", "css": "i.city"},
            "price": {"from": "card", "css": "span.price", "kind": "price"},
        }},
        "crawl": FAST,
    })  # fmt: skip
    result, parsed = crawl(spec, site, tmp_path)
    assert result.failed_pages == 0 and result.empty_levels == 0
    truth = {i[0]: i for items in CARDS.values() for i in items}
    assert result.item_pages == len(truth)
    rows = parsed.frame.set_index("id")
    assert sorted(rows.index) == sorted(truth)
    for ident, (_, name, city, price) in truth.items():
        assert (rows.loc[ident, "name"], rows.loc[ident, "city"]) == (name, city)
        assert (rows.loc[ident, "price"], rows.loc[ident, "price_currency"]) == (
            float(price),
            "EUR",
        )
    assert parsed.issues.empty


def test_a_sitemap_index_leads_to_the_item_pages_it_follows(site: str, tmp_path: Path) -> None:
    spec = SourceSpec.model_validate({
        "name": "fixture_sitemap",
        "base_url": site,
        "sitemap": {"urls": ["{base_url}/sitemap.xml"], "follow": ["/item/"]},
        "detail": {"key": "id", "fields": {
            "id": {"from": "url", "regex": r"/item/(\d+)$", "required": True},
            "name": {"css": "h1"},
            "city": {"css": "p", "regex": r"^in (.+)$"},
        }},
        "crawl": FAST,
    })  # fmt: skip
    result, parsed = crawl(spec, site, tmp_path)
    assert result.failed_pages == 0
    rows = parsed.frame.set_index("id")
    assert sorted(rows.index) == ["1", "3", "4"]  # /about is not followed
    assert (rows.loc["3", "name"], rows.loc["3", "city"]) == ("Bänkchen", "Köln")
    assert rows.loc["4", "city"] == "München"
