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

import pandas as pd
import sqlalchemy as sa

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
    rows = []
    for position, row in enumerate(matches[list(MATCH_FRAME_COLUMNS)].itertuples(index=False)):
        matched_date = _value(row.matched_date)
        score = _value(row.score)
        rows.append(
            {
                "source": source,
                "logical_date": logical_date,
                "position": position,
                "record_key": str(row.record_key),
                "url": _value(row.url),
                "matched_key": str(row.is_duplicate_of),
                "matched_date": dt.date.fromisoformat(str(matched_date)[:10])
                if matched_date
                else None,
                "rule": str(row.rule),
                "scope": str(row.scope),
                "score": None if score is None else float(score),
                "action": str(row.action),
                "record": _json(row.record),
                "matched_record": _json(row.matched_record),
            }
        )
    conn.execute(
        sa.delete(DEDUP_MATCHES).where(
            DEDUP_MATCHES.c.source == source, DEDUP_MATCHES.c.logical_date == logical_date
        )
    )
    if rows:
        conn.execute(sa.insert(DEDUP_MATCHES), rows)
    return len(rows)


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
