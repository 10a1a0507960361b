"""Scraping: a Scrapy project driven by the source spec.

One generic spider walks index pages to detail pages and extracts every field the spec names;
pages that need JavaScript are rendered by a pool of headless Chromium browsers (Selenium); an
item pipeline upserts every page, fetched or failed, into the raw store for its partition. HTTP
responses are cached per partition (Redis when configured, else on disk) so a re-run of a date
does not hammer the site, and a new date never reads another date's pages.

Every crawl runs in its own process (Twisted's reactor cannot restart): call :func:`run_crawl`,
which spawns ``python -m harvest.scraping.crawl`` and returns a :class:`CrawlResult`.
"""

from harvest.scraping.runner import CrawlError, CrawlResult, run_crawl

__all__ = ["CrawlError", "CrawlResult", "run_crawl"]
