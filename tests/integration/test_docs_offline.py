"""The documentation site and the Data Docs, opened in headless Chromium with nothing but this
machine: their styles and scripts load, and no request leaves 127.0.0.1 (every request the
browser makes is read from its performance log: scripts/offline_browser.py).

The site is built with ``mkdocs build --strict`` into the test's folder; the Data Docs are those
``python -m harvest validate`` renders for a demo partition, made offline with the assets
``make venv`` vendored (``scripts/vendor_data_docs.py``). A page that only tries to reach a CDN
fails the test even though nothing answers here.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import DEFAULT_DATA_DOCS_ASSETS
from harvest.storage.raw import FileRawStore, RawDocument, content_hash
from scripts import offline_browser
from scripts.offline_browser import off_machine
from tests.conftest import missing_service

pytestmark = pytest.mark.chromium

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-26"


def _serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]) -> Iterator[Any]:
    driver = offline_browser.chromium(*chromium, "--allow-file-access-from-files")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = tmp_path_factory.mktemp("docs") / "site"
    subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "--quiet",
         "--site-dir", str(site)],
        cwd=REPO, check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    server, url = _serve(site)
    yield url
    server.shutdown()


def _detail(i: int) -> RawDocument:
    url = f"http://127.0.0.1:8000/listing/{i:04d}"
    return RawDocument(
        source="demo",
        logical_date=DAY,
        url=url,
        status=200,
        fetched_at="2026-11-27T02:00:00+00:00",
        page_type="detail",
        content_hash=content_hash(url),
        fields={
            "listing_id": f"L-20261126-{i:04d}", "title": f"Flat {i} in Mitte",
            "price": f"€{900 + i} / month", "area": "54 m²", "rooms": "2", "floor": "3",
            "city": "Berlin", "district": "Mitte", "balcony": "yes", "built_year": "1990",
            "available_from": "2026-12-01",
        },
    )  # fmt: skip


@pytest.fixture(scope="module")
def data_docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    assets = Path(os.environ.get("HARVEST_DATA_DOCS_ASSETS", DEFAULT_DATA_DOCS_ASSETS))
    if not (assets / "manifest.json").exists():
        missing_service(f"no vendored Data Docs assets in {assets} (make venv vendors them)")
    home = tmp_path_factory.mktemp("harvest")
    FileRawStore(home / "raw").upsert_many([_detail(i) for i in range(30)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARVEST_")}
    env.update(HARVEST_HOME=str(home), HARVEST_DATA_DOCS_ASSETS=str(assets))
    env["PYTHONPATH"] = f"{REPO / 'include'}:{REPO / 'plugins'}"
    done = subprocess.run(
        [sys.executable, "-m", "harvest", "validate", "--source", "demo", "--date", DAY],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    site = home / "data_docs"
    server, url = _serve(site)
    yield site, url
    server.shutdown()


def _open(driver: Any, url: str) -> list[str]:
    """Load ``url`` and wait for it to settle; return every URL the browser asked for."""
    driver.get_log("performance")  # drop what earlier pages left
    driver.get(url)
    driver.execute_async_script(
        "const done = arguments[0]; if (document.readyState === 'complete') setTimeout(done, 500);"
        " else window.addEventListener('load', () => setTimeout(done, 500));"
    )
    return offline_browser.requested_urls(driver)


def _style_sheets(driver: Any) -> list[dict[str, Any]]:
    """Each style sheet of the page: its URL and how many rules it holds (-1: unreadable)."""
    result: list[dict[str, Any]] = driver.execute_script(
        "return Array.from(document.styleSheets).map(s => {"
        " let n = -1; try { n = s.cssRules.length } catch (e) {}"
        " return {href: s.href, rules: n}; });"
    )
    return result


@pytest.mark.parametrize("page", ["", "reference/spec/", "cookbook/page-shapes/"])
def test_the_docs_site_is_styled_with_nothing_from_the_internet(
    browser: Any, docs_site: str, page: str
) -> None:
    requests = _open(browser, f"{docs_site}/{page}")
    assert requests, "the browser logged no request"
    assert off_machine(requests) == []
    sheets = [s for s in _style_sheets(browser) if s["href"]]
    assert any("assets/stylesheets/main" in s["href"] and s["rules"] > 100 for s in sheets)
    header = browser.execute_script(
        "const h = document.querySelector('header.md-header');"
        " return h && getComputedStyle(h).position;"
    )
    assert header == "sticky"  # Material's own CSS applied, not the browser's defaults
    if page == "reference/spec/":  # the facts the build adds under each key
        facts = browser.execute_script("return document.querySelectorAll('.spec-key-facts').length")
        assert facts > 100


def _check_data_docs_page(driver: Any, url: str) -> list[str]:
    requests = _open(driver, url)
    sheets = _style_sheets(driver)
    styled = [s for s in sheets if s["href"] and "bootstrap.min.css" in s["href"]]
    assert styled and styled[0]["rules"] > 500, sheets
    loaded = driver.execute_script(
        "return {jquery: typeof window.jQuery, table: typeof (window.jQuery && jQuery.fn.bootstrapTable),"
        " modal: typeof (window.jQuery && jQuery.fn.modal), vega: typeof window.vegaEmbed,"
        " navbar: getComputedStyle(document.querySelector('nav.navbar')).display,"
        " logo: (document.querySelector('.navbar-brand img') || {}).naturalWidth || 0};"
    )
    assert loaded == {
        "jquery": "function", "table": "function", "modal": "function", "vega": "function",
        "navbar": "flex", "logo": loaded["logo"],
    }, loaded  # fmt: skip
    assert loaded["logo"] > 0, "the GX logo did not load"
    return requests


def test_data_docs_render_offline_over_http(browser: Any, data_docs: tuple[Path, str]) -> None:
    site, url = data_docs
    pages = sorted((site / "validations").rglob("*.html"))
    assert pages, "validate rendered no Data Docs page"
    for page in (site / "index.html", pages[0]):
        requests = _check_data_docs_page(browser, f"{url}/{page.relative_to(site).as_posix()}")
        assert off_machine(requests) == []
        assert any("/static/vendor/" in r for r in requests)


def test_data_docs_render_offline_from_files(browser: Any, data_docs: tuple[Path, str]) -> None:
    site, _ = data_docs
    page = sorted((site / "validations").rglob("*.html"))[0]
    requests = _check_data_docs_page(browser, page.as_uri())
    assert off_machine(requests) == []
    html = page.read_text(encoding="utf-8")
    assert "https://cdn" not in html and "unpkg.com" not in html and "amazonaws" not in html
