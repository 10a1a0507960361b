"""The demo site as a plain request -> response function (:class:`SiteApp`): routing, faults,
the day shown and request counts, with no sockets, so tests call it directly; ``server`` serves it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harvest_demo import catalogue_pages, pages, retemplated
from harvest_demo.catalogue import CatalogueConfig
from harvest_demo.catalogue_truth import DEFAULT_BASE_URL
from harvest_demo.faults import Faults, fault_draw
from harvest_demo.generator import SiteConfig

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


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
            or fault_draw(seed, "error", target, attempt) < faults.error_rate
            or target.startswith(faults.fail_paths)
        ):
            return Response(
                503,
                pages.render_message(503, "Service temporarily unavailable, try again."),
                headers=(("Retry-After", "0"),),
            )
        if fault_draw(seed, "slow", target, attempt) < faults.slow_rate:
            self._sleep(faults.slow_seconds)
        if path == "/catalogue" or path.startswith("/catalogue/"):
            page = catalogue_pages.route(self.catalogue, self.day(), path, query, base_url)
            response = Response(page.status, page.body, page.content_type, page.headers)
        else:
            response = self._route(path, parse_qs(query), faults)
        if (
            response.status == 200
            and response.content_type == HTML
            and fault_draw(seed, "truncate", target, attempt) < faults.truncate_rate
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
            render_index = retemplated.index_page if faults.retemplated else pages.render_index
            body = render_index(config, day, page)
            if body is None:
                return _not_found(
                    f"No page {raw_page!r} of {day}: pages run from 1 to {config.pages_per_day}."
                )
            return Response(200, body)
        if path.startswith("/listing/"):
            listing_id = path.removeprefix("/listing/")
            body = (
                retemplated.detail_page(config, listing_id)
                if faults.retemplated
                else pages.render_detail(config, listing_id, faults.layout_drift)
            )
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
