"""``dedup_matches``: what de-duplication dropped or matched and kept, per partition.

Every record clean drops as a duplicate stays queryable here with the record it matched, the
rule and the score (:mod:`harvest.cleaning.dedup`), beside the pairs it kept: content-identical
records with other keys (reported) and near pairs scored just below the threshold (borderline,
what ``harvest dedup review`` shows). A partition's rows are replaced whole in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
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


def _value(value: Any) -> Any:
    return None if value is None or value is pd.NA or value != value else value


def _json(value: Any) -> Any:
    value = _value(value)
    return json.loads(value) if isinstance(value, str) else value


def replace_dedup_matches(
    conn: sa.Connection, source: str, logical_date: dt.date, matches: pd.DataFrame
) -> int:
    """Make the ``dedup_matches`` rows of one partition exactly ``matches`` (clean's
    ``duplicates`` and ``dedup_kept`` frames, concatenated), in ``conn``'s transaction; returns
    the row count. Raises :class:`FrameError` naming the partition when a column is missing."""
    missing = [c for c in MATCH_FRAME_COLUMNS if c not in matches]
    if missing:
        raise FrameError(
            f"dedup matches of source {source}, logical date {logical_date}: the frame lacks "
            f"{', '.join(missing)} (re-run the clean stage)"
        )
    n = len(matches)
    frame = matches[list(MATCH_FRAME_COLUMNS)].reset_index(drop=True)
    sqlite = conn.dialect.name == "sqlite"
    dates = pd.to_datetime(frame["matched_date"].astype("string").str[:10], errors="coerce")
    scores = pd.to_numeric(frame["score"].astype(object).map(_value), errors="coerce")
    rows = pa.table(
        {
            "source": pa.array([source] * n, pa.string()),
            "logical_date": pa.array([logical_date] * n, pa.date32()),
            "position": pa.array(np.arange(n, dtype=np.int32)),
            "record_key": _text(frame["record_key"]),
            "url": pa.array(frame["url"].astype("string"), pa.string(), from_pandas=True),
            "matched_key": _text(frame["is_duplicate_of"]),
            "matched_date": pa.array(dates.dt.date.astype(object), pa.date32(), from_pandas=True),
            "rule": _text(frame["rule"]),
            "scope": _text(frame["scope"]),
            "score": pa.array(scores.astype("float64"), pa.float64(), from_pandas=True),
            "action": _text(frame["action"]),
            "record": _json_texts(frame["record"], sqlite),
            "matched_record": _json_texts(frame["matched_record"], sqlite),
        }
    )
    conn.execute(
        sa.delete(DEDUP_MATCHES).where(
            DEDUP_MATCHES.c.source == source, DEDUP_MATCHES.c.logical_date == logical_date
        )
    )
    bulk_insert(conn, DEDUP_MATCHES, rows)  # COPY on PostgreSQL
    return n


def _text(values: pd.Series) -> pa.Array:
    """A column as text, every value (a missing one as ``"None"``/``"<NA>"``, as ``str`` gives)."""
    return pa.array([str(v) for v in values], pa.string())


def _json_texts(values: pd.Series, sqlite: bool) -> pa.Array:
    """JSON values (dicts, or their staged text) as the text the JSON column is given: on
    PostgreSQL the staged text itself (``jsonb`` parses it), on SQLite the text SQLAlchemy's
    ``JSON`` writes (``json.dumps`` of the value); a missing value as JSON ``null``, as
    SQLAlchemy stores ``None``."""
    out = []
    for value in values:
        value = _value(value)
        if isinstance(value, str) and not sqlite:
            out.append(value)
        else:
            out.append(json.dumps(_json(value)))
    return pa.array(out, pa.string())


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
