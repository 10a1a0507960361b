"""The scrape stage: :func:`scrape` is its one entry point, whoever runs it (the Airflow task,
``python -m harvest crawl``, :func:`harvest.pipeline.run_partition`).

Parent side only: :func:`~harvest.scraping.runner.run_crawl` spawns the crawl child
(``python -m harvest.crawler.crawl``, the Scrapy project in :mod:`harvest.crawler`);
:func:`~harvest.scraping.health.monitored_crawl` wraps it with the spec's crawl monitors (recent
counts read before, results stored after); :mod:`harvest.scraping.checks` fails a crawl that did
not work; :mod:`harvest.scraping.preview` runs one page through a spec for
``python -m harvest preview``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harvest.scraping.runner import CrawlError, CrawlResult, run_crawl

if TYPE_CHECKING:
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.partitions import Partition

__all__ = ["CrawlError", "CrawlResult", "run_crawl", "scrape"]


def scrape(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    base_url: str | None = None,
    logger: Any = None,  # a logging.Logger, or Airflow's task logger (self.log)
    timeout_seconds: float | None = None,
    env: Mapping[str, str] | None = None,
) -> CrawlResult:
    """Crawl one partition into the raw store with the spec's monitors, and check the crawl.

    Returns the :class:`CrawlResult` (its ``warnings``: the page budget or depth limit hit,
    the completeness account's, failed crawl monitors). Raises
    :class:`~harvest.scraping.runner.CrawlError` (the child failed or timed out),
    :class:`~harvest.scraping.checks.CrawlCheckFailed` (no page fetched, no item page reached,
    a critical monitor failed) and the warehouse's errors; all retryable but a refused login.
    ``env``: more variables for the crawl process (a login's Connection).
    """
    from harvest.partitions import Partition
    from harvest.scraping.checks import check_crawl
    from harvest.scraping.health import monitored_crawl

    partition = Partition.of(spec.name, partition)
    result = monitored_crawl(
        spec,
        partition,
        settings,
        base_url=base_url,
        logger=logger,
        timeout_seconds=timeout_seconds,
        env=env,
    )
    result.warnings = check_crawl(spec, partition, result.to_dict(), base_url)
    return result
