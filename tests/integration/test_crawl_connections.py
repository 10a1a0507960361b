"""A crawl reuses its keep-alive connections to a site (the demo site on localhost, a real
crawl in its own process): Harvest's download handler keeps as many idle connections as the
site may have open (:class:`harvest.crawler.deadline_handler.DeadlineDownloadHandler`)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.scraping import run_crawl
from harvest_demo import DemoSite, SiteConfig

DAY = dt.date(2026, 3, 1)
SPEC_PATH = Path(__file__).resolve().parents[2] / "include/harvest/sources/demo.yaml"


def test_a_crawl_opens_few_connections_for_many_pages(tmp_path: Path) -> None:
    config = SiteConfig(seed=7, listings_per_day=300, page_size=25, js_fraction=0.0)
    accepted = []
    lock = threading.Lock()
    with DemoSite(config, port=0) as site:
        server: Any = site._server
        get_request = server.get_request

        def counted() -> Any:
            connection = get_request()
            with lock:
                accepted.append(connection[1])
            return connection

        server.get_request = counted
        spec = load_spec(SPEC_PATH)
        result = run_crawl(
            spec, DAY, Settings.from_env({"HARVEST_HOME": str(tmp_path)}), base_url=site.base_url,
            extra_scrapy_settings={"AUTOTHROTTLE_ENABLED": False},
        )  # fmt: skip
    pages = 300 + config.pages_per_day  # the detail pages and the list pages
    assert result.documents == pages and not result.failed_pages
    per_domain = spec.crawl.concurrency_per_domain
    # with Scrapy's own pool (at most `per_domain` idle connections) the crawl opened 73
    assert len(accepted) <= 2 * per_domain + 2, (
        f"{len(accepted)} connections for {pages} pages and robots.txt"
    )
