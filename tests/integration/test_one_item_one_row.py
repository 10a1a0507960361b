"""One item, one row (issue 18), through the real pipeline on PostgreSQL and SQLite: a listing
reachable under two URLs (``/item/1/`` redirecting to ``/item/1``, both linked) is one record,
identified by where it ended and its key, so it passes the unique-key check and gets its row."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.pipeline import run_partition
from tests.integration.test_history_migrations import DAYS

ITEMS = {"1": "€ 100", "2": "€ 200", "3": "€ 300"}
LINKS = ["/item/1/", "/item/1", "/item/2", "/item/3/"]  # 1 under two URLs, 3 only redirected


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path
        if path == "/robots.txt":
            self._send(200, "text/plain", b"")
        elif path == "/list/":
            links = "".join(f'<a href="{href}">{href}</a>' for href in LINKS)
            self._send(
                200, "text/html; charset=utf-8", f"<html><body>{links}</body></html>".encode()
            )
        elif path.startswith("/item/") and path.endswith("/"):
            self.send_response(301)
            self.send_header("Location", path.rstrip("/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/item/") and path.removeprefix("/item/") in ITEMS:
            ref = path.removeprefix("/item/")
            body = f'<html><body><h1 class="ref">{ref}</h1><p class="price">{ITEMS[ref]}</p></body></html>'
            self._send(200, "text/html; charset=utf-8", body.encode())
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_listing_under_two_urls_gets_exactly_one_row(
    site: str, warehouse: Any, tmp_path: Path
) -> None:
    spec = SourceSpec.model_validate(
        {
            "name": "redirects",
            "base_url": site,
            "start_urls": ["{base_url}/list/"],
            "index": {"detail_links": "a"},
            "detail": {
                "key": "ref",
                "fields": {
                    "ref": {"css": "h1.ref", "required": True},
                    "price": {"css": "p.price", "kind": "price"},
                },
            },
            "crawl": {"download_delay_seconds": 0},
        }
    )
    url = warehouse.engine.url.render_as_string(hide_password=False)
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path), "HARVEST_WAREHOUSE_URL": url})
    night = dt.datetime.combine(DAYS[0] + dt.timedelta(days=1), dt.time(3), dt.UTC)
    reports = run_partition(spec, DAYS[0], settings, base_url=site, now=night)
    assert reports["scrape"]["item_pages"] == 4  # four links, four item pages fetched
    validate = reports["validate"]
    assert (validate["scraped"], validate["valid"], validate["quarantined"]) == (3, 3, 0)
    merged = [w for w in validate["warnings"] if "ended at the page of another URL" in w]
    assert (
        len(merged) == 1
        and merged[0].startswith("1 item page(s)")
        and f"{site}/item/1/" in merged[0]
    )
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT record_key, url, price FROM processed_redirects ORDER BY record_key")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("1", f"{spec.base_url}/item/1", 100.0),
        ("2", f"{spec.base_url}/item/2", 200.0),
        ("3", f"{spec.base_url}/item/3", 300.0),  # identified by where it ended
    ]
