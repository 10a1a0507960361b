"""Connections: an engine per warehouse URL, transactions, and the one error an unreachable
database gives (:class:`WarehouseUnavailable`, naming the server with the password hidden)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from harvest.storage.warehouse.errors import WarehouseError, WarehouseUnavailable
from harvest.text import redact_url


def engine_for(url: str, *, read_only: bool = False) -> sa.Engine:
    """An engine for a warehouse URL: ``postgresql://`` (psycopg2, the pinned driver) or
    ``sqlite:///path``. ``read_only``: every transaction is read-only (PostgreSQL's
    ``default_transaction_read_only``; the SQLite file opened with ``mode=ro``, never created)."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if read_only:
            connect_args["options"] = "-c default_transaction_read_only=on"
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    if backend == "sqlite":
        database = parsed.database
        plain = database and database != ":memory:" and not database.startswith("file:")
        if read_only and plain:
            path = Path(str(database)).expanduser().resolve()
            parsed = parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        elif plain:
            Path(str(database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 60})
        _sqlite_transactions(engine, read_only=read_only)
        return engine
    raise WarehouseError(
        f"warehouse URL {redact_url(url)!r}: unsupported database "
        f"{backend!r}; use postgresql://user@host/db or sqlite:///path/warehouse.db"
    )


def _sqlite_transactions(engine: sa.Engine, *, read_only: bool = False) -> None:
    """Real transactions on SQLite (pysqlite's own handling would commit before DDL), and WAL so
    that readers do not block the loader. A read-only engine takes no write lock (a deferred
    ``BEGIN``) and leaves the journal mode as the writers set it."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if not read_only:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def describe(url: sa.URL) -> str:
    """Where a warehouse is, for messages: the SQLite file, or host, port, database and the URL
    with its password hidden."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return (
        f"{url.host or 'localhost'}:{url.port or 5432} (database {url.database!r}, "
        f"{redact_url(url.render_as_string(hide_password=False))})"
    )


@contextmanager
def begin(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction; an unreachable database raises :class:`WarehouseUnavailable`."""
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise WarehouseUnavailable(
            f"cannot connect to the warehouse at {describe(engine.url)}: {reason}. Is the server "
            "running? Check HARVEST_WAREHOUSE_URL or the harvest_warehouse connection."
        ) from exc
    with conn, conn.begin():
        yield conn
