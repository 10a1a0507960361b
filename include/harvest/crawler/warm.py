"""The crawl child started ahead of its crawl (parent side: :mod:`harvest.scraping.warm`).

``python -m harvest.crawler.warm --order-fd N [--monitors]`` imports what every crawl imports
(:data:`PRELOAD`; with ``--monitors`` what a crawl with monitors imports too), then waits for its order: one JSON object ``{"argv": [...], "env": {...},
"cwd": "..."}`` read from file descriptor ``N`` up to its end. It then takes that working
directory, exactly that environment and those arguments and runs the crawl as ``python -m
harvest.crawler.crawl ARGV`` would (:func:`harvest.crawler.crawl.main`, exit code and all).
An order pipe closed with nothing in it (the parent ended it unused) ends the process with
exit code 0, having crawled nothing. Nothing is read from the environment before the order:
what :data:`PRELOAD` imports reads it when the crawl runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from harvest.crawler import crawl

# What every crawl imports before its first request, whatever the spec: Scrapy's engine, its
# default components and Harvest's (the crawl's own settings load them all), checked against a
# real crawl's modules by tests/integration/test_crawl_warm.py. None installs Twisted's reactor.
PRELOAD = (
    "scrapy.crawler",
    "scrapy.core.engine",
    "scrapy.core.downloader.handlers.http11",
    "scrapy.core.downloader.handlers.datauri",
    "scrapy.core.downloader.handlers.file",
    "scrapy.core.downloader.handlers.ftp",
    "scrapy.core.downloader.handlers.s3",
    "scrapy.downloadermiddlewares.cookies",
    "scrapy.downloadermiddlewares.defaultheaders",
    "scrapy.downloadermiddlewares.downloadtimeout",
    "scrapy.downloadermiddlewares.httpauth",
    "scrapy.downloadermiddlewares.httpcache",
    "scrapy.downloadermiddlewares.httpproxy",
    "scrapy.downloadermiddlewares.offsite",
    "scrapy.downloadermiddlewares.stats",
    "scrapy.downloadermiddlewares.useragent",
    "scrapy.dupefilters",
    "scrapy.extensions.closespider",
    "scrapy.extensions.corestats",
    "scrapy.extensions.httpcache",
    "scrapy.extensions.logcount",
    "scrapy.extensions.logstats",
    "scrapy.extensions.memdebug",
    "scrapy.extensions.memusage",
    "scrapy.extensions.spiderstate",
    "scrapy.logformatter",
    "scrapy.pqueues",
    "scrapy.robotstxt",
    "scrapy.spidermiddlewares.metacopy",
    "scrapy.spidermiddlewares.start",
    "scrapy.spidermiddlewares.urllength",
    "scrapy.squeues",
    "scrapy.statscollectors",
    "harvest.crawler.settings",
    "harvest.crawler.spiders",
    "harvest.crawler.spiders.generic",
    "harvest.crawler.middlewares",
    "harvest.crawler.outcomes",
    "harvest.crawler.limits",
    "harvest.crawler.robots",
    "harvest.crawler.throttle",
    "harvest.crawler.deadline",
    "harvest.crawler.deadline_handler",
    "harvest.crawler.http_cache_storage",
    "harvest.crawler.pipelines",
    "harvest.crawler.progress",
    "harvest.crawler.replay",
    "harvest.crawler.stats",
)
# With ``--monitors``: what a crawl whose spec runs monitors imports besides (Spidermon).
PRELOAD_MONITORS = ("harvest.crawler.monitors",)


def read_order(fd: int) -> dict[str, object] | None:
    """The order written to ``fd`` (read to its end), or None for an empty one."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    return json.loads(data) if data.strip() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harvest.crawler.warm", description=__doc__)
    parser.add_argument("--order-fd", type=int, required=True, help="pipe the order comes on")
    parser.add_argument("--monitors", action="store_true", help="the spec runs crawl monitors")
    args = parser.parse_args(argv)
    for name in PRELOAD + (PRELOAD_MONITORS if args.monitors else ()):
        importlib.import_module(name)
    order = read_order(args.order_fd)
    if order is None:
        return 0
    crawl_argv = [str(a) for a in order["argv"]]  # type: ignore[attr-defined]
    os.chdir(str(order["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in order["env"].items()})  # type: ignore[attr-defined]
    sys.argv = [crawl.__file__, *crawl_argv]  # what a re-exec (crawl._crawl_afresh) runs again
    return crawl.main(crawl_argv)


if __name__ == "__main__":
    crawl.start_up()  # as the crawl's own start does, before Scrapy: main() ends it
    crawl.exit_now(main())
