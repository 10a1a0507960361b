"""A small hostile site on localhost, with one switch per way a crawler can lose a page.

Each switch adds one detail link to the index page, copying a behaviour from public crawler bug
reports: a redirect to a login page, to itself, in a two-page loop, to another host or to a
page already crawled (also by meta refresh); a login wall served as a 200; a gzip body cut
short; an empty 200; a JSON document; a page the test spider fails to extract; a script that
navigates to another host; and slow pages (for deadlines). Two pages are always good. The
server counts requests per path.

``localhost`` and ``127.0.0.1`` are different hosts to a crawler started at ``127.0.0.1``, so
"another host" stays on this machine.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harvest.config.spec import (
    CrawlSpec,
    DetailSpec,
    FieldSpec,
    IndexSpec,
    JavaScriptSpec,
    SourceSpec,
)

GOOD_PAGES = ("/item/1", "/item/2")
LOGIN_FORM = '<form id="login" action="/login"><input name="user"></form>'


@dataclass
class Switches:
    """Which hostile pages the index links to (all off: two good pages only)."""

    login_redirect: bool = False  # /item/members -> 302 /login?next=...
    login_wall: bool = False  # /item/wall: 200 with a login form
    self_redirect: bool = False  # /item/self -> 302 /item/self
    redirect_loop: bool = False  # /item/loop-a -> /item/loop-b -> /item/loop-a
    offsite_redirect: bool = False  # /item/away -> 302 http://localhost:PORT/elsewhere
    redirect_to_seen: bool = False  # /item/moved -> 301 /item/1 (a page crawled anyway)
    refresh_to_seen: bool = False  # /item/refresh: <meta http-equiv=refresh> to /item/2
    gzip_cut: bool = False  # /item/gzip: gzip body cut in half, Content-Length matching
    empty_body: bool = False  # /item/empty: 200 text/html with no body
    json_page: bool = False  # /item/data.json: application/json
    extraction_error: bool = False  # /item/boom: good HTML that the test spider fails on
    js_away: bool = False  # /item/js-away: a script moves the browser to another host
    slow_pages: int = 0  # /slow/N, each answered after slow_seconds
    slow_seconds: float = 1.0

    @classmethod
    def everything(cls) -> Switches:
        """Every loss switch on (not JavaScript, not slow pages)."""
        on = {f.name: True for f in fields(cls) if f.type in ("bool", bool)}
        return cls(**{**on, "js_away": False})


LINKS = {
    "login_redirect": "/item/members",
    "login_wall": "/item/wall",
    "self_redirect": "/item/self",
    "redirect_loop": "/item/loop-a",
    "offsite_redirect": "/item/away",
    "redirect_to_seen": "/item/moved",
    "refresh_to_seen": "/item/refresh",
    "gzip_cut": "/item/gzip",
    "empty_body": "/item/empty",
    "json_page": "/item/data.json",
    "extraction_error": "/item/boom",
    "js_away": "/item/js-away",
}


def _page(title: str, item_id: str, extra: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f'<h1>{title}</h1><span class="id">{item_id}</span>{extra}'
        f"<p>{'filler text ' * 200}</p></body></html>"
    ).encode()


class HostileSite:
    """The site on 127.0.0.1 (a free port) in a thread; use as a context manager."""

    def __init__(self, switches: Switches | None = None) -> None:
        self.switches = switches or Switches()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with site._lock:
                    site.requests[self.path.split("?")[0]] += 1
                site.route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_host(self) -> str:
        return f"http://localhost:{self.port}"

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def index_links(self) -> list[str]:
        on = [path for name, path in LINKS.items() if getattr(self.switches, name)]
        slow = [f"/slow/{n}" for n in range(self.switches.slow_pages)]
        return [*GOOD_PAGES, *on, *slow]

    # -- routing --------------------------------------------------------------------------

    def route(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        if path == "/robots.txt":
            return self._send(h, 200, b"User-agent: *\nAllow: /\n", "text/plain")
        if path == "/index":
            links = "".join(f'<a class="item" href="{p}">{p}</a>' for p in self.index_links())
            return self._send(h, 200, _page("Index", "index", links))
        redirects = {
            "/item/members": "/login?next=/item/members",
            "/item/self": "/item/self",
            "/item/loop-a": "/item/loop-b",
            "/item/loop-b": "/item/loop-a",
            "/item/away": f"{self.other_host}/elsewhere",
            "/item/moved": "/item/1",
        }
        if path in redirects:
            return self._send(
                h, 301 if path == "/item/moved" else 302, b"", location=redirects[path]
            )
        if path == "/item/refresh":
            refresh = '<meta http-equiv="refresh" content="0; url=/item/2">'
            return self._send(h, 200, f"<html><head>{refresh}</head><body></body></html>".encode())
        if path == "/login":
            return self._send(h, 200, _page("Sign in", "login", LOGIN_FORM))
        if path == "/item/wall":
            return self._send(h, 200, _page("Members only", "wall", LOGIN_FORM))
        if path == "/item/gzip":
            packed = gzip.compress(_page("Cut short", "gzip"))
            return self._send(h, 200, packed[: len(packed) // 2], encoding="gzip")
        if path == "/item/empty":
            return self._send(h, 200, b"")
        if path == "/item/data.json":
            return self._send(h, 200, b'{"id": "json"}', "application/json")
        if path == "/item/js-away":
            script = f'<script>window.location.replace("{self.other_host}/elsewhere");</script>'
            return self._send(h, 200, _page("Moving", "js-away", script))
        if path == "/elsewhere":
            return self._send(h, 200, _page("Another site", "elsewhere"))
        if path.startswith("/slow/"):
            time.sleep(self.switches.slow_seconds)
        if path.startswith(("/item/", "/slow/")):
            name = path.rsplit("/", 1)[-1]
            return self._send(h, 200, _page(f"Item {name}", name))
        return self._send(h, 404, b"not here", "text/plain")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        *,
        location: str | None = None,
        encoding: str | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        if location:
            h.send_header("Location", location)
        if encoding:
            h.send_header("Content-Encoding", encoding)
        h.end_headers()
        h.wfile.write(body)


def hostile_spec(site: HostileSite, spider: str | None = None, **crawl: Any) -> SourceSpec:
    """A source spec for the site: its login URL and form are blocked, JS pages by URL. The
    site is our own test server, so the spec lowers the polite defaults (as the demo spec does):
    these tests are about what happens to each page, not about pacing."""
    settings: dict[str, Any] = {
        "concurrency_per_domain": 8,
        "download_delay_seconds": 0,
        "blocked_url_patterns": [r"/login\b"],
        "blocked_selector": "form#login",
        "autothrottle": False,
        "retries": 1,
        "download_timeout_seconds": 10,
        **crawl,
    }
    return SourceSpec(
        name="hostile",
        base_url=site.base_url,
        start_urls=["{base_url}/index"],
        index=IndexSpec(detail_links="a.item"),
        detail=DetailSpec(
            key="item_id",
            fields={"item_id": FieldSpec(css=".id::text"), "title": FieldSpec(css="h1::text")},
        ),
        javascript=JavaScriptSpec(url_patterns=["/item/js-away"]),
        crawl=CrawlSpec(**settings),
        spider=spider,
    )
