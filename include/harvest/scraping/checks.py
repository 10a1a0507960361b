"""The scrape stage's own check of a crawl, run by :func:`harvest.scraping.scrape` whoever runs
it (an Airflow task, ``python -m harvest crawl`` or ``run``): a crawl that did not work fails
the stage (:class:`CrawlCheckFailed`, retryable: a re-crawl may pass); one that did returns its
named warnings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.partitions import Partition, recrawl_command
from harvest.scraping.health import CriticalMonitorFailed, report_monitors

logger = logging.getLogger(__name__)


class CrawlCheckFailed(HarvestError, RuntimeError):
    """A crawl that did not work (bad exit code, no page fetched, no item page reached, a
    critical crawl monitor failed); the message names the source, the date and what to check."""


def check_crawl(
    spec: SourceSpec,
    partition: Partition,
    summary: Mapping[str, Any],
    base_url: str | None = None,
) -> list[str]:
    """Raise :class:`CrawlCheckFailed` when a crawl did not work (bad exit code, no page fetched,
    no item page reached: then the message says which level matched nothing, and where, or a
    crawl monitor the spec makes critical failed); return (and log) the warnings of one that
    did: the page budget or the depth limit was hit, so the partition may miss pages, the
    completeness account has named warnings or a field's regex matched none of the text found
    (:mod:`harvest.crawler.completeness`), a spec patch
    is proposed (``summary["repair"]``, :mod:`harvest.learning.proposals`), or a crawl monitor
    failed (:func:`harvest.scraping.health.report_monitors`)."""
    day = partition.iso
    if summary.get("exit_code") not in (0, None):
        raise CrawlCheckFailed(
            f"crawl of source {spec.name!r} for {day} exited with code {summary['exit_code']}; "
            "see the crawl's lines in the log"
        )
    failed = int(summary.get("failed_pages") or 0)
    reused = summary.get("reused")
    if reused and (summary.get("item_pages") == 0 or int(summary.get("pages") or 0) <= failed):
        raise CrawlCheckFailed(  # nothing was fetched: the stored pages were re-processed
            f"source {spec.name!r}, date {day}: not crawled again ({reused}), and those "
            f"{summary.get('pages')} stored page(s) ({failed} failed) hold no item page. They "
            "keep what the spec read when they were crawled; to crawl the site again with the "
            f"spec as it is now: `{recrawl_command(spec.name, day, base_url)}`"
        )
    if int(summary.get("pages") or 0) <= failed and summary.get("first_failure"):
        raise CrawlCheckFailed(  # robots.txt forbids the start URL, a JSON page, ...: said
            f"crawl of source {spec.name!r} for {day} fetched no page ({failed} failed, "
            f"{int(summary.get('ignored_pages') or 0)} not fetched): {summary['first_failure']}"
        )
    if int(summary.get("pages") or 0) <= failed:
        raise CrawlCheckFailed(
            f"crawl of source {spec.name!r} for {day} fetched no page ({failed} failed); "
            f"is {base_url or spec.resolved_base_url()} up?"
            + (
                ""
                if base_url
                else f" (override it with HARVEST_SOURCE_{spec.name.upper()}_BASE_URL)"
            )
        )
    if summary.get("item_pages") == 0:
        why = summary.get("first_empty_level")
        raise CrawlCheckFailed(
            f"crawl of source {spec.name!r} for {day} reached no item page "
            f"({summary.get('pages')} page(s) fetched, {failed} failed): "
            + (
                f"{why}; check that selector on that page (python -m harvest preview "
                f"--source {spec.name} --url URL)"
                if why
                else "every link was followed but none led to an item page"
            )
            + (f". {summary['repair']}" if summary.get("repair") else "")
        )
    warnings = []
    if int(summary.get("max_pages_skipped") or 0):
        warnings.append(
            f"crawl of source {spec.name!r} for {day} hit its page budget "
            f"(crawl.max_pages={spec.crawl.max_pages}): {summary['max_pages_skipped']} links not "
            "followed; the partition may miss pages (raise crawl.max_pages if the site is larger)"
        )
    if int(summary.get("depth_limit_skipped") or 0):
        warnings.append(
            f"crawl of source {spec.name!r} for {day} hit its depth limit "
            f"(crawl.max_depth={spec.crawl.max_depth}): {summary['depth_limit_skipped']} links "
            "not followed; the partition may miss pages"
        )
    completeness = summary.get("completeness") or {}
    warnings += [
        f"crawl of source {spec.name!r} for {day}: {warning}"
        for warning in [
            *(completeness.get("warnings") or []),
            *(completeness.get("field_warnings") or []),
        ]
    ]
    if summary.get("repair"):
        warnings.append(str(summary["repair"]))
    for warning in warnings:
        logger.warning("%s", warning)
    try:
        warnings += report_monitors(spec, partition, summary.get("monitors") or [])
    except CriticalMonitorFailed as exc:
        raise CrawlCheckFailed(str(exc)) from exc
    return warnings
