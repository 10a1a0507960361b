"""The crawl child: a Scrapy project driven by the source spec, run only in the crawl process.

One generic spider (:mod:`.spiders`) walks a source's crawl graph to its item pages and extracts
every field the spec names (:mod:`harvest.extract`); pages that need JavaScript are rendered by a
pool of headless Chromium browsers (:mod:`.browser`, :mod:`.middlewares`); every page, fetched or
failed, ends as an item (:mod:`.items`) or a counted outcome with its reason (:mod:`.outcomes`,
:mod:`.limits`, :mod:`.robots`, :mod:`.throttle`), and an item pipeline upserts it into the raw
store for its partition (:mod:`.pipelines`). HTTP responses are cached per partition
(:mod:`.http_cache_storage`: Redis when configured, else on disk) so a re-run of a date does
not hammer the site, and a new date never reads another date's pages. Spidermon's monitors run
when the spider closes (:mod:`.monitors`, configured by :mod:`.monitor_settings`).

Every crawl runs in its own process (Twisted's reactor cannot restart): ``python -m
harvest.crawler.crawl`` is its entry point, started by the parent-side stage
(:func:`harvest.scraping.run_crawl`); nothing here imports :mod:`harvest.scraping`.
"""
