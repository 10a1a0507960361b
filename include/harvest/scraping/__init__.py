"""The scrape stage, parent side: start the crawl child, read its stats, check and store them.

:func:`run_crawl` spawns the crawl child (``python -m harvest.crawler.crawl``, the Scrapy
project in :mod:`harvest.crawler`) and returns a :class:`CrawlResult`;
:func:`harvest.scraping.health.monitored_crawl` wraps it with the spec's crawl monitors (recent
counts read before, results stored after); :mod:`harvest.scraping.preview` runs one page through
a spec for ``python -m harvest preview``.
"""

from harvest.scraping.runner import CrawlError, CrawlResult, run_crawl

__all__ = ["CrawlError", "CrawlResult", "run_crawl"]
