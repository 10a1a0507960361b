"""Raw store (MongoDB | local JSON Lines), warehouse (PostgreSQL | SQLite) and cache (Redis)."""

from harvest.storage.raw import FileRawStore, MongoRawStore, RawDocument, RawStore, open_raw_store

__all__ = ["FileRawStore", "MongoRawStore", "RawDocument", "RawStore", "open_raw_store"]
