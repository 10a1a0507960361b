"""Scrapy settings for one crawl, built from the source spec and Harvest's settings.

Polite by default: robots.txt obeyed per RFC 9309 with its Crawl-delay (unless the spec says
otherwise), a minimum delay between requests to a site, AutoThrottle that never goes below a
site's own delay, a per-domain concurrency cap, a clear user agent, Retry-After honoured and a
site slowed down after a 429, retries of 5xx and network errors with exponential backoff, page
size and depth limits, and an HTTP cache per partition that keeps only complete 2xx responses
(so a re-run of a date fetches only what failed, and no date is served another date's pages).
The spec's ``monitors:`` add Spidermon's extension and settings (:mod:`harvest.crawler.monitor_settings`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

from scrapy.settings import default_settings

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.crawler.monitor_settings import EXTENSION, EXTENSION_ORDER, monitor_settings
from harvest.partitions import Partition

RETRY_HTTP_CODES = [500, 502, 503, 504, 520, 521, 522, 523, 524, 408, 429]
# Every 5xx (and throttling) is a failure to re-fetch next time, never a page to keep.
CACHE_IGNORE_HTTP_CODES = [*range(500, 600), 408, 429]
RETRY_BACKOFF_SECONDS = 0.5
RETRY_BACKOFF_MAX_SECONDS = 30.0
PIPELINE_BATCH_SIZE = 500  # the file store rewrites its partition per batch

# telnet and remote control are off (TELNETCONSOLE_ENABLED, REMOTE_CONTROL_ENABLED); pages go
# to the raw store, never to a feed
UNUSED_EXTENSIONS = frozenset(
    {
        "scrapy.extensions.telnet.TelnetConsole",
        "scrapy.extensions.remote_control.RemoteControl",
        "scrapy.extensions.feedexport.FeedExporter",
    }
)
_MIDDLEWARES = "harvest.crawler.middlewares"
_OUTCOMES = "harvest.crawler.outcomes"


def build_scrapy_settings(
    spec: SourceSpec,
    settings: Settings,
    partition: Partition | dt.date,
    extra: dict[str, Any] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The settings dict for crawling ``spec`` for one partition; ``extra`` overrides any key."""
    partition = Partition.of(spec.name, partition)
    crawl = spec.crawl
    cache_url = settings.cache_url
    if cache_url and not cache_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"source {spec.name}: cache URL {cache_url!r} is not supported; "
            "use redis://host:port/db or leave HARVEST_CACHE_URL unset for the on-disk cache"
        )
    values: dict[str, Any] = {
        "BOT_NAME": "harvest",
        "USER_AGENT": settings.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "LOGSTATS_INTERVAL": 30.0,
        # Scrapy's stats without its per-read deprecation wrapper (harvest.crawler.stats)
        "STATS_CLASS": "harvest.crawler.stats.HarvestStatsCollector",
        # politeness
        "CONCURRENT_REQUESTS": max(16, 2 * crawl.concurrency_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        # A page yields one item; Scrapy's default of 100 starts 100 tasks per response.
        "CONCURRENT_ITEMS": 8,
        "DOWNLOAD_DELAY": crawl.download_delay_seconds,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": crawl.autothrottle_target_concurrency,
        # AutoThrottle starts at the spec's least gap and adapts to the latency from there: a
        # forced 1 s start spaced a chain of next pages 1 s apart on a spec that asked for 0
        "AUTOTHROTTLE_START_DELAY": crawl.download_delay_seconds,
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "DOWNLOAD_DELAY_JITTER": 0,  # the delay is a minimum gap, not an average
        # Scrapy imports every extension of its base list to merge it with EXTENSIONS, even a
        # disabled one: leaving the unused ones out of the base spares the crawl importing
        # aiohttp and twisted.conch (a second of start-up on a busy machine, paid again by
        # every cached re-run)
        "EXTENSIONS_BASE": {
            name: order
            for name, order in default_settings.EXTENSIONS_BASE.items()
            if name not in UNUSED_EXTENSIONS
        },
        "EXTENSIONS": {
            "scrapy.extensions.throttle.AutoThrottle": None,
            "harvest.crawler.throttle.SiteAutoThrottle": 0,
            "harvest.crawler.throttle.SiteSlowDown": 0,
            # a crawl with a deadline stops in time (HARVEST_STOP_AT, set by crawler.crawl)
            "harvest.crawler.deadline.DeadlineStop": 0,
        },
        # Scrapy's HTTP/1.1 handler, every download ending by the deadline's cut (HARVEST_CUT_AT)
        "DOWNLOAD_HANDLERS": {
            "http": "harvest.crawler.deadline_handler.DeadlineDownloadHandler",
            "https": "harvest.crawler.deadline_handler.DeadlineDownloadHandler",
        },
        "HARVEST_MAX_CRAWL_DELAY_SECONDS": crawl.max_crawl_delay_seconds,
        "HARVEST_MAX_RETRY_AFTER_SECONDS": crawl.max_retry_after_seconds,
        # limits
        "DOWNLOAD_MAXSIZE": crawl.download_maxsize_bytes,
        "DOWNLOAD_WARNSIZE": crawl.download_warnsize_bytes,
        "DEPTH_LIMIT": crawl.max_depth or 0,
        "SPIDER_MIDDLEWARES": {
            "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
            "harvest.crawler.limits.DepthLimitMiddleware": 900,
            # an exception while extracting a page makes it a failed page (harvest.crawler.outcomes)
            f"{_OUTCOMES}.PageErrorMiddleware": 950,
        },
        # reliability
        "DOWNLOAD_TIMEOUT": crawl.download_timeout_seconds,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "HARVEST_RETRY_BACKOFF_SECONDS": RETRY_BACKOFF_SECONDS,
        "HARVEST_RETRY_BACKOFF_MAX_SECONDS": RETRY_BACKOFF_MAX_SECONDS,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "harvest.crawler.robots.RobotsTxtMiddleware": 100,
            "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
            "harvest.crawler.limits.HttpCompressionMiddleware": 590,
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            f"{_MIDDLEWARES}.BackoffRetryMiddleware": 550,
            f"{_MIDDLEWARES}.FetchTimeMiddleware": 940,
            f"{_MIDDLEWARES}.SeleniumMiddleware": 950,
            # every page ends stored or failed with its reason (see harvest.crawler.outcomes)
            "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            f"{_OUTCOMES}.TracedRedirectMiddleware": 600,
            f"{_OUTCOMES}.TracedMetaRefreshMiddleware": 580,
            f"{_OUTCOMES}.PageCheckMiddleware": 560,
            f"{_OUTCOMES}.BodyCheckMiddleware": 910,  # before the HTTP cache: nothing bad cached
        },
        "HARVEST_BLOCKED_URL_PATTERNS": crawl.blocked_url_patterns,
        "HARVEST_BLOCKED_SELECTOR": crawl.blocked_selector,
        # JSON pages are read only by a spec with a JMESPath selector; otherwise they fail
        "HARVEST_READS_JSON": spec.reads_json,
        # HTTP cache per partition (HARVEST_SOURCE, HARVEST_LOGICAL_DATE): only complete 2xx
        # responses are stored, so a re-run re-fetches exactly the failures
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_POLICY": "harvest.crawler.http_cache_storage.HarvestCachePolicy",
        "HTTPCACHE_IGNORE_HTTP_CODES": CACHE_IGNORE_HTTP_CODES,
        "HTTPCACHE_EXPIRATION_SECS": settings.http_cache_retention_days * 24 * 3600,
        "HTTPCACHE_DIR": str(settings.http_cache_dir),
        "HTTPCACHE_STORAGE": (
            "harvest.crawler.http_cache_storage.RedisCacheStorage"
            if cache_url
            else "harvest.crawler.http_cache_storage.FilesystemCacheStorage"
        ),
        "HARVEST_CACHE_URL": cache_url,
        # a re-run whose every page is cached is replayed without Scrapy's engine
        # (harvest.crawler.replay); off: always crawled with Scrapy
        "HARVEST_REPLAY_CACHE": settings.replay_cache,
        # JavaScript pages
        "HARVEST_BROWSERS": crawl.browsers,
        "HARVEST_JS_WAIT_FOR": spec.javascript.wait_for,
        "HARVEST_JS_TIMEOUT_SECONDS": spec.javascript.timeout_seconds,
        "HARVEST_CHROMIUM_PATH": shutil.which("chromium") or shutil.which("chromium-browser"),
        "HARVEST_CHROMEDRIVER_PATH": shutil.which("chromedriver"),
        # the raw store
        "ITEM_PIPELINES": {"harvest.crawler.pipelines.RawStorePipeline": 300},
        "HARVEST_SOURCE": spec.name,
        "HARVEST_PARTITION": partition,  # the child's Partition, parsed once (crawl.py)
        "HARVEST_LOGICAL_DATE": partition.iso,
        "HARVEST_RAW_STORE_URL": settings.raw_store_url,
        "HARVEST_PIPELINE_BATCH_SIZE": PIPELINE_BATCH_SIZE,
        # URLs are stored under the spec's own base URL, wherever the site is reached this time
        "HARVEST_BASE_URL": (base_url or spec.resolved_base_url()).rstrip("/"),
        "HARVEST_CANONICAL_BASE_URL": spec.base_url,
    }
    # scrape health: Spidermon's monitors, run when the spider closes (harvest.crawler.monitor_settings)
    values.update(monitor_settings(spec))
    if spec.monitors.enabled:
        values["EXTENSIONS"][EXTENSION] = EXTENSION_ORDER
    values.update(extra or {})
    return values
