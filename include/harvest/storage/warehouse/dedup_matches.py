"""``dedup_matches``: what de-duplication dropped or matched and kept, per partition.

Every record clean drops as a duplicate stays queryable here with the record it matched, the
rule and the score (:mod:`harvest.cleaning.dedup`), beside the pairs it kept: content-identical
records with other keys (reported) and near pairs scored just below the threshold (borderline,
what ``harvest dedup review`` shows). A partition's rows are replaced whole in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from harvest.storage.warehouse.copy import bulk_insert
from harvest.storage.warehouse.errors import FrameError
from harvest.storage.warehouse.schema import DEDUP_MATCHES

MATCH_FRAME_COLUMNS = (
    "record_key",
    "url",
    "logical_date",
    "is_duplicate_of",
    "matched_date",
    "rule",
    "scope",
    "score",
    "action",
    "record",
    "matched_record",
)
"""The columns :func:`replace_dedup_matches` reads from clean's staged frames."""
MATCH_BATCH_ROWS = 10_000
"""Rows of clean's staged match frames read, converted and sent at a time by the load."""


def _value(value: Any) -> Any:
    return None if value is None or value is pd.NA or value != value else value


def _json(value: Any) -> Any:
    value = _value(value)
    return json.loads(value) if isinstance(value, str) else value


def replace_dedup_matches(
    conn: sa.Connection,
    source: str,
    logical_date: dt.date,
    matches: Sequence[pa.RecordBatchReader],
) -> int:
    """Make the ``dedup_matches`` rows of one partition exactly the rows of ``matches`` (clean's
    ``duplicates`` and ``dedup_kept`` frames, in this order, as readers of Arrow record batches:
    :func:`harvest.storage.staging.staged_batches`), in ``conn``'s transaction; returns the row
    count. Each batch is converted and sent in turn (one COPY on PostgreSQL), so only a batch or
    two is held, ``position`` numbering the rows from 0 across batches. Raises
    :class:`FrameError` naming the partition, before anything changes, when a reader lacks one
    of :data:`MATCH_FRAME_COLUMNS`."""
    for reader in matches:
        missing = [c for c in MATCH_FRAME_COLUMNS if c not in reader.schema.names]
        if missing:
            raise FrameError(
                f"dedup matches of source {source}, logical date {logical_date}: the frame lacks "
                f"{', '.join(missing)} (re-run the clean stage)"
            )
    sqlite = conn.dialect.name == "sqlite"
    written = 0

    def tables() -> Iterator[pa.Table]:
        nonlocal written
        for reader in matches:
            for batch in reader:
                rows = match_rows(batch, source, logical_date, written, sqlite)
                written += rows.num_rows
                yield rows

    conn.execute(
        sa.delete(DEDUP_MATCHES).where(
            DEDUP_MATCHES.c.source == source, DEDUP_MATCHES.c.logical_date == logical_date
        )
    )
    bulk_insert(conn, DEDUP_MATCHES, tables())  # COPY on PostgreSQL
    return written


def match_rows(
    batch: pa.RecordBatch, source: str, logical_date: dt.date, start: int, sqlite: bool
) -> pa.Table:
    """One batch of clean's match rows (:data:`MATCH_FRAME_COLUMNS`) as ``dedup_matches`` rows of
    the partition, ``position`` from ``start``; ``sqlite``: the JSON text SQLite is given."""
    n = batch.num_rows
    column = batch.column
    return pa.table(
        {
            "source": pa.repeat(pa.scalar(source, pa.string()), n),
            "logical_date": pa.repeat(pa.scalar(logical_date, pa.date32()), n),
            "position": pa.array(np.arange(start, start + n, dtype=np.int32)),
            "record_key": _text(column("record_key")),
            "url": pc.cast(column("url"), pa.string()),
            "matched_key": _text(column("is_duplicate_of")),
            "matched_date": _dates(column("matched_date")),
            "rule": _text(column("rule")),
            "scope": _text(column("scope")),
            "score": _scores(column("score")),
            "action": _text(column("action")),
            "record": _json_texts(column("record"), sqlite),
            "matched_record": _json_texts(column("matched_record"), sqlite),
        }
    )


def _text(values: pa.Array) -> pa.Array:
    """A column as text, every value (a missing one as ``"<NA>"``, the text pandas gives it)."""
    return pc.fill_null(pc.cast(values, pa.string()), "<NA>")


def _dates(values: pa.Array) -> pa.Array:
    """Dates from their ISO text (or dates, timestamps): the first 10 characters, null when they
    are no ``YYYY-MM-DD``."""
    text = pc.utf8_slice_codeunits(pc.cast(values, pa.string()), 0, 10)
    stamps = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.cast(stamps, pa.date32())


def _scores(values: pa.Array) -> pa.Array:
    """Scores as doubles, NaN as null."""
    scores = pc.cast(values, pa.float64())
    return pc.if_else(pc.is_nan(scores), pa.scalar(None, pa.float64()), scores)


def _json_texts(values: pa.Array, sqlite: bool) -> pa.Array:
    """JSON values (their staged text, or dicts) as the text the JSON column is given: on
    PostgreSQL the staged text itself (``jsonb`` parses it), on SQLite the text SQLAlchemy's
    ``JSON`` writes (``json.dumps`` of the value); a missing value as JSON ``null``, as
    SQLAlchemy stores ``None``."""
    if not sqlite and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pc.fill_null(pc.cast(values, pa.string()), "null")
    return pa.array([json.dumps(_json(v)) for v in values.to_pylist()], pa.string())


def read_dedup_matches(
    conn: sa.Connection,
    source: str,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    actions: tuple[str, ...] | None = None,
    record_key: str | None = None,
) -> pd.DataFrame:
    """The ``dedup_matches`` rows of a source (optionally between two logical dates, of some
    actions, or of one record), ordered by (logical date, position); ``record`` and
    ``matched_record`` as dicts."""
    table = DEDUP_MATCHES
    query = sa.select(table).where(table.c.source == source)
    if since is not None:
        query = query.where(table.c.logical_date >= since)
    if until is not None:
        query = query.where(table.c.logical_date <= until)
    if actions:
        query = query.where(table.c.action.in_(actions))
    if record_key is not None:
        query = query.where(table.c.record_key == record_key)
    query = query.order_by(table.c.logical_date, table.c.position)
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(table.c.keys()))
    for column in ("record", "matched_record"):
        frame[column] = [_json(v) for v in frame[column]]
    return frame
