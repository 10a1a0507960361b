"""A real HTTP server for the demo site, with faults on demand and request counts.

:class:`SiteApp` routes a request to a response (no sockets, easy to test); :class:`DemoSite`
serves it with the standard library's ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, daemon
threads) on a background thread. Faults (``faults``) are deterministic: whether a request fails,
is slow or is truncated depends only on the site seed, the URL and how many times that URL was
asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from harvest_demo.app import Response, SiteApp
from harvest_demo.catalogue import CatalogueConfig
from harvest_demo.faults import Faults
from harvest_demo.generator import SiteConfig

__all__ = ["DemoSite", "Faults", "Response", "SiteApp"]

log = logging.getLogger(__name__)


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
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.app = SiteApp(config, faults, catalogue=catalogue, day=day, today=today)
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
