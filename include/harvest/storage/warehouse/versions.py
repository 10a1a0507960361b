"""Versions of a catalogue source: a type-2 slowly changing dimension rebuilt from observations.

``processed_<source>`` of a catalogue source holds the observations: every record of every
loaded date, keyed by (source, key, date). ``catalogue_partitions`` holds the dates observed
(a date with no row still closes what was open). ``versions_<source>`` is derived from the two:
walking a key's observations over the observed dates,

- the first observation, or one after a date the key was not seen, opens a version
  (``valid_from`` = that date);
- an observation whose tracked fields (``tracked_fields``, default every field but the key)
  differ from the open version's closes it (``valid_to`` = that date) and opens a new one;
- an observed date without the key closes the open version on that date (it disappeared);
- anything else only moves ``last_seen``. A version holds the values of its last observation
  (untracked fields are overwritten in place).

Versions are a pure function of (observations, observed dates), so a re-run of a date and dates
loaded in any order give the same rows. Loading date D can only change the versions of keys
observed on D (before or after the load) and of keys observed on the observed date before D
(which D may close); :func:`refresh_versions` recomputes exactly those keys from all of their
observations, in the load's transaction. Per-date counts (opened, closed, unchanged) follow from
the versions; D's next observed date's counts may change too, and are returned for it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.dialects import insert
from harvest.storage.warehouse.schema import (
    CATALOGUE_PARTITIONS,
    field_columns,
    versions_table,
)

_CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True)
class VersionCounts:
    """What the versions say about one observed date."""

    logical_date: dt.date
    opened: int  # versions with valid_from on the date (new keys, changed ones, returns)
    closed: int  # versions with valid_to on the date (changed or disappeared)
    unchanged: int  # keys observed on the date whose version started earlier


def version_rows(
    observations: Sequence[Mapping[str, Any]],
    observed_dates: Sequence[dt.date],
    tracked: Sequence[str],
) -> list[dict[str, Any]]:
    """The versions of one key from its observations (each with ``logical_date``, sorted by it)
    and every observed date of the source (sorted); see the module docstring."""
    versions: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for i, row in enumerate(observations):
        day = row["logical_date"]
        if current is not None:
            # observed dates strictly between the previous observation and this one: gone then
            previous = observations[i - 1]["logical_date"]
            gap = bisect.bisect_right(observed_dates, previous)
            if gap < len(observed_dates) and observed_dates[gap] < day:
                current["valid_to"] = observed_dates[gap]
                current = None
        if current is not None and any(current[c] != row[c] for c in tracked):
            current["valid_to"] = day
            current = None
        if current is None:
            current = {**row, "valid_from": day, "valid_to": None}
            versions.append(current)
        else:
            current.update({k: v for k, v in row.items() if k != "logical_date"})
        current["last_seen"] = day
    if current is not None and observations:
        after = bisect.bisect_right(observed_dates, observations[-1]["logical_date"])
        if after < len(observed_dates):
            current["valid_to"] = observed_dates[after]
    for version in versions:
        version.pop("logical_date", None)
    return versions


def refresh_versions(
    conn: sa.Connection,
    spec: SourceSpec,
    processed: sa.Table,
    day: dt.date,
    keys_before: Iterable[str],
    rows: int,
) -> tuple[VersionCounts, VersionCounts | None]:
    """Record ``day`` as observed (``rows`` records) and rebuild the versions its load can
    change; the counts of ``day`` and of the next observed date (``None`` if there is none)."""
    source = spec.name
    versions = versions_table(spec)
    upsert = insert(conn, CATALOGUE_PARTITIONS).values(source=source, logical_date=day, rows=rows)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["source", "logical_date"], set_={"rows": upsert.excluded.rows}
        )
    )
    dates = sorted(
        conn.execute(
            sa.select(CATALOGUE_PARTITIONS.c.logical_date).where(
                CATALOGUE_PARTITIONS.c.source == source
            )
        ).scalars()
    )
    at = dates.index(day)
    around = [dates[at - 1]] if at else []
    observed_near = sa.select(processed.c.record_key).where(
        processed.c.source == source, processed.c.logical_date.in_([day, *around])
    )
    affected = sorted(set(keys_before) | set(conn.execute(observed_near).scalars()))

    values = ["url", *field_columns(spec)]
    tracked = field_columns(spec, spec.versioned_fields)
    loaded_at = dt.datetime.now(dt.UTC)
    for start in range(0, len(affected), _CHUNK):
        chunk = affected[start : start + _CHUNK]
        conn.execute(
            sa.delete(versions).where(versions.c.source == source, versions.c.record_key.in_(chunk))
        )
        query = (
            sa.select(
                processed.c.record_key, processed.c.logical_date, *(processed.c[v] for v in values)
            )
            .where(processed.c.source == source, processed.c.record_key.in_(chunk))
            .order_by(processed.c.record_key, processed.c.logical_date)
        )
        by_key: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(query).mappings():
            by_key.setdefault(row["record_key"], []).append(dict(row))
        new_rows = [
            {**version, "source": source, "loaded_at": loaded_at}
            for observations in by_key.values()
            for version in version_rows(observations, dates, tracked)
        ]
        if new_rows:
            conn.execute(sa.insert(versions), new_rows)
    following = dates[at + 1] if at + 1 < len(dates) else None
    next_counts = (
        _counts(conn, spec, processed, versions, following) if following is not None else None
    )
    return _counts(conn, spec, processed, versions, day), next_counts


def _counts(
    conn: sa.Connection,
    spec: SourceSpec,
    processed: sa.Table,
    versions: sa.Table,
    day: dt.date,
) -> VersionCounts:
    def count(table: sa.Table, *where: Any) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        return int(conn.execute(query.where(table.c.source == spec.name, *where)).scalar_one())

    opened = count(versions, versions.c.valid_from == day)
    closed = count(versions, versions.c.valid_to == day)
    observed = count(processed, processed.c.logical_date == day)
    return VersionCounts(day, opened, closed, observed - opened)
