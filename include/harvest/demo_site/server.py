"""A real HTTP server for the demo site, with faults on demand and request counts.

:class:`SiteApp` routes a request to a response (no sockets, easy to test); :class:`DemoSite`
serves it with the standard library's ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, daemon
threads) on a background thread. Faults are deterministic: whether a request fails, is slow or
is truncated depends only on the site seed, the URL and how many times that URL was asked for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

from harvest.demo_site import catalogue_pages, pages
from harvest.demo_site.catalogue import CatalogueConfig
from harvest.demo_site.catalogue_truth import DEFAULT_BASE_URL
from harvest.demo_site.generator import SiteConfig

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Faults:
    """Faults the server injects into site pages (never into ``/robots.txt`` or ``/_control``).

    - ``error_rate``: probability that a request is answered 503;
    - ``fail_first``: each URL (path and query) gets 503 on its first N requests, then succeeds;
    - ``slow_rate`` / ``slow_seconds``: probability of sleeping that long before answering;
    - ``truncate_rate``: probability that an HTML body is cut half-way (Content-Length matches);
    - ``layout_drift``: detail pages say ``data-attr`` instead of ``data-field``.
    """

    error_rate: float = 0.0
    fail_first: int = 0
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    truncate_rate: float = 0.0
    layout_drift: bool = False

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "truncate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1], got {value}")
        if self.fail_first < 0:
            raise ValueError(f"Faults.fail_first must be >= 0, got {self.fail_first}")
        if self.slow_seconds < 0:
            raise ValueError(f"Faults.slow_seconds must be >= 0, got {self.slow_seconds}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from JSON-like data; keys left out take their defaults, unknown keys fail."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = type(getattr(cls(), name))
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"fault {name} must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fault {name} must be a number, got {value!r}")
            elif kind is int and value != int(value):
                raise ValueError(f"fault {name} must be a whole number, got {value!r}")
            values[name] = kind(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


def _draw(seed: int, kind: str, target: str, attempt: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, fault kind, URL, attempt number)."""
    digest = hashlib.blake2b(f"{seed}|{kind}|{target}|{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _json(status: int, data: Any) -> Response:
    return Response(status, json.dumps(data, sort_keys=True).encode(), JSON)


def _not_found(message: str) -> Response:
    return Response(404, pages.render_message(404, message))


def _parse_day(text: str) -> dt.date | None:
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class SiteApp:
    """Routing, rendering, faults and request counts of the demo site, without sockets."""

    def __init__(
        self,
        config: SiteConfig | None = None,
        faults: Faults | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], dt.date] | None = None,
        catalogue: CatalogueConfig | None = None,
        day: dt.date | None = None,
    ) -> None:
        self.config = config or SiteConfig()
        self.catalogue = catalogue or CatalogueConfig(seed=self.config.seed)
        self._pinned_day = day
        self._faults = faults or Faults()
        self._sleep = sleep
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._paths: Counter[str] = Counter()
        self._urls: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._total = 0

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Switch faults; ``fail_first`` counts requests from now on."""
        with self._lock:
            self._faults = faults
            self._attempts.clear()

    def day(self) -> dt.date:
        """The site's day: the catalogue's state and the home page's dates (pinned, or today)."""
        with self._lock:
            pinned = self._pinned_day
        return pinned if pinned is not None else self._today()

    def set_day(self, day: dt.date | None) -> None:
        """Serve ``day`` from now on (``None``: follow the clock again)."""
        with self._lock:
            self._pinned_day = day

    def stats(self) -> dict[str, Any]:
        """Requests so far (``/_control`` excluded): total, per path, per URL, per status."""
        with self._lock:
            return {
                "total": self._total,
                "paths": dict(self._paths),
                "urls": dict(self._urls),
                "statuses": dict(self._statuses),
            }

    def reset_stats(self) -> None:
        """Zero the request counts (and the per-URL attempt counts ``fail_first`` uses)."""
        with self._lock:
            self._total = 0
            self._paths.clear()
            self._urls.clear()
            self._statuses.clear()
            self._attempts.clear()

    def handle(
        self, method: str, target: str, body: bytes = b"", host: str | None = None
    ) -> Response:
        """Answer one request for ``target`` (path and query, as sent on the request line);
        ``host`` is its Host header (absolute URLs in robots.txt and the sitemap)."""
        split = urlsplit(target)
        path = split.path
        if path.startswith("/_control/"):
            return self._control(method, path, body)
        with self._lock:
            self._attempts[target] += 1
            attempt = self._attempts[target]
            faults = self._faults
        base_url = f"http://{host}" if host else DEFAULT_BASE_URL
        response = self._site(method, path, split.query, target, attempt, faults, base_url)
        with self._lock:
            self._total += 1
            self._paths[path] += 1
            self._urls[target] += 1
            self._statuses[str(response.status)] += 1
        return response

    def _site(
        self,
        method: str,
        path: str,
        query: str,
        target: str,
        attempt: int,
        faults: Faults,
        base_url: str,
    ) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, pages.render_message(405, f"{method} is not allowed here"))
        if path == "/robots.txt":  # never faulty: a failed robots.txt would mean "allow all"
            sitemap = f"Sitemap: {base_url}{catalogue_pages.SITEMAP_PATH}\n"
            robots = pages.ROBOTS_TXT + (catalogue_pages.ROBOTS_LINES + sitemap).encode()
            return Response(200, robots, TEXT)
        seed = self.config.seed
        if (
            attempt <= faults.fail_first
            or _draw(seed, "error", target, attempt) < faults.error_rate
        ):
            return Response(
                503,
                pages.render_message(503, "Service temporarily unavailable, try again."),
                headers=(("Retry-After", "0"),),
            )
        if _draw(seed, "slow", target, attempt) < faults.slow_rate:
            self._sleep(faults.slow_seconds)
        if path == "/catalogue" or path.startswith("/catalogue/"):
            page = catalogue_pages.route(self.catalogue, self.day(), path, query, base_url)
            response = Response(page.status, page.body, page.content_type, page.headers)
        else:
            response = self._route(path, parse_qs(query), faults)
        if (
            response.status == 200
            and response.content_type == HTML
            and _draw(seed, "truncate", target, attempt) < faults.truncate_rate
        ):
            text = response.body.decode()
            response = dataclasses.replace(response, body=text[: len(text) // 2].encode())
        return response

    def _route(self, path: str, query: dict[str, list[str]], faults: Faults) -> Response:
        config = self.config
        if path in ("/", "/index.html"):
            return Response(200, pages.render_home(self.day()))
        if path.startswith("/listings/"):
            day = _parse_day(path.removeprefix("/listings/"))
            if day is None:
                return _not_found(f"No listings at {path}: expected /listings/YYYY-MM-DD.")
            raw_page = query.get("page", ["1"])[-1]
            page = int(raw_page) if raw_page.isdigit() else 0
            body = pages.render_index(config, day, page)
            if body is None:
                return _not_found(
                    f"No page {raw_page!r} of {day}: pages run from 1 to {config.pages_per_day}."
                )
            return Response(200, body)
        if path.startswith("/listing/"):
            listing_id = path.removeprefix("/listing/")
            body = pages.render_detail(config, listing_id, faults.layout_drift)
            if body is None:
                return _not_found(f"No listing {listing_id!r}.")
            return Response(200, body)
        if path == "/private/report":
            day = _parse_day(query.get("day", [""])[-1])
            if day is None:
                return _not_found("No report: expected ?day=YYYY-MM-DD.")
            return Response(200, pages.render_report(config, day))
        return _not_found(f"Nothing at {path}.")

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/_control/stats" and method in ("GET", "HEAD"):
            return _json(200, self.stats())
        if path == "/_control/reset-stats" and method == "POST":
            self.reset_stats()
            return _json(200, self.stats())
        if path == "/_control/day":
            return self._control_day(method, body)
        if path == "/_control/faults" and method in ("GET", "HEAD"):
            return _json(200, self.faults.to_dict())
        if path == "/_control/faults" and method == "POST":
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object of fault settings")
                faults = Faults.from_dict(data)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                return _json(400, {"error": f"bad faults: {exc}"})
            self.set_faults(faults)
            return _json(200, faults.to_dict())
        return _json(404, {"error": f"no control endpoint {method} {path}"})

    def _control_day(self, method: str, body: bytes) -> Response:
        """``GET``: the day served; ``POST {"date": "YYYY-MM-DD" | null}``: pin it (or unpin)."""
        if method == "POST":
            try:
                data = json.loads(body or b"{}")
                value = data.get("date") if isinstance(data, dict) else ""
                day = None if value is None else dt.date.fromisoformat(value)
            except (ValueError, TypeError) as exc:
                return _json(400, {"error": f'bad day: {exc}; expected {{"date": "YYYY-MM-DD"}}'})
            self.set_day(day)
        elif method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{method} /_control/day: use GET or POST"})
        with self._lock:
            pinned = self._pinned_day is not None
        return _json(200, {"date": self.day().isoformat(), "pinned": pinned})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SiteApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A client that hangs up mid-response (a crawler timing out) is normal here."""
        logging.getLogger(__name__).debug(
            "connection from %s ended early", client_address, exc_info=True
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server_version = "HarvestDemo/1.0"
    disable_nagle_algorithm = True
    timeout = 30  # seconds an idle keep-alive connection keeps its thread

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve("POST", self.rfile.read(length) if length > 0 else b"")

    def _serve(self, method: str, body: bytes = b"") -> None:
        app = cast(_Server, self.server).app
        response = app.handle(method, self.path, body, host=self.headers.get("Host"))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class DemoSite:
    """The demo site on a real socket, served from a background thread.

    >>> with DemoSite(SiteConfig(seed=1)) as site:  # doctest: +SKIP
    ...     urllib.request.urlopen(site.base_url + "/robots.txt")
    """

    def __init__(
        self,
        config: SiteConfig | None = None,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        catalogue: CatalogueConfig | None = None,
        day: dt.date | None = None,
    ) -> None:
        self.app = SiteApp(config, faults, catalogue=catalogue, day=day)
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SiteConfig:
        return self.app.config

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("DemoSite is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError(f"DemoSite is already running at {self.base_url}")
        self._server = _Server((self.host, self.port), self.app)
        return self._server

    def start(self) -> str:
        """Bind (port 0 picks a free port), serve in a daemon thread, return the base URL."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"demo-site-{self.base_url}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        server = self._bind()
        if on_ready is not None:
            on_ready(self.base_url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def set_faults(self, faults: Faults) -> None:
        self.app.set_faults(faults)

    def set_day(self, day: dt.date | None) -> None:
        """Serve the catalogue of ``day`` from now on (``None``: today, by the clock)."""
        self.app.set_day(day)

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def reset_stats(self) -> None:
        self.app.reset_stats()

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
