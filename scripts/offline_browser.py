"""Headless Chromium that records every request a page makes, and which of them left 127.0.0.1.

Shared by ``make app-screenshots`` (scripts/app_screenshots.py: the app's pages) and the docs
test (tests/integration/test_docs_offline.py: the docs site and the Data Docs). Every request
is read from Chromium's performance log (``Network.requestWillBeSent``), failed ones included,
so a page that only tries to reach a CDN is caught although nothing answers here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "devtools", "file")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
OPTIONS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
)  # fmt: skip


def chromium(binary: str, driver_path: str | None, *arguments: str) -> Any:
    """A Selenium Chrome driver of headless Chromium at ``binary`` (chromedriver at
    ``driver_path``) with its performance log on, given ``arguments`` besides :data:`OPTIONS`;
    60 s to load a page. Quit it when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (*OPTIONS, *arguments):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    return driver


def requested_urls(driver: Any) -> list[str]:
    """The URLs the browser asked for since the last call (the log is read, hence emptied)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def off_machine(urls: list[str]) -> list[str]:
    """Those of ``urls`` that would leave 127.0.0.1 (a local file or a data URL never does)."""
    return [
        url
        for url in urls
        if urlparse(url).scheme not in LOCAL_SCHEMES and urlparse(url).hostname not in LOCAL_HOSTS
    ]
