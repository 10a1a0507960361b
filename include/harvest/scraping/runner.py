"""Run a crawl for one source and one logical date, in its own process; the public scraping API.

:func:`run_crawl` spawns ``python -m harvest.crawler.crawl`` (Twisted's reactor cannot restart,
so each crawl gets a fresh process), passes Harvest's settings as ``HARVEST_*`` environment
variables, streams every log line of the child to a logger while it runs (in Airflow: the task
log) and its pages done and asked to :mod:`harvest.progress` (a bar on a terminal), gives
the child a deadline so that it stops itself in time and writes what it fetched (a *partial*
partition, failed or kept as ``crawl.on_deadline`` says), kills the child's process
group if it still runs at the timeout, and returns a :class:`CrawlResult` (the crawl's final
stats and the raw-store partition). The child never outlives this process (SIGTERM here kills
its process group first; on Linux the child gets SIGTERM when this process dies).

The spec is passed to the child as a file (a temporary ``<name>.yaml`` of the
:class:`SourceSpec` given), so the child crawls exactly that spec. Imports no Scrapy.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

import harvest
from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.crawler.completeness import completeness_fields, log_account
from harvest.crawler.monitor_settings import monitor_results
from harvest.errors import HarvestError
from harvest.partitions import Partition
from harvest.scraping.child import (
    _forward_sigterm,
    _kill_group,
    _read_progress,
    _spawn,
    _stream,
)
from harvest.scraping.warm import take_warm_child
from harvest.storage.raw import open_raw_store

CRAWL_ERROR = "harvest/crawl_error"  # the crawl's stat: why it could not go on (not retryable)
TAIL_LINES = 20


class CrawlError(HarvestError, RuntimeError):
    """A crawl process that failed or timed out; says which source, date, exit code and why."""

    def __init__(
        self,
        source: str,
        logical_date: dt.date,
        exit_code: int,
        last_lines: list[str],
        why: str,
        retryable: bool | None = None,
    ) -> None:
        self.source = source
        self.logical_date = logical_date
        self.exit_code = exit_code
        self.last_lines = last_lines
        tail = "\n".join(f"    {line}" for line in last_lines) or "    (no output)"
        super().__init__(
            f"crawl of source {source!r} for {logical_date.isoformat()} {why} "
            f"(exit code {exit_code}); last log lines:\n{tail}",
            retryable=retryable,
        )


@dataclass
class CrawlResult:
    """What one crawl did; JSON-serialisable via :meth:`to_dict`."""

    source: str
    logical_date: str
    pages: int  # pages visited: fetched (incl. rendered) + failed
    documents: int  # documents now in the raw-store partition
    failed_pages: int  # pages recorded with an error status (after retries)
    items: int  # page items the spider yielded: one a page (list, item, failed), not records
    bytes: int  # response bytes received (downloader)
    js_pages: int  # JavaScript pages (rendered now, or served rendered by the HTTP cache)
    js_unavailable: int  # JavaScript pages stored unrendered (no Chromium)
    cached_responses: int  # responses served by the HTTP cache
    requests_to_site: int  # requests that reached the source (not served from the cache)
    raw_uri: str
    duration_seconds: float
    exit_code: int
    browser_restarts: int = 0
    pages_asked: int = 0  # pages the spider asked for: stored + failed + ignored (+ unfinished)
    ignored_pages: int = 0  # not fetched on purpose (robots.txt, an off-site link)
    finish_reason: str = "finished"  # Scrapy's; "closespider_timeout": stopped at the deadline
    partial: bool = False  # stopped at its deadline: the partition holds what was fetched
    item_pages: int | None = None  # item pages fetched + card items (None: not counted)
    empty_levels: int = 0  # pages where a level's selector matched nothing
    first_empty_level: str | None = None  # which level, which selector, which URL
    first_failure: str | None = None  # the first page failed or not fetched, and why
    max_pages_skipped: int = 0  # links not followed: the page budget crawl.max_pages was reached
    depth_limit_skipped: int = 0  # links not followed: deeper than crawl.max_depth
    # the crawl monitors (Spidermon): [{monitor, status, severity, message}], see health.py
    monitors: list[dict[str, str]] = field(default_factory=list)
    monitors_cpu_seconds: float = 0.0  # CPU the crawl process spent in them
    # the completeness account: {"levels": [...], "warnings": [...]}, see completeness.py
    completeness: dict[str, Any] = field(default_factory=dict)
    cards_seen: int = 0  # cards found on list pages, every level
    cards_duplicate: int = 0  # of them, cards of an item seen before: no second record
    links_skipped: dict[str, int] = field(default_factory=dict)  # reason -> links, every level
    completeness_warnings: int = 0  # named warnings of the account (0: every drop has a reason)
    # field -> item pages or cards read where its regex matched none of the text found (its
    # value missing); kept in crawl_stats
    fields_regex_unmatched: dict[str, int] = field(default_factory=dict)
    reused: str | None = None  # why stored pages were re-processed (harvest.scraping.past)
    # every page came from the HTTP cache and was walked without Scrapy's engine
    # (harvest.crawler.replay); False: crawled by Scrapy
    replayed_from_cache: bool = False
    observed_on: str | None = None  # a forced crawl of a past date: the day it observed
    date_loaded: bool | None = None  # whether the date was loaded when crawled (None: unknown)
    # a re-run reusing stored pages: the figures of the crawl that stored them (crawl_stats:
    # cached_responses, requests_to_site, date_loaded, observed_on), whose warnings it repeats
    crawled: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)  # the stage's check (scraping.checks)
    # a drifted crawl: the spec patch proposed, or the notice that none was found (one line,
    # harvest.learning.proposals.Proposal.line); None: the crawl did not look drifted
    repair: str | None = None

    @property
    def unfinished_pages(self) -> int:
        """Pages asked for that a crawl stopped at its deadline never got to."""
        return max(0, self.pages_asked - self.pages - self.ignored_pages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stats(
        cls,
        stats: dict[str, Any],
        *,
        source: str,
        logical_date: dt.date,
        documents: int,
        raw_uri: str,
        duration_seconds: float,
        exit_code: int,
        monitors: list[dict[str, str]] | None = None,
    ) -> CrawlResult:
        def stat(key: str) -> int:
            return int(stats.get(key) or 0)

        cached = stat("httpcache/hit")
        return cls(
            source=source,
            logical_date=logical_date.isoformat(),
            pages=stat("harvest/pages_ok") + stat("harvest/failed_pages"),
            documents=documents,
            failed_pages=stat("harvest/failed_pages"),
            items=stat("item_scraped_count"),
            bytes=stat("downloader/response_bytes"),
            js_pages=stat("harvest/js_pages"),
            js_unavailable=stat("harvest/js_unavailable"),
            cached_responses=cached,
            requests_to_site=max(0, stat("downloader/request_count") - cached),
            raw_uri=raw_uri,
            duration_seconds=round(duration_seconds, 3),
            exit_code=exit_code,
            browser_restarts=stat("harvest/browser_restarts"),
            pages_asked=stat("harvest/pages_asked"),
            ignored_pages=stat("harvest/ignored_requests"),
            finish_reason=str(stats.get("finish_reason") or "unknown"),
            partial=stats.get("finish_reason") == "closespider_timeout",
            item_pages=stat("harvest/item_pages"),
            empty_levels=stat("harvest/empty_levels"),
            first_empty_level=stats.get("harvest/first_empty_level"),
            first_failure=stats.get("harvest/first_failure"),
            max_pages_skipped=stat("harvest/max_pages_skipped"),
            depth_limit_skipped=stat("harvest/depth_limit_skipped"),
            monitors=list(monitors or []),
            replayed_from_cache=bool(stats.get("harvest/replayed_from_cache")),
            monitors_cpu_seconds=float(stats.get("harvest/monitors_cpu_seconds") or 0.0),
            **completeness_fields(stats),
        )


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``HARVEST_*`` variables that make ``Settings.from_env()`` equal ``settings``."""
    return {
        "HARVEST_HOME": str(settings.home),
        "HARVEST_SOURCES_DIR": str(settings.sources_dir),
        "HARVEST_RAW_STORE_URL": settings.raw_store_url,
        "HARVEST_WAREHOUSE_URL": settings.warehouse_url,
        "HARVEST_CACHE_URL": settings.cache_url or "",
        "HARVEST_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "HARVEST_STATSD_HOST": settings.statsd_host,
        "HARVEST_STATSD_PORT": str(settings.statsd_port),
        "HARVEST_STATSD_PREFIX": settings.statsd_prefix,
        "HARVEST_USER_AGENT": settings.user_agent,
        "HARVEST_HTTPCACHE_RETENTION_DAYS": str(settings.http_cache_retention_days),
        "HARVEST_REPLAY_CACHE": "true" if settings.replay_cache else "false",
    }


def _child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {}), **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    package_root = str(Path(harvest.__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([package_root, *paths])
    return env


def run_crawl(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings | None = None,
    *,
    base_url: str | None = None,
    logger: logging.Logger | None = None,
    timeout_seconds: float | None = None,
    extra_scrapy_settings: dict[str, Any] | None = None,
    recent_item_counts: list[int] | None = None,
    env: Mapping[str, str] | None = None,
) -> CrawlResult:
    """Crawl ``spec`` for ``logical_date`` in a child process; raise :class:`CrawlError` on failure.

    Failed pages do not fail the crawl: they are recorded in the raw store with their error.
    ``extra_scrapy_settings`` (JSON-serialisable) override the settings built from the spec.
    ``recent_item_counts``: records scraped in the source's recent partitions, for the
    ``item_count_vs_median`` monitor (see :mod:`harvest.crawler.monitor_settings`; None or []: skipped).
    ``env``: more variables for the crawl process (a login's Connection: :mod:`harvest.config.credentials`).
    With ``timeout_seconds`` the crawl stops itself before it and writes what it fetched; such a
    partial partition raises :class:`CrawlError` (with its counts) when the spec's
    ``crawl.on_deadline`` is ``fail``, and is returned with ``partial=True`` and a warning when it
    is ``warn``. A crawl still running at the timeout is killed; the pages it wrote stay in
    the partition's journal (:class:`~harvest.storage.raw.FileRawStore`). A crawl that fails
    raises :class:`CrawlError` with its own word on why (``harvest/crawl_error``: a login)."""
    settings = settings or Settings.from_env()
    logger = logger or logging.getLogger("harvest.scraping")
    partition = Partition.of(spec.name, partition)
    logical_date = partition.day
    with tempfile.TemporaryDirectory(prefix="harvest-crawl-") as tmp:
        spec_path = Path(tmp) / f"{spec.name}.yaml"
        spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        stats_path = Path(tmp) / "stats.json"
        command = [sys.executable, "-m", "harvest.crawler.crawl", "--spec", str(spec_path)]
        command += ["--date", partition.iso, "--stats-out", str(stats_path)]
        if partition.data_interval_start is not None:  # {start}/{end} of a scheduled run
            command += ["--interval-start", partition.interval_start.isoformat()]
            command += ["--interval-end", partition.interval_end.isoformat()]
        if base_url:
            command += ["--base-url", base_url]
        extra = dict(extra_scrapy_settings or {})
        if recent_item_counts:
            extra.setdefault("HARVEST_RECENT_ITEM_COUNTS", [int(n) for n in recent_item_counts])
        if extra:
            command += ["--scrapy-settings", json.dumps(extra)]
        if timeout_seconds:
            command += ["--deadline", repr(time.time() + timeout_seconds)]
        logger.info(
            "Crawling source %s for %s (timeout %s)",
            spec.name,
            logical_date.isoformat(),
            f"{timeout_seconds:g} s" if timeout_seconds else "none",
        )
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        started = time.monotonic()
        child_env = _child_env(settings, env)
        warm = take_warm_child(child_env)  # one started ahead (make demo), else a new one
        ordered = warm.order(command[3:], child_env) if warm is not None else None
        if ordered is not None:
            proc, progress_fd = ordered
        else:
            progress_fd, child_progress_fd = os.pipe()  # the child's pages done/asked
            command += ["--progress-fd", str(child_progress_fd)]
            try:
                proc = _spawn(command, child_env, (child_progress_fd,))
            except BaseException:
                os.close(progress_fd)
                raise
            finally:
                os.close(child_progress_fd)  # the child's copy stays open until it ends
        watcher = threading.Thread(
            target=_read_progress,
            args=(progress_fd, f"crawling {spec.name}"),
            name="crawl-progress",
            daemon=True,
        )
        watcher.start()
        reader = threading.Thread(
            target=_stream, args=(proc.stdout, logger, tail), name="crawl-log", daemon=True
        )
        reader.start()
        try:
            with _forward_sigterm(proc):
                exit_code = proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            reader.join(timeout=5)
            watcher.join(timeout=5)
            raise CrawlError(
                spec.name,
                logical_date,
                proc.returncode if proc.returncode is not None else -9,
                list(tail),
                f"timed out after {timeout_seconds:g} s and was killed{_kept(spec, logical_date, settings)}",
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        reader.join(timeout=10)
        watcher.join(timeout=5)  # its bar is gone before the caller prints anything
        duration = time.monotonic() - started
        if exit_code != 0:  # the crawl's own word on why (a refused login: no retry fixes it)
            said = (
                json.loads(stats_path.read_text()).get(CRAWL_ERROR) if stats_path.exists() else None
            )
            why = f"failed: {said or 'see the log'}"
            raise CrawlError(spec.name, logical_date, exit_code, list(tail), why, not said)
        try:
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            why = f"left no stats ({exc})"
            raise CrawlError(spec.name, logical_date, exit_code, list(tail), why) from exc

    store = open_raw_store(settings.raw_store_url)
    try:
        documents = store.count(spec.name, logical_date)
        raw_uri = store.uri(spec.name, logical_date)
    finally:
        store.close()
    result = CrawlResult.from_stats(
        stats,
        source=spec.name,
        logical_date=logical_date,
        documents=documents,
        raw_uri=raw_uri,
        duration_seconds=duration,
        exit_code=exit_code,
        monitors=monitor_results(spec, stats),
    )
    if result.partial:
        counts = (
            f"stopped at its deadline with a partial partition: {result.pages_asked} pages asked, "
            f"{result.pages - result.failed_pages} stored, {result.failed_pages} failed, "
            f"{result.unfinished_pages} never fetched; {result.documents} documents in {raw_uri}"
        )
        if spec.crawl.on_deadline == "fail":
            raise CrawlError(
                spec.name,
                logical_date,
                exit_code,
                [],
                f"{counts} (the spec's crawl.on_deadline is 'fail'; "
                "set it to 'warn' to go on with partial partitions, or allow more time)",
            )
        logger.warning("Crawl of %s for %s %s", spec.name, logical_date.isoformat(), counts)
    logger.info("Crawl of %s for %s done: %s", spec.name, logical_date.isoformat(), result)
    log_account(logger, f"Crawl of {spec.name} for {logical_date.isoformat()}", result.completeness)
    return result


def _kept(spec: SourceSpec, logical_date: dt.date, settings: Settings) -> str:
    """What a killed crawl left in the file raw store's journal, for the error message."""
    store = open_raw_store(settings.raw_store_url)
    try:
        journal = getattr(store, "journal_path", None)
        if journal is None:
            return ""
        path = journal(spec.name, logical_date)
        if not path.exists():
            return ""
        with path.open(encoding="utf-8") as handle:
            kept = sum(1 for line in handle if line.strip())
        return (
            f"; {kept} documents it had written are kept in {path} (not in the partition, "
            "which is as it was; the next crawl of this partition starts afresh)"
        )
    finally:
        store.close()
