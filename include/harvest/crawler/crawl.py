"""Run ONE crawl in this process and write its final Scrapy stats as JSON.

``python -m harvest.crawler.crawl --spec PATH --date YYYY-MM-DD [--interval-start ISO
--interval-end ISO] [--base-url URL] [--stats-out PATH] [--scrapy-settings JSON]
[--deadline UNIX_SECONDS] [--progress-fd N]``

The date and data interval are read once, here (an edge), into the :class:`Partition` the
spider, the item pipeline and the HTTP cache share.

Twisted's reactor cannot be restarted, so every crawl is its own process; call
:func:`harvest.scraping.runner.run_crawl` rather than this module directly. Harvest's settings
come from the ``HARVEST_*`` environment variables. With ``--deadline`` the crawl stops itself
early enough for in-flight downloads to end (cut if they would not) and the raw store to be
written before the deadline (:mod:`harvest.crawler.deadline`); its stats then say
``finish_reason: closespider_timeout`` (a partial partition). Exit codes: 0 crawled, completely or up to its deadline (failed pages are
recorded, not fatal), 1 the crawl did not finish cleanly (e.g. the raw store could not be
written), 2 bad arguments or spec.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from harvest.config.settings import Settings
from harvest.partitions import Partition, partition_date

logger = logging.getLogger("harvest.crawler.crawl")
DEADLINE_FINISH_REASON = "closespider_timeout"
REPLAY_STOPPED_ENV = "HARVEST_REPLAY_STOPPED"  # set for the crawl that follows a stopped replay
CLOSE_SECONDS = 10.0  # after the last download: spider close, raw-store merge, process exit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harvest.crawler.crawl", description=__doc__)
    parser.add_argument("--spec", required=True, type=Path, help="source spec YAML file")
    parser.add_argument("--date", required=True, type=partition_date, help="logical date")
    parser.add_argument(
        "--interval-start", type=dt.datetime.fromisoformat, help="data interval start (ISO)"
    )
    parser.add_argument("--interval-end", type=dt.datetime.fromisoformat, help="its end (ISO)")
    parser.add_argument("--base-url", default=None, help="override the spec's base URL")
    parser.add_argument("--stats-out", type=Path, default=None, help="write final stats here")
    parser.add_argument(
        "--scrapy-settings", default=None, help="JSON object of Scrapy settings to override"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="Unix time by which the crawl must have stopped and written its pages",
    )
    parser.add_argument(
        "--progress-fd",
        type=int,
        default=None,
        help="file descriptor (a pipe) to write the pages done and asked to, as JSON lines "
        "(harvest.crawler.progress)",
    )
    return parser.parse_args(argv)


def stop_times(deadline: float, download_timeout: float, now: float) -> tuple[float, float]:
    """``(stop, cut)`` in Unix seconds for a crawl that must have ended by ``deadline``
    (:mod:`harvest.crawler.deadline`): at the stop the spider closes, by the cut every download
    has ended. The cut leaves :data:`CLOSE_SECONDS` (at most a quarter of the time left) to
    close and write; the stop leaves in-flight downloads up to ``download_timeout`` (at most a
    quarter of what is left before the cut) to finish. Neither is before ``now``."""
    left = max(0.0, deadline - now)
    cut = now + left - min(CLOSE_SECONDS, left / 4)
    stop = cut - min(download_timeout, (cut - now) / 4)
    return max(now, stop), max(now, cut)


def crawl_failed(stats: dict[str, Any]) -> str | None:
    """Why a finished crawl is not a success, or None."""
    reason = stats.get("finish_reason")
    if stats.get("harvest/crawl_error"):  # the spider said why (a login that failed)
        return str(stats["harvest/crawl_error"])
    if reason not in ("finished", DEADLINE_FINISH_REASON):
        return f"the crawl stopped early ({reason})"
    if stats.get("harvest/store_errors"):
        return f"{stats['harvest/store_errors']} batch(es) could not be written to the raw store"
    return None


def main(argv: list[str] | None = None) -> int:
    from harvest.config.spec import SpecError, load_spec

    args = parse_args(argv)
    try:
        spec = load_spec(args.spec)
        extra = json.loads(args.scrapy_settings) if args.scrapy_settings else {}
    except (SpecError, ValueError) as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("%s", exc)
        return 2

    from scrapy.crawler import CrawlerProcess

    from harvest.crawler.settings import build_scrapy_settings
    from harvest.crawler.spiders import SpiderLoadError, load_spider_class

    settings = Settings.from_env()
    try:
        partition = Partition(spec.name, args.date, args.interval_start, args.interval_end)
        spider_cls = load_spider_class(spec)
        scrapy_settings = build_scrapy_settings(spec, settings, partition, extra, args.base_url)
    except (SpiderLoadError, ValueError) as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("%s", exc)
        return 2
    imported()

    if args.deadline is not None:
        from harvest.crawler.deadline import CUT_AT_SETTING, STOP_AT_SETTING

        stop, cut = stop_times(
            args.deadline, float(scrapy_settings["DOWNLOAD_TIMEOUT"]), time.time()
        )
        scrapy_settings[STOP_AT_SETTING], scrapy_settings[CUT_AT_SETTING] = stop, cut
    if args.progress_fd is not None:
        from harvest.crawler.progress import FD_SETTING

        os.set_inheritable(args.progress_fd, False)  # not to the browsers this crawl starts
        scrapy_settings[FD_SETTING] = args.progress_fd
        scrapy_settings["EXTENSIONS"]["harvest.crawler.progress.ProgressReport"] = 0
    stats = replayed(spider_cls, scrapy_settings, spec, partition, args.base_url)
    if stats is None:
        process = CrawlerProcess(scrapy_settings)  # LOG_INSTALL_ROOT_HANDLER: True by default
        _json_logs(settings, spec.name, args.date)
        crawler = process.create_crawler(spider_cls)
        process.crawl(crawler, spec=spec, logical_date=partition, base_url=args.base_url)
        process.start()
        stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    if args.stats_out:
        args.stats_out.parent.mkdir(parents=True, exist_ok=True)
        args.stats_out.write_text(json.dumps(stats, default=str, indent=2, sort_keys=True))
    problem = crawl_failed(stats)
    if problem:
        logger.error("source %s, %s: %s", spec.name, args.date, problem)
        return 1
    if stats.get("finish_reason") == DEADLINE_FINISH_REASON:
        logger.warning(
            "source %s, %s: the crawl stopped at its deadline; the partition is partial",
            spec.name,
            args.date,
        )
        return 0
    logger.info("source %s, %s: crawl finished", spec.name, args.date)
    return 0


_json_logging: list[bool] = []  # set once the JSON log lines are on (a replay, then Scrapy)


def _json_logs(settings: Settings, source: str, day: dt.date) -> None:
    """JSON log lines beside the text lines the parent streams to the task log (harvest.logjson)."""
    if settings.log_format == "json" and not _json_logging:
        from harvest.logjson import airflow_task_fields, log_json_to_file

        _json_logging.append(True)
        fields = {"source": source, "date": day.isoformat(), **airflow_task_fields()}
        log_json_to_file("crawl", settings.json_log_dir, fields)


def replayed(
    spider_cls: type,
    scrapy_settings: dict[str, Any],
    spec: Any,
    partition: Partition,
    base_url: str | None,
) -> dict[str, Any] | None:
    """The stats of the crawl replayed from its HTTP cache (:mod:`harvest.crawler.replay`), or
    None (said in the log, with why) when it has to be crawled with Scrapy."""
    from scrapy.settings import Settings as ScrapySettings
    from scrapy.utils.log import configure_logging

    from harvest.crawler.replay import REPLAY_SETTING, ReplayStopped, replay_cached

    if not scrapy_settings.get(REPLAY_SETTING):
        return None
    if os.environ.get(REPLAY_STOPPED_ENV):  # this process is the crawl after a stopped replay
        return None
    configure_logging(ScrapySettings({**scrapy_settings, "LOG_INSTALL_ROOT_HANDLER": True}))
    _json_logs(Settings.from_env(), spec.name, partition.day)
    try:
        stats = replay_cached(
            spider_cls, scrapy_settings, spec=spec, logical_date=partition, base_url=base_url
        )
    except ReplayStopped as exc:
        logger.info(
            "source %s, %s: not replayed from the HTTP cache (%s): crawling with Scrapy",
            spec.name, partition.iso, exc,
        )  # fmt: skip
        if (
            "twisted.internet.reactor" in sys.modules
        ):  # a reactor Scrapy did not choose: start afresh
            _crawl_afresh(scrapy_settings)
        return None
    logger.info(
        "source %s, %s: replayed from the HTTP cache: every page was in it, none asked of the site",
        spec.name, partition.iso,
    )  # fmt: skip
    return stats


def _crawl_afresh(scrapy_settings: dict[str, Any]) -> None:
    """Replace this process with a new crawl process for the same arguments, without the
    replay: Twisted's reactor cannot be swapped once installed."""
    from harvest.crawler.progress import FD_SETTING

    fd = scrapy_settings.get(FD_SETTING)
    if fd is not None:
        os.set_inheritable(int(fd), True)
    logging.shutdown()
    os.environ[REPLAY_STOPPED_ENV] = "1"
    argv = [sys.executable, "-m", "harvest.crawler.crawl", *sys.argv[1:]]
    os.execv(sys.executable, argv)  # noqa: S606 - this interpreter, this crawl's own arguments


# Optional modules that libraries of the crawl import when they are installed, for features a
# crawl never uses (Airflow's dependencies install them): redis-py 8 imports OpenTelemetry's
# metrics SDK for metrics that are on only when configured in code (25 ms of CPU with the Redis
# cache), and jsonschema, which Spidermon imports, the URI and duration libraries of two of its
# ``format`` checkers (``rfc3987`` with ``regex``, ``isoduration`` with ``arrow``: 21 ms) for
# JSON Schemas the crawl never validates. A cached re-run paid them at each start. None in
# ``sys.modules`` makes their import fail as if they were not installed, which both libraries
# handle as such (jsonschema then has no checker for those formats): only in this process.
UNUSED_MODULES = ("opentelemetry.sdk.metrics", "rfc3987", "isoduration")


def leave_out_unused_modules() -> None:
    """Keep :data:`UNUSED_MODULES` out of this process (call before Scrapy is imported)."""
    for name in UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


# The cyclic garbage collector's generation thresholds once the crawl process has imported
# (Python's default: 700, 10, 10). A crawl allocates objects a page (requests, responses, lxml
# proxies) that reference counting frees; the collector ran 290 young and 2 full collections
# in a cached re-run of 1000 listings, each full one walking every object the imports made.
GC_THRESHOLD = (7000, 10, 10)


def start_up() -> None:
    """How this process starts as a crawl process: without :data:`UNUSED_MODULES`, and with
    the garbage collector off while it imports Scrapy, Twisted, pydantic and the crawl's
    components (until :func:`imported`): the collector's part alone is 55-70 ms less CPU in a
    cached re-run of 1000 listings (1.1 s), whose start-up and pages are all CPU."""
    leave_out_unused_modules()
    gc.disable()


def imported() -> None:
    """The crawl's modules are imported: what they made is moved out of the collector's sight
    (:func:`gc.freeze`: it lives as long as the process) and the collector runs again, at
    :data:`GC_THRESHOLD`. Nothing to do in a process :func:`start_up` did not start."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    gc.enable()


def exit_now(code: int) -> None:
    """End the crawl process with ``code`` once its output is out, without tearing the
    interpreter down: everything that matters is on disk by now (the raw partition committed,
    the HTTP cache writer joined, the stats written) and freeing Scrapy, Twisted, lxml and
    Spidermon object by object took about a second, paid again by every crawl and re-run."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    start_up()
    exit_now(main())
