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
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harvest.scraping.runner import CrawlError, CrawlResult, run_crawl

if TYPE_CHECKING:
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.partitions import Partition

__all__ = ["CrawlError", "CrawlResult", "run_crawl", "scrape"]

log = logging.getLogger(__name__)


def scrape(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    base_url: str | None = None,
    logger: Any = None,  # a logging.Logger, or Airflow's task logger (self.log)
    timeout_seconds: float | None = None,
    env: Mapping[str, str] | None = None,
    recrawl: bool = False,
    now: dt.datetime | None = None,
) -> CrawlResult:
    """Scrape one partition into the raw store, and check it.

    First the re-run rule (:mod:`harvest.scraping.past`, ``now`` the run's time, default the
    clock): a partition whose night is past and whose pages are stored (a re-run, a backfill
    of a date crawled before) is re-processed from those pages (``reused`` says why; nothing
    is asked of the site); otherwise the site is crawled with the spec's monitors, and a past
    night crawled because it was forced (``recrawl``, the spec's ``crawl.recrawl_past``)
    records the day it was observed on (``observed_on``; a re-run reusing its pages keeps it).
    Returns the :class:`CrawlResult`
    (its ``warnings``: the page budget or depth limit hit, the completeness account's, failed
    crawl monitors, and, when the crawl looks drifted, the spec patch proposed or the notice
    that none was found: :func:`harvest.learning.proposals.repair_on_drift`, which may fetch a
    sample of item pages through proposed levels). Raises
    :class:`~harvest.scraping.past.PastNotObservable` (a past date of an undated source never
    crawled; not retryable),
    :class:`~harvest.scraping.runner.CrawlError` (the child failed or timed out),
    :class:`~harvest.scraping.checks.CrawlCheckFailed` (no page fetched, no item page reached,
    a critical monitor failed) and the stores' errors; all retryable but a refused login.
    ``env``: more variables for the crawl process (a login's Connection).
    """
    from harvest.learning.proposals import repair_on_drift
    from harvest.partitions import Partition
    from harvest.scraping.checks import check_crawl
    from harvest.scraping.health import monitored_crawl
    from harvest.scraping.past import plan_partition, reused_result
    from harvest.scraping.site_fetch import SiteFetch

    partition = Partition.of(spec.name, partition)
    plan = plan_partition(spec, partition, settings, recrawl=recrawl, now=now)
    if plan.action == "reuse":
        log.info("source=%s date=%s: not crawled, %s", spec.name, partition.iso, plan.reason)
        result = reused_result(spec, partition.day, settings, plan)
    else:
        result = monitored_crawl(
            spec,
            partition,
            settings,
            observed_on=plan.observed_on,
            date_loaded=plan.loaded,
            base_url=base_url,
            logger=logger,
            timeout_seconds=timeout_seconds,
            env=env,
        )
    if plan.observed_on is not None:
        result.observed_on = plan.observed_on.isoformat()
    summary = result.to_dict()
    with SiteFetch(
        spec, settings, base_url
    ) as fetch:  # asks the site only when a level is repaired
        site = fetch if plan.action != "reuse" else None  # a re-run asks nothing of the site
        proposal = repair_on_drift(settings, spec, partition.day, summary, site)
    summary["repair"] = result.repair = proposal.line() if proposal is not None else None
    result.warnings = check_crawl(spec, partition, summary, base_url)
    return result
