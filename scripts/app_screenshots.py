"""Open every page of the Harvest app in headless Chromium: `make app-screenshots`.

Starts ``streamlit run include/harvest/app/main.py --server.headless true`` on a free port of
127.0.0.1 (the settings of the environment: the warehouse and MLflow store of HARVEST_HOME after
`make demo`), waits for ``/_stcore/health``, opens each page with Selenium, waits until its
Plotly charts have drawn (an SVG per chart) and Streamlit has finished running the page, then
saves a screenshot per page and writes a report (JSON): per page the charts drawn, the
exceptions and error messages shown, and every request the browser made that left 127.0.0.1
(read from Chromium's performance log, failed ones included: scripts/offline_browser.py). Exits 1 when a page shows an
exception or a request left the machine.

    python scripts/app_screenshots.py --out docs/images/app [--report report.json] [--pages repairs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from offline_browser import chromium, off_machine, requested_urls

REPO = Path(__file__).resolve().parents[1]
PAGES = ("sources", "partition", "trends", "catalogue", "models", "browse", "repairs")
DRAWN_CHARTS = (
    "return [...document.querySelectorAll('.js-plotly-plot')]"
    ".filter(e => e.querySelector('svg.main-svg')).length"
)
"""Plotly charts whose SVG was drawn."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``streamlit run`` of the app on 127.0.0.1:``port``, usage statistics off; returns once
    ``/_stcore/health`` answers (raises ``RuntimeError`` with the app's output otherwise)."""
    streamlit = Path(sys.executable).with_name("streamlit")
    env = {**env, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env["PYTHONPATH"] = f"{REPO / 'include'}:{REPO / 'plugins'}"
    process = subprocess.Popen(  # noqa: S603 - our own venv's streamlit
        [
            str(streamlit), "run", str(REPO / "include/harvest/app/main.py"),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the app did not answer /_stcore/health on port {port} within 60 s")


def browser() -> Any:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    return chromium(binary, shutil.which("chromedriver"), "--window-size=1400,2200")


def visit(driver: Any, base: str, page: str, timeout: float = 90) -> dict[str, Any]:
    """Open one page, wait until Streamlit finished running it and its charts drew."""
    from selenium.webdriver.common.by import By

    driver.get_log("performance")
    driver.get(f"{base}/" if page == PAGES[0] else f"{base}/{page}")
    deadline = time.monotonic() + timeout
    charts = drawn = 0
    seen: list[tuple[int, int, int]] = []
    while time.monotonic() < deadline:  # settled: the page ran, 3 polls alike, charts drawn
        time.sleep(1)
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        charts = len(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]'))
        drawn = driver.execute_script(DRAWN_CHARTS)
        blocks = len(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stElementContainer"]'))
        seen.append((charts, drawn, blocks))
        if (
            not running
            and blocks
            and drawn >= charts
            and len(set(seen[-3:])) == 1
            and len(seen) >= 3
        ):
            break
    exceptions = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    ]
    errors = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    ]
    return {
        "page": page,
        "charts": charts,
        "charts_drawn": drawn,
        "exceptions": exceptions,
        "errors": errors,
        "off_machine": off_machine(requested_urls(driver)),
        "seconds": round(timeout - (deadline - time.monotonic()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/app")
    parser.add_argument("--report", type=Path, help="write the report (JSON) here too")
    parser.add_argument(
        "--pages", nargs="+", choices=PAGES, default=list(PAGES), help="only these pages"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = start_app(port, dict(os.environ))
    driver = browser()
    report = []
    try:
        for page in args.pages:
            result = visit(driver, f"http://127.0.0.1:{port}", page)
            path = args.out / f"{page}.png"
            driver.save_screenshot(str(path))
            result["screenshot"] = str(path)
            report.append(result)
            print(json.dumps(result))  # noqa: T201 - the script's output
    finally:
        driver.quit()
        app.terminate()
        app.wait(10)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    bad = [r for r in report if r["exceptions"] or r["off_machine"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
