"""Run ONE crawl in this process and write its final Scrapy stats as JSON.

``python -m harvest.scraping.crawl --spec PATH --date YYYY-MM-DD [--base-url URL]
[--stats-out PATH] [--scrapy-settings JSON]``

Twisted's reactor cannot be restarted, so every crawl is its own process; call
:func:`harvest.scraping.runner.run_crawl` rather than this module directly. Harvest's settings
come from the ``HARVEST_*`` environment variables. Exit codes: 0 crawled (failed pages are
recorded, not fatal), 1 the crawl did not finish cleanly (e.g. the raw store could not be
written), 2 bad arguments or spec.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from harvest.config.settings import Settings
from harvest.config.spec import SpecError, load_spec

logger = logging.getLogger("harvest.scraping.crawl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harvest.scraping.crawl", description=__doc__)
    parser.add_argument("--spec", required=True, type=Path, help="source spec YAML file")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="logical date")
    parser.add_argument("--base-url", default=None, help="override the spec's base URL")
    parser.add_argument("--stats-out", type=Path, default=None, help="write final stats here")
    parser.add_argument(
        "--scrapy-settings", default=None, help="JSON object of Scrapy settings to override"
    )
    return parser.parse_args(argv)


def crawl_failed(stats: dict[str, Any]) -> str | None:
    """Why a finished crawl is not a success, or None."""
    reason = stats.get("finish_reason")
    if reason != "finished":
        return f"the crawl stopped early ({reason})"
    if stats.get("harvest/store_errors"):
        return f"{stats['harvest/store_errors']} batch(es) could not be written to the raw store"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load_spec(args.spec)
        extra = json.loads(args.scrapy_settings) if args.scrapy_settings else {}
    except (SpecError, ValueError) as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("%s", exc)
        return 2

    from scrapy.crawler import CrawlerProcess

    from harvest.scraping.settings import build_scrapy_settings
    from harvest.scraping.spiders import SpiderLoadError, load_spider_class

    settings = Settings.from_env()
    try:
        spider_cls = load_spider_class(spec)
        scrapy_settings = build_scrapy_settings(spec, settings, args.date, extra, args.base_url)
    except (SpiderLoadError, ValueError) as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("%s", exc)
        return 2

    process = CrawlerProcess(scrapy_settings, install_root_handler=True)
    crawler = process.create_crawler(spider_cls)
    process.crawl(crawler, spec=spec, logical_date=args.date, base_url=args.base_url)
    process.start()

    stats: dict[str, Any] = dict(crawler.stats.get_stats()) if crawler.stats else {}
    if args.stats_out:
        args.stats_out.parent.mkdir(parents=True, exist_ok=True)
        args.stats_out.write_text(json.dumps(stats, default=str, indent=2, sort_keys=True))
    problem = crawl_failed(stats)
    if problem:
        logger.error("source %s, %s: %s", spec.name, args.date, problem)
        return 1
    logger.info("source %s, %s: crawl finished", spec.name, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
