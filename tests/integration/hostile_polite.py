"""A small site on localhost that tests a crawler's manners: one switch per behaviour.

``/start`` is an index page linking to ``/item/1`` .. ``/item/N`` (``a.item``) and, when a trap is
switched on, to a next page (``a[rel=next]``); ``/item/<i>`` is a detail page (``<h1>``).
Every request is logged with its monotonic time, so a test can measure the gaps between them.
Without switches the site is friendly: robots.txt allows everything, every page answers 200.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit


@dataclass
class Switches:
    """What the site does; each field switches on one hostile (or demanding) behaviour."""

    items: int = 4  # detail pages linked from /start
    crawl_delay: float | None = None  # robots.txt: Crawl-delay for every user agent
    disallow: list[str] = field(default_factory=list)  # robots.txt: Disallow lines
    robots_status: int = 200  # robots.txt answers this status (503, 404, ...)
    robots_retry_after: str | None = None  # ... with this Retry-After header
    robots_drop: bool = False  # robots.txt: close the connection without an answer
    robots_redirects: int = 0  # robots.txt is reached through this many redirects
    robots_redirect_host: str = "127.0.0.1"  # ... each to this host (same server)
    throttled_item: int = 1  # /item/<this> ...
    throttled_status: int | None = None  # ... answers this (429 or 503) ...
    throttled_times: int = 0  # ... this many times before 200
    retry_after: str | None = None  # ... with Retry-After: seconds, or "date+N" (HTTP date)
    item_bytes: dict[int, int] = field(default_factory=dict)  # /item/<i> padded to N bytes
    unsized_items: bool = False  # padded items are sent without Content-Length
    gzip_bomb_bytes: int = 0  # /item/1 is gzip that expands to this many bytes
    endless: bool = False  # /start leads to an endless next-page chain /chain/1, /chain/2...
    session_ids: bool = False  # every link carries a new sessionid; /start links to itself


@dataclass
class Hit:
    """One request the site received."""

    at: float  # time.monotonic()
    path: str  # path and query
    user_agent: str


class HostileSite:
    """The site, served in a thread on 127.0.0.1 (reachable as ``localhost`` too)."""

    def __init__(self, switches: Switches | None = None) -> None:
        self.switches = switches or Switches()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._sessions = itertools.count(1)
        self._throttled = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what the tests read ------------------------------------------------------------------

    def requests(self, prefix: str = "") -> list[Hit]:
        """The requests whose path starts with ``prefix``, in arrival order."""
        with self._lock:
            return [hit for hit in self.hits if hit.path.startswith(prefix)]

    def pages(self) -> list[Hit]:
        """Requests for pages (everything but robots.txt and its redirects)."""
        return [hit for hit in self.requests() if not hit.path.startswith("/robots")]

    @staticmethod
    def gaps(hits: list[Hit]) -> list[float]:
        """Seconds between consecutive requests."""
        return [later.at - earlier.at for earlier, later in itertools.pairwise(hits)]

    # -- serving ------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site._lock:
                    site.hits.append(
                        Hit(time.monotonic(), self.path, self.headers.get("User-Agent", ""))
                    )
                answer = site._answer(self.path)
                if answer is None:  # drop the connection: a network error for the client
                    self.close_connection = True
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and not site.switches.unsized_items:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _answer(self, target: str) -> tuple[int, dict[str, str], bytes] | None:
        path = urlsplit(target).path
        sw = self.switches
        if path == "/robots.txt" or path.startswith("/robots-hop/"):
            return self._robots(path)
        if path == "/start":
            links = "".join(
                f'<a class="item" href="{self._link(f"/item/{i}")}">{i}</a>'
                for i in range(1, sw.items + 1)
            )
            if sw.endless:
                links += f'<a rel="next" href="{self._link("/chain/1")}">next</a>'
            elif sw.session_ids:
                links += f'<a rel="next" href="{self._link("/start")}">next</a>'
            return self._html(f"<h1>start</h1>{links}")
        if path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            return self._html(f'<h1>chain {n}</h1><a rel="next" href="/chain/{n + 1}">next</a>')
        if path.startswith("/item/"):
            return self._item(int(path.rsplit("/", 1)[1]))
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _link(self, path: str) -> str:
        if self.switches.session_ids:
            return f"{path}?sessionid=S{next(self._sessions):06d}"
        return path

    def _robots(self, path: str) -> tuple[int, dict[str, str], bytes] | None:
        sw = self.switches
        hop = int(path.rsplit("/", 1)[1]) if path.startswith("/robots-hop/") else 0
        if hop < sw.robots_redirects:
            location = f"http://{sw.robots_redirect_host}:{self.port}/robots-hop/{hop + 1}"
            return 302, {"Location": location}, b""
        if sw.robots_drop:
            return None
        headers = {"Content-Type": "text/plain"}
        if sw.robots_status != 200:
            if sw.robots_retry_after is not None:
                headers["Retry-After"] = self._retry_after(sw.robots_retry_after)
            return sw.robots_status, headers, b"unavailable"
        lines = ["User-agent: *", *(f"Disallow: {p}" for p in sw.disallow)]
        if sw.crawl_delay is not None:
            lines.append(f"Crawl-delay: {sw.crawl_delay:g}")
        return 200, headers, ("\n".join(lines) + "\n").encode()

    def _item(self, i: int) -> tuple[int, dict[str, str], bytes]:
        sw = self.switches
        if i == sw.throttled_item and sw.throttled_status is not None:
            with self._lock:
                throttle = self._throttled < sw.throttled_times
                self._throttled += throttle
            if throttle:
                headers = {"Content-Type": "text/plain"}
                if sw.retry_after is not None:
                    headers["Retry-After"] = self._retry_after(sw.retry_after)
                return sw.throttled_status, headers, b"slow down"
        if i == 1 and sw.gzip_bomb_bytes:
            page = b"<html><body><h1>Item 1</h1>" + b" " * sw.gzip_bomb_bytes
            return (
                200,
                {"Content-Type": "text/html", "Content-Encoding": "gzip"},
                gzip.compress(page, compresslevel=9),
            )
        html = f"<html><body><h1>Item {i}</h1>"
        padding = max(0, sw.item_bytes.get(i, 0) - len(html))
        return self._html(html + " " * padding)

    @staticmethod
    def _html(body: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()

    @staticmethod
    def _retry_after(value: str) -> str:
        if value.startswith("date+"):
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(value[5:]))
            return email.utils.format_datetime(when, usegmt=True)
        return value
