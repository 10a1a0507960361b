"""The warehouse: processed records, quarantine, validation results and partition summaries.

SQLAlchemy Core, the same statements on PostgreSQL (production, CI) and SQLite (the embedded
default). Tables:

- ``processed_<source>``: a column per spec field (typed by its parser; a price field also gets
  ``<field>_currency``) plus ``source``, ``record_key`` (the spec's ``detail.key``, primary key with
  ``source``), ``logical_date`` (indexed), ``url``, ``is_duplicate_of``, ``imputed`` (JSON list of
  field names) and ``loaded_at``. A key seen again on a later date moves to that date.
- ``quarantine``: a row per issue, unique on (source, logical_date, url, field, check, stage).
- ``validation_results``: a row per (source, logical_date, expectation, column).
- ``partition_loads``: a row per (source, logical_date) with its counts, for the supervisor.

Loading a partition is one transaction: rows go into a temporary staging table (``COPY`` on
PostgreSQL, ``executemany`` on SQLite), are upserted on (source, record_key) -- unchanged rows are
not touched, so a re-run keeps even their ``loaded_at`` -- and rows of the partition that are no
longer in it are deleted. A failure leaves the previous contents; a re-run gives identical ones.

The first load of a partition on PostgreSQL (the nightly case: no row has that logical date yet,
and a sample of its keys is not in the table) skips the staging table and COPYs straight into the
processed table, under a savepoint in the same transaction. The primary key still guards it: a
key that already exists under another date makes the COPY fail with a unique violation, which
rolls back to the savepoint and loads the partition through the staging + upsert path instead
(so the key moves, as always). Both paths leave the same contents; :attr:`LoadResult.path` says
which one ran.

Migrations: ``python -m harvest warehouse migrate`` (:meth:`Warehouse.migrate`) creates missing
tables and adds the columns of new spec fields with ``ALTER TABLE ... ADD COLUMN`` (nullable: older
rows have no value). It is idempotent and only ever adds. Anything else needs a hand-written
migration: it never drops or renames a column (a field removed from a spec keeps its column, NULL
in new rows), never changes a type (a parser change is reported as a mismatch and the command
fails), and never changes keys or indexes of existing tables (changing ``detail.key`` means a new
table). Loads check the columns first and, when one is missing, say to run the command.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.fields import field_kind, kind_names
from harvest.partitions import partition_date
from harvest.storage.cache import DEFAULT_TTL_SECONDS, Cache, NullCache, cache_key
from harvest.text import redact_url

log = logging.getLogger(__name__)

PROCESSED_PREFIX = "processed_"
COPY_CHUNK_ROWS = 100_000
COPY_READ_BYTES = 1 << 20  # what psycopg2 hands libpq per call during COPY
KEY_SAMPLE = 1_000  # keys looked up before trying the direct COPY of a first load
UNIQUE_VIOLATION = "23505"  # SQLSTATE
MIGRATION_LOCK_ID = 0x68617276  # "harv": serialises concurrent migrations on PostgreSQL
# Columns every processed table has besides the spec's fields.
KEY_COLUMNS = ("source", "record_key")
RESERVED_COLUMNS = frozenset(
    {"source", "record_key", "logical_date", "url", "is_duplicate_of", "imputed", "loaded_at"}
)


def _json_type() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class WarehouseError(RuntimeError):
    """Something the warehouse cannot do; the message says what to change."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse database cannot be reached."""


class FrameError(WarehouseError, ValueError):
    """A frame handed to the warehouse lacks a column or holds values it cannot store."""


# --- schema -------------------------------------------------------------------------------------

_SHARED = sa.MetaData()

QUARANTINE = sa.Table(
    "quarantine",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("field", sa.Text, primary_key=True),
    sa.Column("check", sa.Text, primary_key=True),
    sa.Column("stage", sa.Text, primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("severity", sa.Text, nullable=False),
)

VALIDATION_RESULTS = sa.Table(
    "validation_results",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("expectation", sa.Text, primary_key=True),
    # '' for expectations on the whole partition (a key column cannot be NULL)
    sa.Column("column", sa.Text, primary_key=True),
    sa.Column("severity", sa.Text),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("element_count", sa.BigInteger),
    sa.Column("unexpected_count", sa.BigInteger),
    sa.Column("pass_rate", sa.Double),
    sa.Column("observed_value", sa.Text),
    sa.Column("details", _json_type()),
)

PARTITION_LOADS = sa.Table(
    "partition_loads",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("scraped", sa.BigInteger, nullable=False),
    sa.Column("valid", sa.BigInteger, nullable=False),
    sa.Column("quarantined", sa.BigInteger, nullable=False),
    sa.Column("duplicates", sa.BigInteger, nullable=False),
    sa.Column("imputed", sa.BigInteger, nullable=False),
    sa.Column("loaded", sa.BigInteger, nullable=False),
    sa.Column("validation_passed", sa.Boolean, nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
)


def processed_table_name(source: str) -> str:
    return f"{PROCESSED_PREFIX}{source}"


def processed_columns(spec: SourceSpec) -> dict[str, str]:
    """The loaded columns of a source's processed table and their kind (a field kind name, see
    :mod:`harvest.fields`, or ``json``), in table order; ``loaded_at`` is set by the load itself."""
    columns = {"source": "text", "record_key": "text", "logical_date": "date", "url": "text"}
    for name, field_spec in spec.detail.fields.items():
        for column, kind in field_kind(field_spec.parser).columns(name).items():
            if column in RESERVED_COLUMNS or column in columns:
                raise WarehouseError(
                    f"source {spec.name}: field {name!r} needs column {column!r}, which is "
                    f"already taken; rename the field in the spec"
                )
            columns[column] = kind
    columns["is_duplicate_of"] = "text"
    columns["imputed"] = "json"
    return columns


def processed_table(spec: SourceSpec, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``processed_<source>`` table as the spec defines it."""
    name = processed_table_name(spec.name)
    columns: list[sa.schema.SchemaItem] = []
    for column, kind in processed_columns(spec).items():
        if column in KEY_COLUMNS:
            columns.append(sa.Column(column, sa.Text, primary_key=True))
        elif column in ("logical_date", "url"):
            columns.append(sa.Column(column, field_kind(kind).sql_type(), nullable=False))
        elif kind == "json":
            columns.append(sa.Column(column, _json_type()))
        else:
            columns.append(sa.Column(column, field_kind(kind).sql_type()))
    columns.append(sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False))
    columns.append(sa.Index(f"ix_{name}_logical_date", "logical_date"))
    return sa.Table(name, metadata or sa.MetaData(), *columns)


def _kind(sql_type: sa.types.TypeEngine[Any]) -> str:
    """A dialect-independent name for a column type, to compare the spec with the database
    (``bool``, ``date``, ``int``, ``float``, ``text`` are also the field kinds read back as such)."""
    for kind, cls in (
        ("bool", sa.Boolean),
        ("date", sa.Date),
        ("datetime", sa.DateTime),
        ("int", sa.Integer),
        ("float", sa.Float),
        ("json", sa.JSON),
        ("text", sa.String),
    ):
        if isinstance(sql_type, cls):
            return kind
    return type(sql_type).__name__.lower()


# --- results ------------------------------------------------------------------------------------


@dataclass
class MigrationReport:
    """What :meth:`Warehouse.migrate` did, and the differences it could not resolve."""

    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    type_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.type_mismatches

    @property
    def changed(self) -> bool:
        return bool(self.created_tables or self.added_columns)


@dataclass(frozen=True)
class LoadResult:
    """One partition load: ``rows`` in the partition now, ``written`` of them new or changed,
    ``deleted`` rows that were no longer in the partition. ``path`` is ``"copy"`` when a first
    load was COPYed straight into the table, ``"upsert"`` when it went through the staging table
    (re-runs, keys already in the table, SQLite)."""

    source: str
    logical_date: dt.date
    rows: int
    written: int
    deleted: int
    seconds: float
    path: str = "upsert"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "logical_date": self.logical_date.isoformat()}


@dataclass(frozen=True)
class PartitionSummary:
    """The per-partition counts the supervisor and dashboards read (``partition_loads``)."""

    source: str
    logical_date: dt.date
    scraped: int
    valid: int
    quarantined: int
    duplicates: int
    imputed: int
    loaded: int
    validation_passed: bool
    loaded_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logical_date"] = self.logical_date.isoformat()
        data["loaded_at"] = self.loaded_at.isoformat() if self.loaded_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionSummary:
        data = dict(data)
        data["logical_date"] = partition_date(data["logical_date"])
        loaded_at = data.get("loaded_at")
        if isinstance(loaded_at, str):
            data["loaded_at"] = dt.datetime.fromisoformat(loaded_at)
        if data["loaded_at"] is not None and data["loaded_at"].tzinfo is None:
            data["loaded_at"] = data["loaded_at"].replace(tzinfo=dt.UTC)  # SQLite drops the zone
        return cls(**data)


# --- frames to Arrow ----------------------------------------------------------------------------


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type=type_) if n else pa.array([], type=type_)


def _check_partition_column(
    frame: pd.DataFrame, column: str, expected: str | dt.date, where: str
) -> None:
    """A ``source``/``logical_date`` column in the frame must hold the partition's own value."""
    if column not in frame or frame.empty:
        return
    for value in pd.unique(frame[column].to_numpy(dtype=object)):
        try:
            found = partition_date(value) if column == "logical_date" else value
        except (TypeError, ValueError):
            found = None
        if found != expected:
            raise FrameError(
                f"{where}: column {column!r} holds {value!r}; every row must belong to the "
                f"partition being written ({expected})"
            )


def _to_arrow(values: pd.Series, kind: str, column: str, where: str) -> pa.Array:
    """One column, as the Arrow type its SQL column stores; bad values raise :class:`FrameError`."""
    try:
        if kind == "json":
            return _json_lists(values)
        target = field_kind(kind).arrow_type()
        if pa.types.is_date(target):
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.date
            try:
                return pa.array(values.astype(object), type=target, from_pandas=True)
            except pa.ArrowException:  # ISO strings
                return pc.cast(pa.array(values.astype("string")), target)
        if pa.types.is_string(target):
            return pa.array(values.astype("string"), type=target, from_pandas=True)
        return pa.array(values, type=target, from_pandas=True)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise FrameError(f"{where}: column {column!r} cannot be stored as {kind}: {exc}") from exc


_LIST_LIKE = (list, tuple, np.ndarray)


def _json_lists(values: pd.Series) -> pa.Array:
    """:func:`_json_list` of every value, computed once per distinct value."""
    memo: dict[Any, str] = {}
    out = []
    for value in values:
        try:
            key = tuple(value) if isinstance(value, _LIST_LIKE) else value
            text = memo.get(key)
            if text is None:
                text = memo[key] = _json_list(value)
        except TypeError:  # unhashable
            text = _json_list(value)
        out.append(text)
    return pa.array(out, type=pa.string())


def _json_list(value: Any) -> str:
    """``imputed`` as a JSON list of field names, from a list, an array, JSON text or nothing."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "[]"
    if isinstance(value, str):
        parsed = json.loads(value) if value.strip().startswith("[") else [value] if value else []
        return json.dumps([str(v) for v in parsed])
    return json.dumps([str(v) for v in value])


def processed_arrow(spec: SourceSpec, logical_date: dt.date, frame: pd.DataFrame) -> pa.Table:
    """The rows of a partition as an Arrow table with exactly the processed table's columns.

    The frame needs ``url`` and every spec field (and ``<field>_currency`` for prices);
    ``source``/``logical_date`` are checked when present, ``is_duplicate_of`` and ``imputed`` are
    optional. Keys must be present and unique.
    """
    where = f"source {spec.name}, logical date {logical_date}"
    _check_partition_column(frame, "source", spec.name, where)
    _check_partition_column(frame, "logical_date", logical_date, where)
    key = spec.detail.key
    n = len(frame)
    arrays: dict[str, pa.Array] = {}
    for column, kind in processed_columns(spec).items():
        if column == "source":
            arrays[column] = _constant(spec.name, n, pa.string())
        elif column == "logical_date":
            arrays[column] = _constant(logical_date, n, pa.date32())
        elif column == "record_key":
            arrays[column] = _to_arrow(_required(frame, key, where), "text", key, where)
        elif column in ("is_duplicate_of", "imputed") and column not in frame:
            arrays[column] = _constant("[]" if kind == "json" else None, n, pa.string())
        else:
            arrays[column] = _to_arrow(_required(frame, column, where), kind, column, where)
    table = pa.table(arrays)
    for column in ("record_key", "url"):
        nulls = table[column].null_count
        if nulls:
            raise FrameError(
                f"{where}: {nulls} row(s) have no {key if column == 'record_key' else column!r}"
            )
    keys = table["record_key"]
    if pc.count_distinct(keys).as_py() != n:
        counts = pc.value_counts(keys)
        repeated = [v["values"] for v in counts.to_pylist() if v["counts"] > 1]
        raise FrameError(
            f"{where}: {len(repeated)} {key!r} value(s) occur more than once "
            f"(e.g. {', '.join(map(str, repeated[:3]))}); de-duplicate the partition before loading"
        )
    return table


def _required(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    if column not in frame:
        raise FrameError(
            f"{where}: the frame has no column {column!r} (it has: {', '.join(map(str, frame.columns))})"
        )
    return frame[column]


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


# --- the warehouse ------------------------------------------------------------------------------


def engine_for(url: str) -> sa.Engine:
    """An engine for a warehouse URL: ``postgresql://`` (psycopg2, the pinned driver) or ``sqlite:///path``."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            from pathlib import Path

            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 60})
        _sqlite_transactions(engine)
        return engine
    raise WarehouseError(
        f"warehouse URL {redact_url(url)!r}: unsupported database "
        f"{backend!r}; use postgresql://user@host/db or sqlite:///path/warehouse.db"
    )


def _sqlite_transactions(engine: sa.Engine) -> None:
    """Real transactions on SQLite (pysqlite's own handling would commit before DDL), and WAL so
    that readers do not block the loader."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Warehouse:
    """Processed tables, quarantine, validation results and partition summaries of every source.

    Pass a :class:`~harvest.storage.cache.Cache` to serve history, row counts and summaries from
    Redis; loads invalidate what they make stale.
    """

    def __init__(
        self,
        engine: sa.Engine,
        cache: Cache | None = None,
        cache_ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self.cache = cache or NullCache()
        self.cache_ttl_seconds = cache_ttl_seconds
        self._checked: dict[str, frozenset[str]] = {}

    @classmethod
    def from_url(cls, url: str, cache: Cache | None = None) -> Warehouse:
        return cls(engine_for(url), cache=cache)

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(engine_for(settings.warehouse_url), cache=Cache.from_url(settings.cache_url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
        self.cache.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _where(self) -> str:
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            return f"SQLite file {url.database}"
        return (
            f"{url.host or 'localhost'}:{url.port or 5432} (database {url.database!r}, "
            f"{redact_url(url.render_as_string(hide_password=False))})"
        )

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction; an unreachable database raises :class:`WarehouseUnavailable`."""
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise WarehouseUnavailable(
                f"cannot connect to the warehouse at {self._where()}: {reason}. Is the server "
                "running? Check HARVEST_WAREHOUSE_URL or the harvest_warehouse connection."
            ) from exc
        with conn, conn.begin():
            yield conn

    # --- migrations --------------------------------------------------------------------------

    def migrate(self, specs: Iterable[SourceSpec]) -> MigrationReport:
        """Create missing tables and add missing columns for every spec (idempotent)."""
        report = MigrationReport()
        metadata = sa.MetaData()
        tables = [t.to_metadata(metadata) for t in _SHARED.sorted_tables]
        tables += [processed_table(spec, metadata) for spec in specs]
        with self._begin() as conn:
            if self.dialect == "postgresql":  # concurrent migrations wait instead of colliding
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
            inspector = sa.inspect(conn)
            for table in tables:
                if not inspector.has_table(table.name):
                    table.create(conn)
                    report.created_tables.append(table.name)
                    continue
                existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in existing:
                        self._add_column(conn, table, column)
                        report.added_columns.append(f"{table.name}.{column.name}")
                    elif _kind(existing[column.name]) != _kind(column.type):
                        report.type_mismatches.append(
                            f"{table.name}.{column.name} is {_kind(existing[column.name])} in "
                            f"the database but {_kind(column.type)} in the spec; migrate it by hand"
                        )
        self._checked.clear()
        for problem in report.type_mismatches:
            log.warning("warehouse migration: %s", problem)
        return report

    @staticmethod
    def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column[Any]) -> None:
        prep = conn.dialect.identifier_preparer
        added = sa.Column(column.name, column.type, nullable=True)
        definition = sa.schema.CreateColumn(added).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {prep.quote(table.name)} ADD COLUMN {definition}")

    def _check_table(self, conn: sa.Connection, spec: SourceSpec, table: sa.Table) -> None:
        """The database table has every column the spec needs, or say to migrate."""
        wanted = frozenset(c.name for c in table.columns)
        if self._checked.get(table.name) == wanted:
            return
        inspector = sa.inspect(conn)
        hint = "run `python -m harvest warehouse migrate` first"
        if not inspector.has_table(table.name):
            raise WarehouseError(f"source {spec.name}: table {table.name} does not exist; {hint}")
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        missing = sorted(wanted - existing)
        if missing:
            raise WarehouseError(
                f"source {spec.name}: table {table.name} lacks column(s) {', '.join(missing)}; {hint}"
            )
        self._checked[table.name] = wanted

    def _reflect(self, conn: sa.Connection, source: str) -> sa.Table:
        name = processed_table_name(source)
        try:
            return sa.Table(name, sa.MetaData(), autoload_with=conn)
        except sa.exc.NoSuchTableError as exc:
            raise WarehouseError(
                f"source {source}: table {name} does not exist; "
                "run `python -m harvest warehouse migrate` first"
            ) from exc

    # --- loading -----------------------------------------------------------------------------

    def load_partition(
        self, spec: SourceSpec, logical_date: dt.date | str, frame: pd.DataFrame
    ) -> LoadResult:
        """Make ``processed_<source>`` hold exactly ``frame`` for this partition, in one transaction."""
        started = time.perf_counter()
        day = partition_date(logical_date)
        data = processed_arrow(spec, day, frame)
        table = processed_table(spec)
        try:
            with self._begin() as conn:
                self._check_table(conn, spec, table)
                path = "copy"
                written, deleted = data.num_rows, 0
                if not self._copy_new_partition(conn, table, spec.name, day, data):
                    path = "upsert"
                    written, deleted = self._upsert_partition(conn, table, spec.name, day, data)
        except (sa.exc.DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
            # COPY runs on the driver's own cursor, so its errors arrive unwrapped
            orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
            reason = str(orig).strip()
            raise WarehouseError(
                f"loading source {spec.name}, logical date {day} into {self._where()} failed and "
                f"was rolled back (nothing changed); re-run the load: {reason}"
            ) from exc
        self.cache.invalidate_partition(spec.name, day)
        result = LoadResult(
            spec.name, day, data.num_rows, written, deleted, time.perf_counter() - started, path
        )
        log.info(
            "loaded %s %s: %d rows (%d written, %d deleted) in %.1fs by %s",
            spec.name, day, result.rows, written, deleted, result.seconds, path,
        )  # fmt: skip
        return result

    def _copy_new_partition(
        self, conn: sa.Connection, table: sa.Table, source: str, day: dt.date, data: pa.Table
    ) -> bool:
        """The first load of a partition, COPYed straight into the table; False when it does not
        apply (nothing written then).

        Only on PostgreSQL, only when no row has this logical date (so nothing is to be deleted
        and no row of the partition can be unchanged) and none of a sample of the keys exists
        (keys that moved from another date would only make the COPY fail). The primary key is
        what guarantees correctness: any key already in the table fails the COPY with a unique
        violation, which rolls back to the savepoint; the caller then takes the upsert path.
        """
        if self.dialect != "postgresql" or data.num_rows == 0:
            return False
        partition = sa.select(table.c.logical_date).where(
            table.c.source == source, table.c.logical_date == day
        )
        if conn.execute(partition.limit(1)).first() is not None:
            return False  # a re-load: the upsert keeps unchanged rows and deletes the gone ones
        keys = data["record_key"]
        step = max(1, data.num_rows // KEY_SAMPLE)
        sample = keys.take(pa.array(range(0, data.num_rows, step))).to_pylist()
        known = sa.select(table.c.record_key).where(
            table.c.source == source, table.c.record_key.in_(sample)
        )
        if conn.execute(known.limit(1)).first() is not None:
            return False
        loaded_at = pa.scalar(dt.datetime.now(dt.UTC), pa.timestamp("us", tz="UTC"))
        rows = data.append_column("loaded_at", pa.repeat(loaded_at, data.num_rows))
        savepoint = conn.begin_nested()
        try:
            self._bulk_insert(conn, table, rows)
        except self.engine.dialect.loaded_dbapi.Error as exc:
            code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
            if code != UNIQUE_VIOLATION:
                raise  # the whole transaction rolls back
            savepoint.rollback()
            log.info("%s %s: a key is already in %s; upserting", source, day, table.name)
            return False
        savepoint.commit()
        return True

    def _upsert_partition(
        self, conn: sa.Connection, table: sa.Table, source: str, day: dt.date, data: pa.Table
    ) -> tuple[int, int]:
        is_sqlite = self.dialect == "sqlite"
        stage = sa.Table(
            "harvest_stage",
            sa.MetaData(),
            *(
                # SQLite needs the key indexed for the anti-join below; PostgreSQL hashes it.
                sa.Column(c.name, c.type, primary_key=is_sqlite and c.name == "record_key")
                for c in table.columns
                if c.name in data.column_names
            ),
            prefixes=["TEMPORARY"],
        )
        stage.create(conn)
        self._bulk_insert(conn, stage, data)
        if not is_sqlite:
            conn.exec_driver_sql("ANALYZE harvest_stage (record_key)")  # for the anti-join plan
        # Delete first: on a first load the partition is empty and this costs nothing.
        gone = sa.delete(table).where(
            table.c.source == source,
            table.c.logical_date == day,
            ~sa.exists().where(stage.c.record_key == table.c.record_key),
        )
        deleted = conn.execute(gone).rowcount

        columns = data.column_names
        insert = postgresql.insert if not is_sqlite else sqlite.insert
        loaded_at = sa.literal(dt.datetime.now(dt.UTC), sa.DateTime(timezone=True))
        # WHERE true: SQLite needs it to tell the SELECT's end from the ON CONFLICT clause.
        select = sa.select(*(stage.c[c] for c in columns), loaded_at).where(sa.true())
        upsert = insert(table).from_select([*columns, "loaded_at"], select)
        values = [c for c in columns if c not in KEY_COLUMNS]
        upsert = upsert.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS),
            set_={c: upsert.excluded[c] for c in [*values, "loaded_at"]},
            where=sa.or_(*(table.c[c].is_distinct_from(upsert.excluded[c]) for c in values)),
        )
        written = conn.execute(upsert).rowcount
        stage.drop(conn)
        return written, deleted

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, data: pa.Table) -> None:
        """Insert Arrow rows into a table: COPY on PostgreSQL, executemany on SQLite."""
        if data.num_rows == 0:
            return
        prep = conn.dialect.identifier_preparer
        names = ", ".join(prep.quote(c) for c in data.column_names)
        raw = conn.connection.driver_connection
        if self.dialect == "sqlite":
            columns = [
                pc.cast(col, pa.string()) if pa.types.is_date(col.type) else col
                for col in data.columns
            ]
            marks = ", ".join("?" * len(columns))
            rows = zip(*(col.to_pylist() for col in columns), strict=True)
            # names are the table's own, quoted by the dialect
            sql = f"INSERT INTO {prep.quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
            raw.executemany(sql, rows)  # type: ignore[union-attr]
            return
        copy_sql = f"COPY {prep.quote(table.name)} ({names}) FROM STDIN WITH (FORMAT csv)"
        chunks = _Prefetch(csv_chunks(data))
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            if hasattr(cursor, "copy_expert"):  # psycopg2
                cursor.copy_expert(copy_sql, _ChunkReader(chunks), size=COPY_READ_BYTES)
            else:  # psycopg 3
                with cursor.copy(copy_sql) as copy:
                    for chunk in chunks:
                        copy.write(chunk)

    # --- quarantine and validation results ---------------------------------------------------

    def replace_quarantine(
        self,
        source: str,
        logical_date: dt.date | str,
        stage: str,
        issues: pd.DataFrame,
        severity: str = "warning",
    ) -> int:
        """Make the quarantine of one partition and stage hold exactly ``issues`` (one transaction).

        ``issues`` has :data:`harvest.records.ISSUE_COLUMNS` (``value``/``reason`` may be
        missing) and optionally ``severity`` (else ``severity``); repeated issues are kept once.
        """
        day = partition_date(logical_date)
        where = f"quarantine of source {source}, logical date {day}, stage {stage}"
        _check_partition_column(issues, "source", source, where)
        _check_partition_column(issues, "logical_date", day, where)
        keys = ["url", "field", "check"]
        for key in keys:
            _required(issues, key, where)
        frame = issues.drop_duplicates(subset=keys, keep="last")
        n = len(frame)
        arrays = {
            "source": _constant(source, n, pa.string()),
            "logical_date": _constant(day, n, pa.date32()),
            "stage": _constant(stage, n, pa.string()),
        }
        for column in ["url", "field", "check", "value", "reason", "severity"]:
            if column in frame:
                arrays[column] = _to_arrow(frame[column], "text", column, where)
            else:
                arrays[column] = _constant(
                    severity if column == "severity" else None, n, pa.string()
                )
        data = pa.table(arrays)
        for column in [*keys, "severity"]:
            if data[column].null_count:
                raise FrameError(f"{where}: {data[column].null_count} issue(s) have no {column!r}")
        scope = sa.and_(
            QUARANTINE.c.source == source,
            QUARANTINE.c.logical_date == day,
            QUARANTINE.c.stage == stage,
        )
        with self._begin() as conn:
            conn.execute(sa.delete(QUARANTINE).where(scope))
            self._bulk_insert(conn, QUARANTINE, data)
        return n

    def replace_validation_results(
        self, source: str, logical_date: dt.date | str, results: pd.DataFrame
    ) -> int:
        """Make the validation results of one partition exactly ``results`` (one transaction).

        Needs ``expectation`` and ``success``; ``column`` (None or '' for the whole partition),
        ``severity``, ``element_count``, ``unexpected_count``, ``pass_rate``, ``observed_value``
        (stored as text, JSON for non-strings) and ``details`` (JSON) are optional.
        """
        day = partition_date(logical_date)
        where = f"validation results of source {source}, logical date {day}"
        _check_partition_column(results, "source", source, where)
        _check_partition_column(results, "logical_date", day, where)
        frame = results.copy()
        for column in ("expectation", "success"):
            _required(frame, column, where)
        frame["column"] = frame["column"].fillna("") if "column" in frame else ""
        frame = frame.drop_duplicates(subset=["expectation", "column"], keep="last")
        n = len(frame)
        kinds = {
            "expectation": "text",
            "column": "text",
            "severity": "text",
            "success": "bool",
            "element_count": "int",
            "unexpected_count": "int",
            "pass_rate": "float",
        }
        arrays = {
            "source": _constant(source, n, pa.string()),
            "logical_date": _constant(day, n, pa.date32()),
        }
        for column, kind in kinds.items():
            arrays[column] = (
                _to_arrow(frame[column], kind, column, where)
                if column in frame
                else _constant(None, n, field_kind(kind).arrow_type())
            )
        arrays["observed_value"] = pa.array(
            [_observed(v) for v in frame.get("observed_value", pd.Series([None] * n))],
            type=pa.string(),
        )
        arrays["details"] = pa.array(
            [
                None if v is None else json.dumps(v, default=str, sort_keys=True)
                for v in frame.get("details", pd.Series([None] * n))
            ],
            type=pa.string(),
        )
        data = pa.table(arrays)
        if data["success"].null_count or data["expectation"].null_count:
            raise FrameError(f"{where}: every result needs 'expectation' and 'success'")
        with self._begin() as conn:
            conn.execute(
                sa.delete(VALIDATION_RESULTS).where(
                    VALIDATION_RESULTS.c.source == source,
                    VALIDATION_RESULTS.c.logical_date == day,
                )
            )
            self._bulk_insert(conn, VALIDATION_RESULTS, data)
        return n

    # --- partition summaries -----------------------------------------------------------------

    def record_partition(self, summary: PartitionSummary) -> None:
        """Insert or replace the summary row of one partition."""
        values = asdict(summary)
        values["loaded_at"] = summary.loaded_at or dt.datetime.now(dt.UTC)
        insert = postgresql.insert if self.dialect != "sqlite" else sqlite.insert
        stmt = insert(PARTITION_LOADS).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "logical_date"],
            set_={k: stmt.excluded[k] for k in values if k not in ("source", "logical_date")},
        )
        with self._begin() as conn:
            conn.execute(stmt)
        self.cache.invalidate_partition(summary.source, summary.logical_date)

    def partition_summary(
        self, source: str, logical_date: dt.date | str
    ) -> PartitionSummary | None:
        """The recorded summary of one partition, or ``None`` (cached)."""
        day = partition_date(logical_date)

        def compute() -> dict[str, Any] | None:
            with self._begin() as conn:
                row = conn.execute(
                    sa.select(PARTITION_LOADS).where(
                        PARTITION_LOADS.c.source == source,
                        PARTITION_LOADS.c.logical_date == day,
                    )
                ).first()
            return PartitionSummary.from_dict(row._asdict()).to_dict() if row else None

        data = self._cached(cache_key(source, "summary", day, day), compute)
        return PartitionSummary.from_dict(data) if data else None

    # --- history -----------------------------------------------------------------------------

    def read_history(
        self,
        source: str,
        since: dt.date | str,
        until: dt.date | str,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Processed rows with ``since <= logical_date <= until``, ordered by date and key (cached).

        Columns come back as nullable pandas dtypes, the same on PostgreSQL and SQLite.
        """
        first, last = partition_date(since), partition_date(until)
        wanted = ",".join(columns) if columns else "*"
        digest = hashlib.sha1(wanted.encode(), usedforsecurity=False).hexdigest()[:12]

        def compute() -> pd.DataFrame:
            with self._begin() as conn:
                table = self._reflect(conn, source)
                unknown = [c for c in columns or [] if c not in table.c]
                if unknown:
                    raise WarehouseError(
                        f"source {source}: {table.name} has no column(s) {', '.join(unknown)}"
                    )
                selected = [table.c[c] for c in columns] if columns else list(table.c)
                query = (
                    sa.select(*selected)
                    .where(table.c.logical_date >= first, table.c.logical_date <= last)
                    .order_by(table.c.logical_date, table.c.record_key)
                )
                rows = conn.execute(query).all()
            return _typed_frame(rows, selected)

        return self._cached(cache_key(source, "history", first, last, digest), compute)

    def recent_row_counts(self, source: str, before_date: dt.date | str, n: int) -> list[int]:
        """Rows of the last ``n`` loaded partitions before ``before_date``, oldest first (cached)."""
        before = partition_date(before_date)

        def compute() -> list[int]:
            with self._begin() as conn:
                table = self._reflect(conn, source)
                query = (
                    sa.select(table.c.logical_date, sa.func.count())
                    .where(table.c.logical_date < before)
                    .group_by(table.c.logical_date)
                    .order_by(table.c.logical_date.desc())
                    .limit(n)
                )
                counts = [int(count) for _day, count in conn.execute(query)]
            return counts[::-1]

        last = before - dt.timedelta(days=1)
        return self._cached(cache_key(source, "row_counts", None, last, str(n)), compute)

    def _cached(self, key: str, fn: Callable[[], Any]) -> Any:
        return self.cache.get_or_compute(key, self.cache_ttl_seconds, fn)


def _observed(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _typed_frame(rows: Sequence[Any], columns: list[sa.Column[Any]]) -> pd.DataFrame:
    """Rows as a frame with one dtype per SQL type, so both databases give equal frames."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns], dtype=object)
    for column in columns:
        kind = _kind(column.type)
        values = frame[column.name]
        if kind in kind_names():
            frame[column.name] = values.astype(field_kind(kind).pandas_dtype)
        elif kind == "float":
            frame[column.name] = pd.to_numeric(values).astype("Float64")
        elif kind == "datetime":
            frame[column.name] = pd.to_datetime(values, utc=True)
        elif kind == "json":
            frame[column.name] = values.map(lambda v: json.loads(v) if isinstance(v, str) else v)
    return frame
