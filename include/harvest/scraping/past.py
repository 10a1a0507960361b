"""Re-running the past: a crawl can only observe the site as it is today.

So the scrape stage asks :func:`plan_crawl` before it crawls a partition:

===================================================  ======================================
the partition                                        the scrape stage
===================================================  ======================================
its raw partition exists, and it was loaded or its   reuses the records stored with its pages
night is past (a re-run, a backfill of a date        (no request, no extraction): the date's
crawled before)                                      rows stay what the site showed
its night is now (the data interval ended less than  crawls (the first run, or a retry of
:data:`GRACE` ago) and it was not loaded             tonight's crawl)
past, never crawled, the start URLs carry the date   crawls: the site is asked for that
(``{date}``, ``{start}``, ``{end}``)                 date's pages
past, never crawled, start URLs without a date (a    refused (:class:`PastNotObservable`):
catalogue, an undated listings source)               today's pages are not that date's
forced (spec ``crawl.recrawl_past``, ``--recrawl``,  crawls; a past night is recorded as
the run's ``recrawl``)                               observed on the day it was fetched
===================================================  ======================================

:func:`reused_result` is the scrape report of a partition reused from the raw store (its
stored records, extracted when the pages were fetched: after a spec change, ``--recrawl``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError

if TYPE_CHECKING:
    from harvest.partitions import Partition
    from harvest.scraping.runner import CrawlResult
    from harvest.storage.raw import RawDocument

GRACE = dt.timedelta(days=1)
"""How long after its data interval ends a partition's night is still *now*: its crawl (or a
retry of it) sees what the site showed that night."""
_DATED = re.compile(r"{(date|start|end)}")


class PastNotObservable(HarvestError, RuntimeError):
    """A crawl asked of a past date that was never crawled, of a source whose pages carry no
    date: it would store today's pages under that date. Not retryable."""

    retryable = False


@dataclass(frozen=True)
class CrawlPlan:
    """What the scrape stage does with a partition: ``crawl`` the site or ``reuse`` the stored
    pages, why, and (a forced crawl of a past night) the day the pages are observed on."""

    action: Literal["crawl", "reuse"]
    reason: str
    observed_on: dt.date | None = None  # set when it differs from the partition's day (a forced
    # crawl of a past night, or a re-run reusing the pages such a crawl stored)
    loaded: bool = False  # the date was loaded before (plan_partition)
    # reuse: the crawl_stats row of the crawl that stored the pages (None: none recorded)
    crawled: dict[str, Any] | None = field(default=None, compare=False)


def dated(spec: SourceSpec) -> bool:
    """Whether the spec asks the site for a date's pages (a date in a start or sitemap URL)."""
    templates = list(spec.start_urls) + (list(spec.sitemap.urls) if spec.sitemap else [])
    return any(_DATED.search(url) for url in templates)


def plan_crawl(
    spec: SourceSpec,
    day: dt.date,
    interval_end: dt.datetime,
    now: dt.datetime,
    *,
    stored_pages: int,
    loaded: bool,
    recrawl: bool = False,
    all_failed: bool = False,
) -> CrawlPlan:
    """The :class:`CrawlPlan` of partition ``day`` of ``spec`` (see the module docstring):
    ``interval_end`` its data interval's end, ``now`` the time of the run (UTC),
    ``stored_pages`` the documents of its raw partition, ``loaded`` whether it was loaded,
    ``recrawl`` forced by the run (or the spec's ``crawl.recrawl_past``), ``all_failed``
    whether every stored page failed (a crawl that fetched nothing observed nothing: a dated
    source's retry asks the site again instead of reusing it). Raises
    :class:`PastNotObservable` naming the source, the date and how to force it."""
    current = now < interval_end + GRACE
    forced = recrawl or spec.crawl.recrawl_past
    if forced:
        observed = None if current or dated(spec) else now.date()
        return CrawlPlan("crawl", "forced", observed)
    if stored_pages and all_failed and not loaded and not current and dated(spec):
        return CrawlPlan(
            "crawl", f"its {stored_pages} stored pages all failed: the site is asked again"
        )
    if stored_pages and (loaded or not current):
        why = "a re-run of a loaded date" if loaded else "a past date crawled before"
        return CrawlPlan(
            "reuse", f"{why}: the records of its {stored_pages} stored pages are reused"
        )
    if current:
        return CrawlPlan("crawl", "its night is now")
    if dated(spec):
        return CrawlPlan("crawl", "the start URLs ask the site for that date's pages")
    raise PastNotObservable(
        f"source {spec.name}, date {day}: cannot observe the past. A crawl sees the site as it "
        f"is today ({now:%Y-%m-%d %H:%M} UTC), and the date's night ended at "
        f"{interval_end:%Y-%m-%d %H:%M} UTC; its raw partition holds no page, and its start "
        f"URLs carry no date ({{date}}, {{start}} or {{end}}), so today's pages are not that "
        f"date's. Nothing was crawled. To store today's pages under {day} anyway, force it: "
        f"`python -m harvest run --source {spec.name} --date {day} --recrawl`, the DAG run conf "
        f'{{"recrawl": true}}, or crawl.recrawl_past: true in the spec; the partition then '
        f"records that it was observed on {now:%Y-%m-%d}"
    )


def plan_partition(
    spec: SourceSpec,
    partition: Partition,
    settings: Settings,
    *,
    recrawl: bool = False,
    now: dt.datetime | None = None,
) -> CrawlPlan:
    """:func:`plan_crawl` of ``partition`` with what the stores hold: the documents of its raw
    partition and whether the warehouse has its load summary (the documents themselves are
    streamed, light, only where every page failing changes the plan: a dated source not
    loaded; the partition is never held whole). A re-run that reuses the pages a forced crawl
    observed later keeps the day they were observed on (``crawl_stats`` of that crawl, else
    the load's ``observed_later``), and the plan holds that crawl's figures (``crawled``): its
    load's warnings are repeated.
    ``now``: the run's time (UTC), default the clock.
    Raises :class:`PastNotObservable`, and the stores' errors."""
    from harvest.storage.raw import open_raw_store
    from harvest.storage.warehouse import open_warehouse

    store = open_raw_store(settings.raw_store_url)
    try:
        stored = store.count(spec.name, partition.day)
        loaded, observed_on, crawled = False, None, None
        if stored:  # a partition never crawled cannot have been loaded from its pages
            with open_warehouse(settings, spec, partition.day) as warehouse:
                summary = warehouse.partition_summary(spec.name, partition.day)
                crawled = warehouse.crawl_stats_row(spec.name, partition.day)
            loaded = summary is not None
            later = (summary.warnings or {}).get("observed_later") if summary else None
            observed_on = (crawled or {}).get("observed_on") or (
                later.get("observed_on") if isinstance(later, dict) else None
            )
        all_failed = False  # read only where it changes the plan (a dated source, not loaded)
        if stored and not loaded and dated(spec):
            docs = store.iter_partition(spec.name, partition.day, light=True)
            all_failed = all(failed(doc) for doc in docs)
    finally:
        store.close()
    plan = plan_crawl(
        spec,
        partition.day,
        partition.interval_end,
        now or dt.datetime.now(dt.UTC),
        stored_pages=stored,
        loaded=loaded,
        recrawl=recrawl,
        all_failed=all_failed,
    )
    plan = replace(plan, loaded=loaded)
    if plan.action == "reuse":
        plan = replace(plan, crawled=crawled)
        if observed_on:
            plan = replace(plan, observed_on=dt.date.fromisoformat(observed_on))
    return plan


def failed(doc: RawDocument) -> bool:
    """Whether a stored page failed: an error and no field read from it."""
    return bool(doc.error) and not any(doc.fields.values())


def reused_result(
    spec: SourceSpec, day: dt.date, settings: Settings, plan: CrawlPlan
) -> CrawlResult:
    """The scrape report of a partition whose stored records are reused: the raw
    partition's counts (its documents streamed, light: never held whole), nothing asked of the
    site (``reused``)."""
    from harvest.scraping.runner import CrawlResult
    from harvest.storage.raw import open_raw_store

    pages = failed_pages = items = js_pages = 0
    store = open_raw_store(settings.raw_store_url)
    try:
        for doc in store.iter_partition(spec.name, day, light=True):
            pages += 1
            failed_pages += failed(doc)
            items += (doc.page_type == "detail" and not doc.error) + len(doc.records)
            js_pages += doc.rendered_with == "chromium"
        uri = store.uri(spec.name, day)
    finally:
        store.close()
    return CrawlResult(
        source=spec.name,
        logical_date=day.isoformat(),
        pages=pages,
        documents=pages,
        failed_pages=failed_pages,
        items=pages,
        bytes=0,
        js_pages=js_pages,
        js_unavailable=0,
        cached_responses=0,
        requests_to_site=0,
        raw_uri=uri,
        duration_seconds=0.0,
        exit_code=0,
        item_pages=items,
        reused=plan.reason,
        crawled=None
        if plan.crawled is None
        else {k: plan.crawled.get(k) for k in REPEATED if k in plan.crawled},
    )


REPEATED = (
    "cached_responses", "requests_to_site", "date_loaded", "observed_on", "fields_regex_unmatched",
)  # fmt: skip
"""The figures of the crawl that stored a partition's pages that a re-run reusing them repeats
in its report (``crawled``): its load's ``all_cached`` and ``observed_later`` are decided
on them, as they were for that crawl's load; the regex misses of its extraction are said."""
