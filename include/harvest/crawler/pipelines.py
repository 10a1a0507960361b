"""Item pipeline: every page item becomes a raw document, upserted in batches into the raw store.

The partition is the crawl's (``HARVEST_PARTITION``, read once), never the wall clock; the
fetch time is the real one. Documents are keyed by (source, logical date, URL), so a re-run
replaces them instead of adding duplicates; and when the crawl completes (Scrapy's finish reason
``finished``, or ``closespider_timeout``: stopped at its deadline, a partial partition) the
partition is committed: it becomes exactly this crawl's pages. A crawl closed for any other reason
(SIGTERM, Ctrl-C, a failed write) leaves the previous partition as it was.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy import signals

from harvest.crawler.items import PageItem
from harvest.partitions import Partition
from harvest.storage.raw import RawDocument, RawStore, content_hash, open_raw_store

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

COMPLETE_FINISH_REASONS = ("finished", "closespider_timeout")


def canonical_url(url: str, base_url: str | None, canonical_base_url: str | None) -> str:
    """``url`` under the spec's own base URL when the site was reached at another one (an
    overridden host or port), so the same page keeps the same key from run to run."""
    moved = bool(base_url and canonical_base_url and base_url != canonical_base_url)
    if moved and (url == base_url or url.startswith((f"{base_url}/", f"{base_url}?"))):
        return f"{canonical_base_url}{url[len(base_url or '') :]}"
    return url


def to_raw_document(
    item: Any,
    partition: Partition,
    base_url: str | None = None,
    canonical_base_url: str | None = None,
) -> RawDocument:
    """The raw document of one page item (a :class:`PageItem` or a dict with its keys)."""
    # read in place (asdict() deep-copied every page); a PageItem's own attributes, without an
    # adapter looked up per item and a call per field
    data = vars(item) if type(item) is PageItem else ItemAdapter(item)
    body = data.get("body")
    final = data.get("final_url")
    return RawDocument(
        source=partition.source,
        logical_date=partition.iso,
        url=canonical_url(str(data["url"]), base_url, canonical_base_url),
        status=data.get("status"),
        fetched_at=str(data["fetched_at"]),
        page_type=str(data.get("page_type") or "detail"),
        content_hash=content_hash(body) if body is not None else None,
        fields=dict(data.get("fields") or {}),
        error=data.get("error"),
        rendered_with=str(data.get("rendered_with") or "http"),
        body=body,
        final_url=canonical_url(str(final), base_url, canonical_base_url) if final else None,
        redirect_chain=[
            canonical_url(str(url), base_url, canonical_base_url)
            for url in data.get("redirect_chain") or []
        ],
        content_type=data.get("content_type"),
        records=[dict(record) for record in data.get("records") or []],
        listing=_canonical_listing(data.get("listing"), base_url, canonical_base_url),
        earlier_cards=[
            {**card, "of": canonical_url(str(card["of"]), base_url, canonical_base_url)}
            for card in data.get("earlier_cards") or []
        ],
    )


def _canonical_listing(
    listing: Any, base_url: str | None, canonical_base_url: str | None
) -> dict[str, Any] | None:
    """A page's listing with every URL in it under the spec's own base URL (as the page's)."""
    if not listing:
        return None

    def moved(url: Any) -> Any:
        return canonical_url(str(url), base_url, canonical_base_url) if url else url

    out = dict(listing)
    for key in ("branch", "parent"):
        out[key] = moved(out.get(key))
    for key in ("links", "continues"):
        out[key] = [moved(url) for url in out.get(key) or []]
    return out


class RawStorePipeline:
    """Batch page items into the raw store: the first page at once, then every
    ``HARVEST_PIPELINE_BATCH_SIZE`` items, and whatever waits every
    ``HARVEST_PIPELINE_FLUSH_SECONDS`` (a timer: a slow site's pages are written even while no
    new page comes, so a crawl killed early keeps them) and at close; on ``spider_closed``,
    commit the partition if the crawl completed (see the module docstring).

    Settings: ``HARVEST_RAW_STORE_URL``, ``HARVEST_PARTITION`` (a :class:`Partition`).
    Stats: ``harvest/documents_written``, ``harvest/store_errors``.
    """

    def __init__(
        self,
        raw_store_url: str,
        partition: Partition | None,
        batch_size: int = 100,
        crawler: Crawler | None = None,
        base_url: str | None = None,
        canonical_base_url: str | None = None,
        flush_seconds: float = 10.0,
    ) -> None:
        if not raw_store_url or partition is None:
            raise ValueError(
                "RawStorePipeline needs HARVEST_RAW_STORE_URL and HARVEST_PARTITION in the "
                "Scrapy settings"
            )
        self.raw_store_url = raw_store_url
        self.partition = partition
        self.source = partition.source
        self.logical_date = partition.day
        self.batch_size = max(1, batch_size)
        self.crawler = crawler
        self.base_url = base_url
        self.canonical_base_url = canonical_base_url
        self.store: RawStore | None = None
        self.batch: list[RawDocument] = []
        self.written = 0
        self.flush_seconds = flush_seconds
        self._flushed_at = float("-inf")  # the first page is written at once
        self._store_failed = False
        self._timer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        pipeline = cls(
            settings.get("HARVEST_RAW_STORE_URL"),
            settings.get("HARVEST_PARTITION"),
            settings.getint("HARVEST_PIPELINE_BATCH_SIZE", 100),
            crawler=crawler,
            base_url=settings.get("HARVEST_BASE_URL"),
            canonical_base_url=settings.get("HARVEST_CANONICAL_BASE_URL"),
            flush_seconds=settings.getfloat("HARVEST_PIPELINE_FLUSH_SECONDS", 10.0),
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        self.store = open_raw_store(self.raw_store_url, deferred=True)
        logger.info("Writing raw documents to %s", self.store.uri(self.source, self.logical_date))
        from scrapy.utils.reactor import is_reactor_installed

        if self.flush_seconds > 0 and is_reactor_installed():  # (a unit test may have none)
            from twisted.internet.task import LoopingCall

            self._timer = LoopingCall(self._flush_due)
            self._timer.start(self.flush_seconds, now=False).addErrback(
                lambda failure: logger.error("raw store flush failed: %s", failure.value)
            )

    def _flush_due(self) -> None:
        """The timer: write the pages waiting."""
        if self.batch:
            self.flush()

    def process_item(self, item: Any) -> Any:
        self.batch.append(
            to_raw_document(item, self.partition, self.base_url, self.canonical_base_url)
        )
        if (
            len(self.batch) >= self.batch_size
            or time.monotonic() - self._flushed_at >= self.flush_seconds
        ):
            self.flush()
        return item

    def flush(self) -> None:
        """Upsert the pending batch; a failed write is counted and re-raised."""
        if not self.batch:
            return
        if self.store is None:
            raise RuntimeError("RawStorePipeline.flush() before open_spider()")
        batch, self.batch = self.batch, []
        self._flushed_at = time.monotonic()
        try:
            written = self.store.upsert_many(batch)
        except Exception:
            self._store_error(f"could not write {len(batch)} raw documents to")
            raise
        self.written += written
        self._inc("harvest/documents_written", written)

    def close_spider(self) -> None:
        """Write the pending batch; the partition is committed or not in :meth:`spider_closed`,
        which Scrapy calls afterwards with the finish reason."""
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.flush()

    def spider_closed(self, reason: str) -> None:
        """Commit the partition if the crawl completed and every write succeeded; close the store."""
        if self.store is None:
            return
        store, self.store = self.store, None
        uri = store.uri(self.source, self.logical_date)
        try:
            if reason in COMPLETE_FINISH_REASONS and not self._store_failed:
                documents = store.commit(self.source, self.logical_date)
                logger.info("Raw partition %s replaced: %d documents (%s)", uri, documents, reason)
            else:
                why = "a write failed" if self._store_failed else f"the crawl ended: {reason}"
                logger.warning(
                    "source %s, %s: raw partition %s not replaced (%s): the pages of earlier runs "
                    "stay; the %d documents this crawl wrote stay in the file store's journal "
                    "(or, in MongoDB, beside them)",
                    self.source,
                    self.logical_date,
                    uri,
                    why,
                    self.written,
                )
        except Exception:
            self._store_error("could not commit the raw partition to")
            raise
        finally:
            store.close()

    def _store_error(self, what: str) -> None:
        self._store_failed = True
        self._inc("harvest/store_errors")
        logger.exception(
            "source %s, %s: %s %s",
            self.source,
            self.logical_date,
            what,
            self.raw_store_url.split("@")[-1],
        )

    def _inc(self, key: str, count: int = 1) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, count)
