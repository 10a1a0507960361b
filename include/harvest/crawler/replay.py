"""A cached re-run without starting Scrapy's engine: the crawl replayed from the HTTP cache.

A re-run of a partition whose every page is in its HTTP cache (the file cache or Redis, see
:mod:`harvest.crawler.http_cache_storage`) asks nothing of the site: Scrapy serves every
response from the cache. What such a run costs is Scrapy's and Twisted's machinery (the reactor,
the engine, the scheduler, deferred chains per middleware) around work that is the same as the
first run's. :func:`replay_cached` does that work in this process, one page after another,
with the crawl's own components built from the same Scrapy settings:

- the spider (the spec's class: the same levels, links, cards, next and numbered pages,
  recursion, shared item pages, JSON pages, extraction and completeness account);
- every downloader middleware of the crawl, called in Scrapy's order (``process_request`` up to
  the HTTP cache, which answers; ``process_response`` of all of them, so the outcome checks,
  decompression, fetch times, robots.txt and the downloader stats run as in a crawl);
- the spider middlewares (depth limit, a page whose extraction fails), the duplicate filter,
  the item pipelines (the raw store, committed as a crawl commits it), and the extensions whose
  work ends up in the stats (core stats, log counts, the Spidermon monitors, the progress
  reports).

The moment a page it needs is not in the cache (never fetched, failed, not cacheable), or
anything needs the engine (a login, a spider that is not Harvest's generic one, a middleware
that waits on the network), it stops with :class:`ReplayStopped` saying why, before anything is
written: the caller (:mod:`harvest.crawler.crawl`) then crawls with Scrapy. The setting
``HARVEST_REPLAY_CACHE`` (``Settings.replay_cache``, default on) turns it off.

Where it differs from Scrapy, by design: pages are handled one at a time, newest request first
(Scrapy's default LIFO order without its concurrency), and the items go to the pipelines once
the whole walk has succeeded (so that a stop leaves no trace in the raw store).
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from scrapy import Request, signals
from scrapy.http import Response
from scrapy.settings import Settings as ScrapySettings
from twisted.python.failure import Failure

from harvest.crawler.replay_crawler import (
    ReplayCrawler,
    ReplayEngine,
    ReplayStopped,
    build,
    build_all,
    call,
    components,
    failure_of,
    run_now,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["REPLAY_SETTING", "Replay", "ReplayStopped", "replay_cached"]

logger = logging.getLogger(__name__)

REPLAY_SETTING = "HARVEST_REPLAY_CACHE"  # Scrapy setting: replay a fully cached partition
REPLAYED_STAT = "harvest/replayed_from_cache"  # set to 1 when a run was replayed
PROGRESS_EVERY = 50  # pages between two progress reports
# The replay keeps its page items (bodies included) until the walk is whole, so that a stop
# writes nothing; a crawl of more pages than this is left to Scrapy, which writes in batches.
MAX_PAGES = 50_000
# Extensions whose work ends up in the stats and that need no engine; the others (throttling,
# the deadline, memory, periodic log lines) only pace or watch a live crawl.
REPLAYED_EXTENSIONS = (
    "scrapy.extensions.corestats.CoreStats",
    "scrapy.extensions.logcount.LogCount",
    "harvest.crawler.monitors.HarvestSpidermon",
)
GENERIC_SPIDER = "harvest.crawler.spiders.generic.GenericSpider"


def refusal(spider_cls: type, settings: ScrapySettings) -> str | None:
    """Why this crawl cannot be replayed at all, or None."""
    if not settings.getbool(REPLAY_SETTING):
        return f"{REPLAY_SETTING} is off"
    if not settings.getbool("HTTPCACHE_ENABLED"):
        return "the HTTP cache is off"
    if f"{spider_cls.__module__}.{spider_cls.__qualname__}" != GENERIC_SPIDER:
        return f"the spider {spider_cls.__qualname__} is not Harvest's generic spider"
    spec = getattr(settings.get("HARVEST_PARTITION"), "source", None)
    if spec is None:
        return "no partition in the settings"
    for name in ("CLOSESPIDER_ITEMCOUNT", "CLOSESPIDER_PAGECOUNT", "CLOSESPIDER_ERRORCOUNT"):
        if settings.getint(name):
            return f"{name} stops the crawl early"
    return None


class Replay:
    """One replayed crawl; :meth:`run` returns its final stats."""

    def __init__(self, spider_cls: type, settings: ScrapySettings, **spider_kwargs: Any) -> None:
        crawler = self.crawler = ReplayCrawler(settings)
        extensions = [
            path for path in components(settings, "EXTENSIONS") if path in REPLAYED_EXTENSIONS
        ]
        self.extensions = build_all(crawler, extensions)
        self.spider: Any = cast("Any", spider_cls).from_crawler(crawler, **spider_kwargs)
        crawler.spider = self.spider
        crawler.engine = ReplayEngine(self)
        crawler.engine.spider = self.spider
        downloader = build_all(crawler, components(settings, "DOWNLOADER_MIDDLEWARES"))
        self.cache: Any = next(
            (mw for mw in downloader if hasattr(mw, "storage") and hasattr(mw, "policy")), None
        )
        if self.cache is None:
            raise ReplayStopped("the crawl has no HTTP cache middleware")
        self.process_request = [
            m.process_request for m in downloader if hasattr(m, "process_request")
        ]
        self.process_response = [
            m.process_response for m in reversed(downloader) if hasattr(m, "process_response")
        ]
        self.process_exception = [
            m.process_exception for m in reversed(downloader) if hasattr(m, "process_exception")
        ]
        spidermw = build_all(crawler, components(settings, "SPIDER_MIDDLEWARES"))
        self.spider_input = [
            m.process_spider_input for m in spidermw if hasattr(m, "process_spider_input")
        ]
        self.spider_output: list[Callable[..., Any] | None] = []
        for mw in reversed(spidermw):
            method = getattr(mw, "process_spider_output", None)
            if method is not None and inspect.isasyncgenfunction(method):
                raise ReplayStopped(
                    f"the spider middleware {type(mw).__name__} is asynchronous only"
                )
            self.spider_output.append(method)  # None keeps the positions of the exception hooks
        self.spider_exception = [
            getattr(m, "process_spider_exception", None) for m in reversed(spidermw)
        ]
        self.process_start = [
            m.process_start for m in reversed(spidermw) if hasattr(m, "process_start")
        ]
        self.pipelines = build_all(crawler, components(settings, "ITEM_PIPELINES"))
        self.dupefilter = build(settings["DUPEFILTER_CLASS"], crawler)
        self.progress = self._progress(crawler)
        self.items: list[Any] = []
        self._queue: list[tuple[int, int, Request]] = []
        self._seq = itertools.count()
        self._pages = 0
        # the cache storage's read-ahead (Redis: the queued pages in one round trip), if any
        self._read_ahead = getattr(self.cache.storage, "read_ahead", None)
        self._read: weakref.WeakSet[Request] = weakref.WeakSet()

    @staticmethod
    def _progress(crawler: ReplayCrawler) -> Any:
        """The crawl's progress reports (:class:`~harvest.crawler.progress.ProgressReport`),
        written every :data:`PROGRESS_EVERY` pages instead of on a timer; None without a pipe."""
        from harvest.crawler.progress import FD_SETTING, ProgressReport

        fd = crawler.settings.getint(FD_SETTING, -1)
        if fd < 0:
            return None
        os.set_blocking(fd, False)
        return ProgressReport(cast("Crawler", crawler), fd)

    # -- the engine's part -------------------------------------------------------------------

    def schedule(self, request: Request) -> None:
        """Scrapy's scheduler: the duplicate filter, then a priority queue, newest first."""
        if not request.dont_filter and self.dupefilter.request_seen(request):
            self.dupefilter.log(request, self.spider)
            return
        heapq.heappush(self._queue, (-request.priority, -next(self._seq), request))

    def download(self, request: Request) -> Response | Request | Failure:
        """The downloader middlewares around the HTTP cache: its response after every
        ``process_response``, a request to schedule, or the failure for the errback. Raises
        :class:`ReplayStopped` when the cache does not hold the page."""
        spider = self.spider
        where = f"the page {request.url}"
        result: Any = None
        try:
            for method in self.process_request:
                result = run_now(call(method, spider, request=request), where)
                if result is not None:
                    break
            else:
                raise ReplayStopped(f"{where} is not in the HTTP cache")
        except ReplayStopped:
            raise
        except Exception as exc:
            result = None
            for method in self.process_exception:
                result = run_now(call(method, spider, request=request, exception=exc), where)
                if result is not None:
                    break
            else:
                return failure_of(exc, request)
        if isinstance(result, Request):
            return result
        try:
            for method in self.process_response:
                result = run_now(call(method, spider, request=request, response=result), where)
                if isinstance(result, Request):
                    return result
        except ReplayStopped:
            raise
        except Exception as exc:
            return failure_of(exc, request)
        return cast("Response", result)

    def run(self) -> dict[str, Any]:
        """Replay the crawl and write it; the final stats. Raises :class:`ReplayStopped` (nothing
        written) when a page is not in the cache or something needs the engine."""
        crawler, spider = self.crawler, self.spider
        crawler.stats.open_spider()
        crawler.signals.send_catch_log(signal=signals.spider_opened, spider=spider)
        try:
            self._walk()
        except BaseException:
            self._abandon()
            raise
        crawler.stats.set_value(REPLAYED_STAT, 1)
        for pipeline in self.pipelines:
            if hasattr(pipeline, "open_spider"):
                call(pipeline.open_spider, spider)
        for item in self.items:
            self._item(item)
        self.items = []
        for pipeline in self.pipelines:
            if hasattr(pipeline, "close_spider"):
                call(pipeline.close_spider, spider)
        crawler.signals.send_catch_log(
            signal=signals.spider_closed, spider=spider, reason="finished"
        )
        if self.progress is not None:
            self.progress.spider_closed()
        stats = dict(crawler.stats.get_stats())
        crawler.stats.close_spider(reason="finished")
        return stats

    def _abandon(self) -> None:
        """Undo what opening did, without closing the spider (which would commit)."""
        for extension in self.extensions:
            if type(extension).__name__ == "LogCount":
                extension.spider_closed(self.spider, "replay stopped")
        self.cache.storage.close_spider(self.spider)
        if self.progress is not None and self.progress.fd is not None:
            self.progress.fd = None  # the Scrapy crawl reports on the same pipe

    def _walk(self) -> None:
        start = self.spider.start()
        for method in self.process_start:  # the start requests through the spider middlewares
            start = method(start)
        while True:
            try:
                request = run_now(start.__anext__(), "the spider's start")
            except StopAsyncIteration:
                break
            if isinstance(request, Request):
                self.schedule(request)
            elif request is not None:
                self.items.append(request)
        while self._queue:
            _, _, request = heapq.heappop(self._queue)
            if self._read_ahead is not None and request not in self._read:
                batch = [request, *(r for _, _, r in self._queue if r not in self._read)]
                self._read.update(batch)
                self._read_ahead(self.spider, batch)
            result = self.download(request)
            if isinstance(result, Request):
                self.schedule(result)
            elif isinstance(result, Failure):
                self._errback(result, request)
            else:
                self._scrape(result, request)
            self._pages += 1
            if self._pages > MAX_PAGES:
                raise ReplayStopped(f"more than {MAX_PAGES} pages to hold until the end")
            if self.progress is not None and self._pages % PROGRESS_EVERY == 0:
                self.progress.report()

    # -- the scraper's part ------------------------------------------------------------------

    def _errback(self, failure: Failure, request: Request) -> None:
        """A failed page: its errback's output, as Scrapy hands it on (no spider middleware)."""
        if request.errback is None:
            if not failure.check(*_ignored()):  # type: ignore[no-untyped-call]
                logger.error("Error downloading %s: %s", request, failure.getErrorMessage())
            return
        self._handle(request.errback(failure), None)

    def _scrape(self, response: Response, request: Request) -> None:
        crawler, spider = self.crawler, self.spider
        response.request = request
        crawler.signals.send_catch_log(
            signal=signals.response_received, response=response, request=request, spider=spider
        )
        callback = request.callback or spider._parse
        try:
            for method in self.spider_input:
                call(method, spider, response=response)
        except Exception as exc:
            if request.errback is None:
                return
            output: Any = request.errback(failure_of(exc, request))
        else:
            output = callback(response, **request.cb_kwargs)
        if inspect.isasyncgen(output) or inspect.isawaitable(output):
            raise ReplayStopped(f"the callback of {request.url} is asynchronous")
        self._handle(self._through(output or (), response, 0), response)

    def _through(self, output: Iterable[Any], response: Response, start: int) -> Iterator[Any]:
        """``output`` through the spider middlewares from position ``start`` (spider side
        first); an exception goes to their ``process_spider_exception`` (Scrapy's order), whose
        answer goes through the middlewares after the one that gave it."""
        chain: Iterable[Any] = output
        for method in self.spider_output[start:]:
            if method is not None:
                chain = call(method, self.spider, response=response, result=chain)
        try:
            yield from chain
        except Exception as exc:
            for position in range(start, len(self.spider_exception)):
                handler = self.spider_exception[position]
                answer = (
                    None
                    if handler is None
                    else call(handler, self.spider, response=response, exception=exc)
                )
                if answer is not None:
                    yield from self._through(answer, response, position + 1)
                    return
            self.crawler.stats.inc_value("spider_exceptions/count")
            self.crawler.stats.inc_value(f"spider_exceptions/{type(exc).__name__}")
            logger.error("Spider error processing %s", response, exc_info=exc)

    def _handle(self, output: Iterable[Any] | None, response: Response | None) -> None:
        for result in output or ():
            if isinstance(result, Request):
                self.schedule(result)
            elif result is not None:
                self.items.append(result)

    def _item(self, item: Any) -> None:
        """One item through the pipelines, then the ``item_scraped`` signal."""
        for pipeline in self.pipelines:
            item = run_now(call(pipeline.process_item, self.spider, item=item), "a pipeline")
        self.crawler.signals.send_catch_log(
            signal=signals.item_scraped, item=item, response=None, spider=self.spider
        )


def _ignored() -> tuple[type, ...]:
    from scrapy.exceptions import IgnoreRequest

    return (IgnoreRequest,)


def replay_cached(
    spider_cls: type, settings: dict[str, Any], **spider_kwargs: Any
) -> dict[str, Any]:
    """Replay the crawl of ``spider_cls`` (built with ``spider_kwargs``) from its HTTP cache
    with the Scrapy ``settings`` of the crawl; its final stats. Raises :class:`ReplayStopped`
    saying why it cannot (nothing is written then)."""
    # A replay downloads nothing, so no download exception can reach the retry middleware;
    # building Scrapy's list of them imports its HTTP/1.1 handler and TLS stack (a fifth of a
    # second of the replay's start-up) for nothing.
    scrapy_settings = ScrapySettings({**settings, "RETRY_EXCEPTIONS": []})
    why = refusal(spider_cls, scrapy_settings)
    if why is None and getattr(spider_kwargs.get("spec"), "login", None) is not None:
        why = "the spec logs in first"
    if why is not None:
        raise ReplayStopped(why)
    return Replay(spider_cls, scrapy_settings, **spider_kwargs).run()
