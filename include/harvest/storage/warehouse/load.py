"""The partition load: make ``processed_<source>`` hold exactly a frame for one partition, in one
transaction.

Rows go into a temporary staging table and are upserted on (source, record_key) -- unchanged
rows are not touched, so a re-run keeps even their ``loaded_at`` -- and rows of the partition
that are no longer in it are deleted. A failure leaves the previous contents; a re-run gives
identical ones.

The first load of a partition on PostgreSQL (the nightly case: no row has that logical date yet,
and a sample of its keys is not in the table) skips the staging table and COPYs straight into the
processed table, under a savepoint in the same transaction. The primary key still guards it: a
key that already exists under another date makes the COPY fail with a unique violation, which
rolls back to the savepoint and loads the partition through the staging + upsert path instead
(so the key moves, as always). Both paths leave the same contents; :attr:`LoadResult.strategy` says
which one ran.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.staging import FrameParts
from harvest.storage.warehouse.arrow import processed_arrow
from harvest.storage.warehouse.copy import bulk_insert
from harvest.storage.warehouse.dialects import (
    UtcDateTime,
    analyze,
    insert,
    lock_key,
    transaction_lock,
)
from harvest.storage.warehouse.engine import begin, describe
from harvest.storage.warehouse.errors import WarehouseError
from harvest.storage.warehouse.migrations import check_table
from harvest.storage.warehouse.schema import (
    key_columns,
    processed_columns,
    processed_table,
    versions_table,
)
from harvest.storage.warehouse.versions import VersionCounts, refresh_versions, restate_counts

log = logging.getLogger(__name__)

KEY_SAMPLE = 1_000  # keys looked up before trying the direct COPY of a first load
UNIQUE_VIOLATION = "23505"  # SQLSTATE


@dataclass(frozen=True)
class LoadResult:
    """One partition load: ``rows`` in the partition now, ``written`` of them new or changed,
    ``deleted`` rows that were no longer in the partition. ``strategy`` is ``"copy"`` when a first
    load was COPYed straight into the table, ``"upsert"`` when it went through the staging table
    (re-runs, keys already in the table, SQLite)."""

    source: str
    logical_date: dt.date
    rows: int
    written: int
    deleted: int
    seconds: float
    strategy: str = "upsert"
    versions: VersionCounts | None = None  # catalogue: the versions counts of this date

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logical_date"] = self.logical_date.isoformat()
        if self.versions is not None:
            data["versions"]["logical_date"] = self.versions.logical_date.isoformat()
        return data


Tables = Callable[[], Iterator[pa.Table]]


def load_partition(
    engine: sa.Engine,
    spec: SourceSpec,
    logical_date: dt.date,
    frame: pd.DataFrame | FrameParts,
    checked: dict[str, frozenset[str]],
    *,
    direct_copy: bool = True,
) -> LoadResult:
    """Make ``processed_<source>`` hold exactly ``frame`` for this partition, in one transaction
    (``checked``: see :func:`~harvest.storage.warehouse.migrations.check_table`). A
    :class:`FrameParts` is streamed part by part through the same COPY, never held whole.

    ``direct_copy=False`` always takes the staging + upsert path (the baseline the direct COPY
    of a first load is measured against in ``benchmarks/bench_load.py``).
    """
    started = time.perf_counter()
    day = logical_date
    tables: Tables
    if isinstance(frame, FrameParts):
        parts, num_rows = frame, frame.rows

        def tables() -> Iterator[pa.Table]:
            return (processed_arrow(spec, day, part) for part in parts.parts())
    else:
        data = processed_arrow(spec, day, frame)
        num_rows = data.num_rows

        def tables() -> Iterator[pa.Table]:
            return iter([data])

    table = processed_table(spec)
    catalogue = spec.mode == "catalogue"
    counts = None
    try:
        with begin(engine) as conn:
            check_table(conn, spec, table, checked)
            if catalogue:
                check_table(conn, spec, versions_table(spec), checked)
                transaction_lock(conn, lock_key(spec.name))  # one version rebuild at a time
                before = conn.execute(
                    sa.select(table.c.record_key).where(
                        table.c.source == spec.name, table.c.logical_date == day
                    )
                ).scalars()
                keys_before = list(before)
            strategy = "copy"
            written, deleted = num_rows, 0
            if not direct_copy or not _copy_new_partition(
                conn, table, spec.name, day, tables, num_rows, not catalogue
            ):
                strategy = "upsert"
                written, deleted = _upsert_partition(
                    conn, table, spec, day, tables, key_columns(spec)
                )
            if catalogue:
                counts, following = refresh_versions(conn, spec, table, day, keys_before, num_rows)
                if following is not None:
                    restate_counts(conn, spec.name, following)
    except (sa.exc.DBAPIError, engine.dialect.loaded_dbapi.Error) as exc:
        # COPY runs on the driver's own cursor, so its errors arrive unwrapped
        orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        reason = str(orig).strip()
        raise WarehouseError(
            f"loading source {spec.name}, logical date {day} into {describe(engine.url)} failed and "
            f"was rolled back (nothing changed); re-run the load: {reason}"
        ) from exc
    result = LoadResult(
        spec.name,
        day,
        num_rows,
        written,
        deleted,
        time.perf_counter() - started,
        strategy,
        counts,
    )
    log.info(
        "loaded %s %s: %d rows (%d written, %d deleted) in %.1fs by %s",
        spec.name, day, result.rows, written, deleted, result.seconds, strategy,
    )  # fmt: skip
    return result


def _copy_new_partition(
    conn: sa.Connection,
    table: sa.Table,
    source: str,
    day: dt.date,
    tables: Tables,
    num_rows: int,
    check_keys: bool = True,
) -> bool:
    """The first load of a partition, COPYed straight into the table; False when it does not
    apply (nothing written then).

    Only on PostgreSQL, only when no row has this logical date (so nothing is to be deleted
    and no row of the partition can be unchanged) and none of a sample of the keys exists
    (keys that moved from another date would only make the COPY fail). The primary key is
    what guarantees correctness: any key already in the table fails the COPY with a unique
    violation, which rolls back to the savepoint; the caller then takes the upsert path.
    """
    if conn.dialect.name != "postgresql" or num_rows == 0:
        return False
    partition = sa.select(table.c.logical_date).where(
        table.c.source == source, table.c.logical_date == day
    )
    if conn.execute(partition.limit(1)).first() is not None:
        return False  # a re-load: the upsert keeps unchanged rows and deletes the gone ones
    if not check_keys:  # the key includes the date: nothing of this date, nothing to collide
        return _copy(conn, table, source, day, tables)
    keys = next(tables())["record_key"]  # parts: the first part's
    step = max(1, len(keys) // KEY_SAMPLE)
    sample = keys.take(pa.array(range(0, len(keys), step))).to_pylist()
    known = sa.select(table.c.record_key).where(
        table.c.source == source, table.c.record_key.in_(sample)
    )
    if conn.execute(known.limit(1)).first() is not None:
        return False
    return _copy(conn, table, source, day, tables)


def _copy(conn: sa.Connection, table: sa.Table, source: str, day: dt.date, tables: Tables) -> bool:
    loaded_at = pa.scalar(dt.datetime.now(dt.UTC), pa.timestamp("us", tz="UTC"))
    rows = (t.append_column("loaded_at", pa.repeat(loaded_at, t.num_rows)) for t in tables())
    savepoint = conn.begin_nested()
    try:
        bulk_insert(conn, table, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
        if code != UNIQUE_VIOLATION:
            raise  # the whole transaction rolls back
        savepoint.rollback()
        log.info("%s %s: a key is already in %s; upserting", source, day, table.name)
        return False
    savepoint.commit()
    return True


def _upsert_partition(
    conn: sa.Connection,
    table: sa.Table,
    spec: SourceSpec,
    day: dt.date,
    tables: Tables,
    keys: tuple[str, ...],
) -> tuple[int, int]:
    source, columns = spec.name, list(processed_columns(spec))
    is_sqlite = conn.dialect.name == "sqlite"
    stage = sa.Table(
        "harvest_stage",
        sa.MetaData(),
        *(
            # the key indexed for the anti-join below (on PostgreSQL after the COPY)
            sa.Column(c.name, c.type, primary_key=is_sqlite and c.name == "record_key")
            for c in table.columns
            if c.name in columns
        ),
        prefixes=["TEMPORARY"],
    )
    stage.create(conn)
    bulk_insert(conn, stage, tables())
    if not is_sqlite:
        # Indexed after the COPY (one sort): whatever the processed table's statistics say (a
        # never-analyzed table, or a date just loaded, estimated at one row), the anti-join
        # below then probes the index per row (n log n) instead of scanning the whole staging
        # table per row, which made a re-load right after a load quadratic (10k rows: 18 s).
        sa.Index("ix_harvest_stage_record_key", stage.c.record_key).create(conn)
    analyze(conn, "harvest_stage", "record_key")  # for the anti-join plan
    # Delete first: on a first load the partition is empty and this costs nothing.
    gone = sa.delete(table).where(
        table.c.source == source,
        table.c.logical_date == day,
        ~sa.exists().where(stage.c.record_key == table.c.record_key),
    )
    deleted = conn.execute(gone).rowcount

    loaded_at = sa.literal(dt.datetime.now(dt.UTC), UtcDateTime())
    # WHERE true: SQLite needs it to tell the SELECT's end from the ON CONFLICT clause.
    select = sa.select(*(stage.c[c] for c in columns), loaded_at).where(sa.true())
    upsert = insert(conn, table).from_select([*columns, "loaded_at"], select)
    values = [c for c in columns if c not in keys]
    upsert = upsert.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: upsert.excluded[c] for c in [*values, "loaded_at"]},
        where=sa.or_(*(table.c[c].is_distinct_from(upsert.excluded[c]) for c in values)),
    )
    written = conn.execute(upsert).rowcount
    stage.drop(conn)
    return written, deleted
