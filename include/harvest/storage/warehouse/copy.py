"""Bulk inserts of Arrow rows: ``COPY ... FROM STDIN`` (CSV, streamed in chunks serialised one
ahead in a thread) on PostgreSQL, ``executemany`` on SQLite."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

COPY_CHUNK_ROWS = 100_000
COPY_READ_BYTES = 1 << 20  # what psycopg2 hands libpq per call during COPY


def bulk_insert(conn: sa.Connection, table: sa.Table, data: pa.Table | Iterable[pa.Table]) -> None:
    """Insert Arrow rows into a table: COPY on PostgreSQL, executemany on SQLite. ``data`` may
    be several tables of the same columns (parts of a partition), sent one after another
    through one COPY, each read only when the one before was sent."""
    parts = iter([data] if isinstance(data, pa.Table) else data)
    first = next((part for part in parts if part.num_rows), None)
    if first is None:
        return
    tables = itertools.chain([first], parts)
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in first.column_names)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * first.num_columns)
        # names are the table's own, quoted by the dialect
        sql = f"INSERT INTO {prep.quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
        for part in tables:
            columns = [
                pc.cast(col, pa.string()) if pa.types.is_date(col.type) else col
                for col in part.columns
            ]
            rows = zip(*(col.to_pylist() for col in columns), strict=True)
            raw.executemany(sql, rows)  # type: ignore[union-attr]
        return
    copy_sql = f"COPY {prep.quote(table.name)} ({names}) FROM STDIN WITH (FORMAT csv)"
    chunks = _Prefetch(chunk for part in tables for chunk in csv_chunks(part))
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(copy_sql, _ChunkReader(chunks), size=COPY_READ_BYTES)
        else:  # psycopg 3
            with cursor.copy(copy_sql) as copy:
                for chunk in chunks:
                    copy.write(chunk)


def csv_chunks(table: pa.Table, chunk_rows: int = COPY_CHUNK_ROWS) -> Iterator[bytes]:
    """The table as PostgreSQL CSV (no header; NULL unquoted-empty, text always quoted), in chunks."""
    options = pa_csv.WriteOptions(include_header=False, batch_size=chunk_rows)
    for batch in table.to_batches(max_chunksize=chunk_rows):
        buffer = io.BytesIO()
        pa_csv.write_csv(batch, buffer, options)
        yield buffer.getvalue()


class _Prefetch:
    """Serialise the next chunk in a thread while the current one is sent (Arrow drops the GIL)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._next: bytes | None = None
        self._error: BaseException | None = None
        self._thread = self._start()

    def _fetch(self) -> None:
        try:
            self._next = next(self._chunks, None)
        except BaseException as exc:  # re-raised in the consumer
            self._error = exc

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._fetch, daemon=True)
        thread.start()
        return thread

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self._thread.join()
            if self._error is not None:
                raise self._error
            chunk = self._next
            if chunk is None:
                return
            self._thread = self._start()
            yield chunk


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks, for psycopg2's ``copy_expert``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = memoryview(chunk)
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(out)
