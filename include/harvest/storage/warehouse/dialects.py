"""What differs between PostgreSQL and SQLite, in one place: the UTC timestamp type, the JSON
column type, the upsert statement, locks and planner statistics. Every other warehouse module
writes one statement for both dialects through these."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware in UTC, on both dialects.

    PostgreSQL stores ``timestamp with time zone`` and returns it in the session's zone; SQLite
    has no zone at all and returns naive values. Bound values are converted to UTC first (a
    naive value is taken to be UTC already); read values come back with ``tzinfo=UTC``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON: ``jsonb`` on PostgreSQL, JSON text on SQLite."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc_reflected(_inspector: sa.Inspector, _table: sa.Table, column: dict[str, Any]) -> None:
    """A ``column_reflect`` listener: reflected timestamps become :class:`UtcDateTime` too."""
    if isinstance(column["type"], sa.DateTime):
        column["type"] = UtcDateTime()


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` with ``.on_conflict_do_update`` / ``.excluded`` (PostgreSQL's and SQLite's)."""
    return (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(table)


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock id for ``name`` (stable across processes)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def transaction_lock(conn: sa.Connection, key: int) -> None:
    """Hold advisory lock ``key`` until ``conn``'s transaction ends (PostgreSQL; SQLite's
    writers are serialised by ``BEGIN IMMEDIATE`` already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


@contextlib.contextmanager
def session_lock(engine: sa.Engine, key: int, name: str) -> Iterator[None]:
    """Hold a lock across transactions: PostgreSQL's advisory lock ``key`` on a connection of its
    own, or on SQLite an ``flock`` on ``.<database file>.<name>.lock`` beside the file (nothing
    for an in-memory database)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = Path(database).expanduser().with_name(f".{Path(database).name}.{name}.lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def analyze(conn: sa.Connection, table: str, column: str) -> None:
    """Fresh planner statistics for one column (PostgreSQL; SQLite plans without them)."""
    if conn.dialect.name == "postgresql":
        prep = conn.dialect.identifier_preparer
        conn.exec_driver_sql(f"ANALYZE {prep.quote(table)} ({prep.quote(column)})")
