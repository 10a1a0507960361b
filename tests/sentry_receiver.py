"""A Sentry ingestion endpoint for tests: receives the SDK's envelopes and decodes the events.

The Sentry SDK sends ``POST /api/<project>/envelope/`` (brotli, gzip or plain): a JSON header line,
then items, each a JSON item header line and a payload (``length`` bytes when the header gives
it, else up to the next newline). Events are the ``"type": "event"`` items. A fake of Sentry's
server, not of the SDK: what is decoded is what Airflow's real integration sent.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def decode_envelope(body: bytes) -> list[dict[str, Any]]:
    """The items of one envelope as ``{"type": ..., "payload": <parsed JSON or bytes>}``."""
    _header, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        item_header_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_header_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload
        items.append({"type": item_header.get("type"), "payload": parsed})
    return items


class SentryReceiver:
    """``with SentryReceiver() as sentry:`` serves on 127.0.0.1; ``sentry.dsn`` for the SDK."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.requests = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # the SDK compresses with brotli when it is installed

                    body = brotli.decompress(body)
                received.requests += 1
                try:
                    items = decode_envelope(body)
                except ValueError as exc:
                    received.errors.append(f"{exc} ({encoding or 'plain'}): {body[:200]!r}")
                    items = []
                for item in items:
                    if item["type"] == "event":
                        received.events.append(item["payload"])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://harvestkey@127.0.0.1:{self._server.server_address[1]}/1"

    def __enter__(self) -> SentryReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for_event(self, timeout: float, **tags: str) -> dict[str, Any] | None:
        """The first event whose tags include ``tags``, polling up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if tags.items() <= event_tags(event).items():
                    return event
            time.sleep(1)
        return None


def event_tags(event: dict[str, Any]) -> dict[str, str]:
    """An event's tags as a dict (the SDK sends a dict; the protocol also allows pairs)."""
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {key: value for key, value in tags}
