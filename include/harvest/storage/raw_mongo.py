"""The MongoDB backend of the raw store (:mod:`harvest.storage.raw`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

from harvest.storage.raw import RawDocument


class MongoRawStore:
    """MongoDB collection with a unique (source, logical_date, url) index; unordered bulk upserts.

    Every document is written with this store's ``crawl_id`` (a random hex id unless given), so
    :meth:`commit` can remove the partition's documents an earlier crawl wrote and this one did
    not. Until then, a re-run's documents replace the earlier ones URL by URL and the rest stay.
    """

    BATCH = 1000  # documents per round trip of :meth:`iter_partition`

    def __init__(
        self,
        client: Any,
        database: str = "harvest",
        collection: str = "raw_pages",
        crawl_id: str | None = None,
    ) -> None:
        self.client = client
        self.crawl_id = crawl_id or uuid.uuid4().hex
        self.collection = client[database][collection]
        self.collection.create_index(
            [("source", 1), ("logical_date", 1), ("url", 1)], unique=True, name="partition_url"
        )

    @classmethod
    def from_url(cls, url: str) -> MongoRawStore:
        from pymongo import MongoClient

        parsed = urlparse(url)
        database = unquote(parsed.path.lstrip("/")) or "harvest"
        return cls(MongoClient(url, tz_aware=True), database=database)

    def upsert_many(self, docs: Iterable[RawDocument]) -> int:
        from pymongo import ReplaceOne

        ops = [
            ReplaceOne(
                {"source": d.source, "logical_date": d.logical_date, "url": d.url},
                {"_id": d.doc_id, **d.to_dict(), "crawl_id": self.crawl_id},
                upsert=True,
            )
            for d in docs
        ]
        if not ops:
            return 0
        self.collection.bulk_write(ops, ordered=False)
        return len(ops)

    def read_partition(self, source: str, logical_date: dt.date) -> list[RawDocument]:
        cursor = self.collection.find(
            {"source": source, "logical_date": logical_date.isoformat()}, {"_id": 0, "crawl_id": 0}
        ).sort("url", 1)
        return [RawDocument.from_dict(row) for row in cursor]

    def iter_partition(
        self, source: str, logical_date: dt.date, light: bool = False
    ) -> Iterator[RawDocument]:
        cursor = (
            self.collection.find(
                {"source": source, "logical_date": logical_date.isoformat()},
                {"_id": 0, "crawl_id": 0},
            )
            .sort("url", 1)
            .batch_size(self.BATCH)
        )
        for row in cursor:
            yield RawDocument.from_dict(row)

    def count(self, source: str, logical_date: dt.date) -> int:
        return int(
            self.collection.count_documents(
                {"source": source, "logical_date": logical_date.isoformat()}
            )
        )

    def delete_partition(self, source: str, logical_date: dt.date) -> int:
        result = self.collection.delete_many(
            {"source": source, "logical_date": logical_date.isoformat()}
        )
        return int(result.deleted_count)

    def commit(self, source: str, logical_date: dt.date) -> int:
        """Delete the partition's documents written by any other crawl (or before crawl ids);
        return how many documents the partition now holds."""
        partition = {"source": source, "logical_date": logical_date.isoformat()}
        self.collection.delete_many({**partition, "crawl_id": {"$ne": self.crawl_id}})
        return int(self.collection.count_documents(partition))

    def uri(self, source: str, logical_date: dt.date) -> str:
        return (
            f"mongodb://{self.collection.database.name}/{self.collection.name}"
            f"?source={source}&logical_date={logical_date.isoformat()}"
        )

    def close(self) -> None:
        self.client.close()
