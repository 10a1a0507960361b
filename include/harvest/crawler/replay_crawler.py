"""What the replay (:mod:`harvest.crawler.replay`) builds the crawl's components with, in place
of Scrapy's crawler and engine: Scrapy's own settings, signal manager, stats collector and
request fingerprinter, an engine whose only service is a download from the cache, and the calls
of component methods as Scrapy makes them, run to their end without a reactor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.settings import Settings as ScrapySettings
from scrapy.signalmanager import SignalManager
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from harvest.crawler.replay import Replay


class ReplayStopped(BaseException):
    """The replay cannot give what a crawl would (a page not in the cache, something that needs
    the engine): crawl with Scrapy instead. ``str()`` says why.

    A :class:`BaseException`, as :class:`GeneratorExit` is: it must pass through every
    ``except Exception`` of the components it crosses (the robots.txt middleware retries what
    fails, the spider middlewares turn an exception into a failed page) to end the replay."""


def run_now(value: Any, where: str) -> Any:
    """``value``, or the result of an awaitable or Deferred that completes without waiting; a
    wait (on the network, a timer) stops the replay."""
    if value is None or isinstance(value, (Request, Response)):  # what most calls give
        return value
    if isinstance(value, Deferred):
        if not value.called:
            raise ReplayStopped(f"{where} waits for something")
        result = value.result
        if isinstance(result, Failure):
            result.raiseException()
        return result
    if inspect.isawaitable(value):
        steps = value.__await__()
        try:
            waited = steps.send(None)
        except StopIteration as done:
            return done.value
        steps.close()
        raise ReplayStopped(f"{where} waits for {type(waited).__name__}")
    return value


_SPIDER_ARG: dict[Any, bool] = {}


def call(method: Callable[..., Any], spider: Any, **kwargs: Any) -> Any:
    """A component method called as Scrapy calls it: ``spider=`` only when it requires one."""
    key = getattr(method, "__func__", method)
    needs = _SPIDER_ARG.get(key)
    if needs is None:
        parameter = inspect.signature(method).parameters.get("spider")
        needs = _SPIDER_ARG[key] = parameter is not None and parameter.default is parameter.empty
    if needs:
        kwargs["spider"] = spider
    return method(**kwargs)


class ReplayEngine:
    """What components ask of Scrapy's engine: ``download_async`` (robots.txt) from the replay,
    and no downloader (no slots to pace)."""

    downloader = None
    spider = None

    def __init__(self, replay: Replay) -> None:
        self.replay = replay

    async def download_async(self, request: Request) -> Response:
        result = self.replay.download(request)
        if isinstance(result, Failure):
            result.raiseException()
        if isinstance(result, Request):
            raise ReplayStopped(f"{request.url} was redirected to {result.url}")
        return result


class ReplaySignals(SignalManager):
    """Scrapy's signal manager, whose asynchronous send runs the receivers at once (Scrapy's
    needs a reactor to decide how to wait; the crawl's receivers do not wait)."""

    async def send_catch_log_async(self, signal: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
        return self.send_catch_log(signal, **kwargs)


class ReplayCrawler:
    """The crawler the components are built with: settings, signals, stats, the request
    fingerprinter and the spider (Scrapy's own classes), and :class:`ReplayEngine`."""

    def __init__(self, settings: ScrapySettings) -> None:
        self.settings = settings
        self.signals = ReplaySignals(self)
        self.stats = load_object(settings["STATS_CLASS"])(self)
        self.spider: Any = None
        self.engine: Any = None
        self.request_fingerprinter = build(settings["REQUEST_FINGERPRINTER_CLASS"], self)


def build(path: str | type, crawler: ReplayCrawler) -> Any:
    """A component (a class or its dotted path) built as Scrapy builds it, with ``crawler``."""
    cls = load_object(path) if isinstance(path, str) else path
    return build_from_crawler(cls, cast("Crawler", crawler))


def components(settings: ScrapySettings, name: str) -> list[str]:
    return build_component_list(settings.get_component_priority_dict_with_base(name))


def build_all(crawler: ReplayCrawler, paths: Iterable[str]) -> list[Any]:
    built = []
    for path in paths:
        try:
            built.append(build(path, crawler))
        except NotConfigured:
            continue
    return built


def failure_of(exc: BaseException, request: Request) -> Failure:
    """The failure of ``request`` as Scrapy hands it to an errback (``failure.request`` set)."""
    failure = Failure(exc)  # type: ignore[no-untyped-call]
    failure.request = request  # type: ignore[attr-defined]
    return failure
