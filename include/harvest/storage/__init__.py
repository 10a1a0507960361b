"""Raw store (MongoDB | local JSON Lines), warehouse (PostgreSQL | SQLite) and cache (Redis)."""

from harvest.storage.raw import FileRawStore, RawDocument, RawStore, open_raw_store
from harvest.storage.raw_mongo import MongoRawStore

__all__ = ["FileRawStore", "MongoRawStore", "RawDocument", "RawStore", "open_raw_store"]
