"""Helpers shared by the crawl, JavaScript and cache benchmarks.

The demo site runs in its own process (``python benchmarks/_common.py serve ...``), so it never
shares the GIL with the crawl or the client being measured; :class:`SiteProcess` starts it on a
free port, waits until it answers and stops it. The rest: the demo spec, settings under a
temporary home, the site's request counts, medians and the goal lines every benchmark prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from harvest_demo import SiteConfig

REPO = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO / "include/harvest/sources/demo.yaml"
DAY = dt.date(2026, 3, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(base_url: str, path: str, method: str = "GET", timeout: float = 10.0) -> bytes:
    """The body of one request to the local site at ``base_url`` (``http://host:port``)."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {base_url}{path}: HTTP {response.status}")
        return body
    finally:
        conn.close()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO / "include"), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class SiteProcess:
    """The demo site served by a child process on 127.0.0.1 (``with SiteProcess(...) as site``)."""

    def __init__(
        self,
        listings_per_day: int,
        *,
        page_size: int = 25,
        js_fraction: float = 0.0,
        seed: int = 42,
    ) -> None:
        self.config = SiteConfig(
            seed=seed, listings_per_day=listings_per_day, page_size=page_size,
            js_fraction=js_fraction,
        )  # fmt: skip
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            "--port",
            str(self.port),
            "--listings-per-day",
            str(listings_per_day),
            "--page-size",
            str(page_size),
            "--js-fraction",
            str(js_fraction),
            "--seed",
            str(seed),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> str:
        self.proc = subprocess.Popen(
            self.command, env=_child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo site exited early (code {self.proc.returncode})")
            try:
                fetch(self.base_url, "/_control/stats", timeout=1)
                return self.base_url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the demo site did not answer at {self.base_url} in {timeout:g} s")

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the demo site is not running")
        return self.proc.pid

    def stats(self) -> dict[str, Any]:
        return dict(json.loads(fetch(self.base_url, "/_control/stats")))

    def reset_stats(self) -> None:
        fetch(self.base_url, "/_control/reset-stats", method="POST")

    def cpu_seconds(self) -> float:
        """User + system CPU time the site process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def demo_spec(**crawl: Any) -> Any:
    """The bundled demo spec, with ``crawl`` fields replaced."""
    from harvest.config.spec import load_spec

    spec = load_spec(SPEC_PATH)
    if crawl:
        spec = spec.model_copy(update={"crawl": spec.crawl.model_copy(update=crawl)})
    return spec


def make_settings(home: Path, cache_url: str | None = None) -> Any:
    """Harvest settings with everything (raw store, file HTTP cache) under ``home``."""
    from harvest.config.settings import Settings

    env = {"HARVEST_HOME": str(home)}
    if cache_url:
        env["HARVEST_CACHE_URL"] = cache_url
    return Settings.from_env(env)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rotated(items: list[Any], round_index: int) -> list[Any]:
    """``items`` rotated by ``round_index``: round 0 runs them in order, round 1 starts with the
    second, ... so that no contender always runs first (cold) or last."""
    if not items:
        return []
    k = round_index % len(items)
    return items[k:] + items[:k]


def spread(values: list[float], fmt: str = ".2f") -> str:
    """``min-max`` of the values (the spread printed beside every median)."""
    if not values:
        return "n/a"
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def ratio_line(
    name: str, ratios: list[float], met: bool | None, goal: str, fmt: str = ".2f", unit: str = ""
) -> str:
    """One ratio as every benchmark prints it: the median of the per-round ratios, the rounds
    and their spread, and the goal (``met=None``: a figure without a goal).

    ``name: 1.05x (median of 3 rounds, spread 0.98-1.12) -> goal met (<= 1.1)``
    """
    value = (
        f"{median(ratios):{fmt}}{unit} (median of {len(ratios)} round"
        f"{'s' if len(ratios) != 1 else ''}, spread {spread(ratios, fmt)})"
    )
    if met is None:
        return f"{name}: {value}"
    return goal_line(name, met, goal, value)


def load_average() -> str:
    """The 1/5/15-minute load averages, printed with every run (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def children_cpu_seconds() -> float:
    """CPU time of this process's waited-for children (a finished crawl process is one)."""
    usage = os.times()
    return usage.children_user + usage.children_system


def goal_line(name: str, met: bool, goal: str, value: str) -> str:
    return f"{name}: {value} -> goal {'met' if met else 'missed'} ({goal})"


def _serve(argv: list[str]) -> int:
    """Serve the demo site in this process until terminated (what :class:`SiteProcess` runs)."""
    import signal

    from harvest_demo import DemoSite

    parser = argparse.ArgumentParser(prog="_common.py serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--listings-per-day", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--js-fraction", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    config = SiteConfig(
        seed=args.seed,
        listings_per_day=args.listings_per_day,
        page_size=args.page_size,
        js_fraction=args.js_fraction,
    )

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    DemoSite(config, port=args.port).serve_forever()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: python benchmarks/_common.py serve --port P --listings-per-day N ...")
    sys.exit(_serve(sys.argv[2:]))
