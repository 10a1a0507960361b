"""A fixture site of the page shapes that need a browser, a form or a login (issue 17, shapes 6
and 7), and of pages a spec cannot read, served over real HTTP on 127.0.0.1.

Written by us in the style of :mod:`shape_site` (``ThreadingHTTPServer`` on a background
thread), never the internet. Each shape carries its truth (:data:`TRUTH`, records by shape).

- ``/scroll/``: infinite scroll: 10 cards, then 10 more from ``/scroll/more?offset=N`` each
  time the page is scrolled to the bottom, 45 in all. ``/more/``: a "load more" button that
  adds 8 cards per click, 30 in all, then disappears. ``/endless/``: a feed that never ends.
- ``/search``: a search form with hidden fields (``__VIEWSTATE``, ``csrf_token``) a POST must
  send back; results are cards, per category.
- ``/login`` and ``/account/``: a login form (with a CSRF field), a session cookie, order
  pages only a logged-in session sees (else a redirect to ``/login``).
- ``/private/``: forbidden by robots.txt; ``/feed.json`` (``application/json``) and ``/feed``
  (JSON served as ``text/html``); ``/members/``: a login wall served as a 200.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HTML = "text/html; charset=utf-8"
JSON = "application/json"
Page = tuple[int, str, bytes, dict[str, str]]

USERNAME, PASSWORD = "ada", "correct horse battery staple"


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Page:
    page = f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"
    return status, HTML, page.encode(), headers or {}


def _card(ident: str, title: str) -> str:
    return f'<div class="card" data-id="{ident}"><h3>{title}</h3></div>'


# -- 6. infinite scroll and "load more" -------------------------------------------------------
SCROLL = [(f"s{n:02d}", f"Scrolled {n}") for n in range(1, 46)]  # 45 cards, 10 per batch
SCROLL_BATCH = 10
MORE = [(f"m{n:02d}", f"Loaded {n}") for n in range(1, 31)]  # 30 cards, 8 per click
MORE_BATCH = 8
ENDLESS_BATCH = 5

# the page appends the batch its script fetches; `scrolled` fires on reaching the bottom
SCROLL_PAGE = """
<style>.card {{ height: 150px; }}</style>
<div id="feed">{cards}</div><div id="end" style="height:50px"></div>
<script>
let offset = {offset}, loading = false, done = false;
const feed = document.getElementById('feed');
async function more() {{
  if (loading || done) return;
  loading = true;
  const r = await fetch('{more}?offset=' + offset);
  const batch = await r.json();
  for (const c of batch.cards) {{
    const d = document.createElement('div');
    d.className = 'card'; d.dataset.id = c.id; d.innerHTML = '<h3>' + c.title + '</h3>';
    feed.appendChild(d);
  }}
  offset += batch.cards.length; done = !batch.more; loading = false;
}}
window.addEventListener('scroll', () => {{
  if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 10) more();
}});
</script>
"""
MORE_PAGE = """
<div id="feed">{cards}</div><button class="more" type="button">Load more</button>
<script>
let offset = {offset};
const feed = document.getElementById('feed'), button = document.querySelector('button.more');
button.addEventListener('click', async () => {{
  const r = await fetch('/more/batch?offset=' + offset);
  const batch = await r.json();
  for (const c of batch.cards) {{
    const d = document.createElement('div');
    d.className = 'card'; d.dataset.id = c.id; d.innerHTML = '<h3>' + c.title + '</h3>';
    feed.appendChild(d);
  }}
  offset += batch.cards.length;
  if (!batch.more) button.remove();
}});
</script>
"""


def _batch(items: list[tuple[str, str]], offset: int, size: int) -> Page:
    chunk = items[offset : offset + size]
    data = {"cards": [{"id": i, "title": t} for i, t in chunk], "more": offset + size < len(items)}
    return 200, JSON, json.dumps(data).encode(), {}


def _endless(offset: int) -> list[tuple[str, str]]:
    return [(f"e{n:04d}", f"Endless {n}") for n in range(offset, offset + ENDLESS_BATCH)]


def _scroll(path: str, query: dict[str, list[str]]) -> Page | None:
    offset = int(query.get("offset", ["0"])[0])
    if path == "/scroll/":
        cards = "".join(_card(i, t) for i, t in SCROLL[:SCROLL_BATCH])
        return _html(SCROLL_PAGE.format(cards=cards, offset=SCROLL_BATCH, more="/scroll/more"))
    if path == "/scroll/more":
        return _batch(SCROLL, offset, SCROLL_BATCH)
    if path == "/more/":
        cards = "".join(_card(i, t) for i, t in MORE[:MORE_BATCH])
        return _html(MORE_PAGE.format(cards=cards, offset=MORE_BATCH))
    if path == "/more/batch":
        return _batch(MORE, offset, MORE_BATCH)
    if path == "/endless/":
        cards = "".join(_card(i, t) for i, t in _endless(0))
        return _html(SCROLL_PAGE.format(cards=cards, offset=ENDLESS_BATCH, more="/endless/more"))
    if path == "/endless/more":
        data = {"cards": [{"id": i, "title": t} for i, t in _endless(offset)], "more": True}
        return 200, JSON, json.dumps(data).encode(), {}
    return None


# -- 7. forms and login -----------------------------------------------------------------------
CATEGORIES = {
    "tools": [(f"T{n}", f"Tool {n}") for n in range(1, 8)],  # 7
    "garden": [(f"G{n}", f"Garden thing {n}") for n in range(1, 5)],  # 4
    "kitchen": [(f"K{n}", f"Kitchen thing {n}") for n in range(1, 4)],  # 3
}
VIEWSTATE = "dDwtMTI3OTMzNDM4NDs7Pg=="  # what an ASP.NET page round-trips
ORDERS = [(f"o{n}", f"Order {n}", f"{n * 11}.50") for n in range(1, 13)]  # 12 orders
ORDERS_PER_PAGE = 5


def csrf(session: str) -> str:
    return hashlib.sha256(f"csrf:{session}".encode()).hexdigest()[:16]


SEARCH_FORM = """
<form id="search" method="post" action="/search">
  <input type="hidden" name="__VIEWSTATE" value="{viewstate}">
  <input type="hidden" name="csrf_token" value="{csrf}">
  <input type="text" name="q" value="">
  <select name="category"><option value="">any</option>{options}</select>
  <input type="submit" name="go" value="Search">
</form>
"""
LOGIN_FORM = """
<form id="login" method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{csrf}">
  <input type="text" name="username"><input type="password" name="password">
  <input type="submit" value="Sign in">
</form>{error}
"""


# -- 3. pages a spec cannot read --------------------------------------------------------------
FEED = {"items": [{"id": n, "title": f"Feed item {n}"} for n in range(1, 4)]}

TRUTH: dict[str, int] = {
    "scroll": len(SCROLL),  # 45
    "more": len(MORE),  # 30
    "search_tools": len(CATEGORIES["tools"]),  # 7
    "search_all": sum(len(v) for v in CATEGORIES.values()),  # 14
    "orders": len(ORDERS),  # 12
}
"""Records the site shows, by shape."""


class BrowserSite:
    """The shapes served on 127.0.0.1 (a free port) until :meth:`stop`; counts requests per
    path (``"POST /search"`` for a post) and keeps the form posts it received."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        self.sessions: set[str] = set()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, page: Page | None) -> None:
                status, kind, body, headers = page or _html("<p>not found</p>", 404)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _session(self) -> str:
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                return cookie["sid"].value if "sid" in cookie else ""

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                key = parts.path
                site.requests[key] = site.requests.get(key, 0) + 1
                self._answer(site.get(parts.path, parse_qs(parts.query), self._session()))

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                key = f"POST {parts.path}"
                site.requests[key] = site.requests.get(key, 0) + 1
                site.posts.append((parts.path, form))
                self._answer(site.post(parts.path, form, self._session()))

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- GET ---------------------------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]], session: str) -> Page | None:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nDisallow: /private/\n", {}
        if path == "/feed.json":
            return 200, JSON, json.dumps(FEED).encode(), {}
        if path == "/feed":  # JSON, served as HTML
            return 200, HTML, json.dumps(FEED).encode(), {}
        if path == "/members/":  # a login wall served as a 200
            return _html(LOGIN_FORM.format(csrf="x", error=""))
        if path == "/private/list":
            return _html(_card("p1", "Private"))
        if path == "/search":
            options = "".join(f'<option value="{c}">{c}</option>' for c in CATEGORIES)
            form = SEARCH_FORM.format(viewstate=VIEWSTATE, csrf=csrf("search"), options=options)
            return _html(form)
        if path == "/login":
            return _html(LOGIN_FORM.format(csrf=csrf("login"), error=""))
        if path.startswith("/account/"):
            return self._account(path, query, session)
        routes: list[Callable[[], Page | None]] = [lambda: _scroll(path, query)]
        for route in routes:
            page = route()
            if page is not None:
                return page
        return None

    def _account(self, path: str, query: dict[str, list[str]], session: str) -> Page | None:
        if session not in self.sessions:  # not logged in: to the login page
            return _html("", 302, {"Location": f"/login?next={path}"})
        if path == "/account/":
            return _html('<h1>Welcome back</h1><a href="/account/orders/">Your orders</a>')
        if path == "/account/orders/":
            page = int(query.get("page", ["1"])[0])
            chunk = ORDERS[(page - 1) * ORDERS_PER_PAGE : page * ORDERS_PER_PAGE]
            links = "".join(
                f'<li class="order"><a href="/account/orders/{o}">{t}</a></li>' for o, t, _ in chunk
            )
            more = page * ORDERS_PER_PAGE < len(ORDERS)
            nxt = (
                f'<a class="next" href="/account/orders/?page={page + 1}">next</a>' if more else ""
            )
            return _html(f"<ul>{links}</ul>{nxt}")
        for ident, title, total in ORDERS:
            if path == f"/account/orders/{ident}":
                return _html(f'<h1 data-id="{ident}">{title}</h1><p class="total">{total} EUR</p>')
        return None

    # -- POST --------------------------------------------------------------------------------

    def post(self, path: str, form: dict[str, list[str]], session: str) -> Page | None:
        def value(name: str) -> str:
            return (form.get(name) or [""])[0]

        if path == "/search":
            if value("__VIEWSTATE") != VIEWSTATE or value("csrf_token") != csrf("search"):
                return _html("<p class='error'>Your session has expired.</p>", 400)
            chosen = value("category")
            found = [
                (i, t) for c, items in CATEGORIES.items() if chosen in ("", c) for i, t in items
            ]
            return _html("".join(_card(i, t) for i, t in found) or "<p>No results.</p>")
        if path == "/login":
            if value("csrf_token") != csrf("login"):
                return _html("<p class='error'>Bad CSRF token.</p>", 403)
            if (value("username"), value("password")) != (USERNAME, PASSWORD):
                error = '<p class="error">Wrong username or password.</p>'
                return _html(LOGIN_FORM.format(csrf=csrf("login"), error=error))
            sid = hashlib.sha256(f"{len(self.sessions)}".encode()).hexdigest()[:12]
            self.sessions.add(sid)
            headers = {"Set-Cookie": f"sid={sid}; Path=/; HttpOnly", "Location": "/account/"}
            return _html("", 302, headers)
        return None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
