"""Versions of a catalogue source: a type-2 slowly changing dimension rebuilt from observations.

``processed_<source>`` of a catalogue source holds the observations: every record of every
loaded date, keyed by (source, key, date). ``catalogue_partitions`` holds the dates observed
(a date with no row still closes what was open) and the columns each date's load wrote;
``crawl_branches`` / ``crawl_listed`` what each date's crawl read of its list pages
(:mod:`harvest.observation`). ``versions_<source>`` is derived from them: walking a key's
observations over the observed dates,

- the first observation, or one after the version was closed, opens a version
  (``valid_from`` = that date);
- an observation whose *observed* tracked columns (``tracked_fields``, default every field but
  the key; derived columns such as a ``convert_to`` amount never count) differ from the last
  observation closes the version (``valid_to`` = that date) and opens a new one. A column only
  compares between two dates whose loads both wrote it (a field added to the spec is no change
  of any item), and a value imputed on either date is no observation;
- an observed date without the key closes the open version on that date only when the crawl
  looked where the key was listed (:func:`harvest.observation.looked_for`: a branch of list
  pages that listed it was read whole, or is gone from the site). Otherwise the key is
  *unobserved* that date: its version stays open and ``last_seen`` does not move;
- anything else only moves ``last_seen``. A version holds the values of its last observation.

Versions are a pure function of those tables, so a re-run of a date and dates loaded in any
order give the same rows. Loading date D can change the versions of the keys observed on D
(before or after the load) and of the keys whose version was open on D;
:func:`refresh_versions` recomputes exactly those keys from all of their observations, in the
load's transaction. Per-date counts (opened, closed, unchanged, unobserved) follow from the
versions; D's next observed date's counts may change too, and are returned for it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.observation import looked_for
from harvest.storage.warehouse.dialects import insert
from harvest.storage.warehouse.observed import CrawlAccounts, Listed, crawl_accounts
from harvest.storage.warehouse.schema import (
    CATALOGUE_PARTITIONS,
    PARTITION_LOADS,
    field_columns,
    observed_columns,
    versions_table,
)

_CHUNK = 500  # keys per IN (...) list

Gone = Callable[[Mapping[str, Any], dt.date], tuple[bool, str | None]]
"""Whether a key whose last observation is the given row was looked for (and so is gone) on a
date it was not observed: ``(gone, why unobserved)``."""


@dataclass(frozen=True)
class VersionCounts:
    """What the versions say about one observed date."""

    logical_date: dt.date
    opened: int  # versions with valid_from on the date (new keys, changed ones, returns)
    closed: int  # versions with valid_to on the date (changed or disappeared)
    unchanged: int  # keys observed on the date whose version started earlier
    unobserved: int = 0  # keys whose version spans the date, not observed on it
    unobserved_reasons: dict[str, int] = field(default_factory=dict)  # why, of those refreshed


def version_rows(
    observations: Sequence[Mapping[str, Any]],
    observed_dates: Sequence[dt.date],
    tracked: Sequence[str],
    *,
    gone: Gone | None = None,
    columns: Mapping[dt.date, frozenset[str] | None] | None = None,
    unobserved: dict[dt.date, str | None] | None = None,
) -> list[dict[str, Any]]:
    """The versions of one key from its observations (each with ``logical_date``, sorted by it,
    and ``imputed``, the fields imputed in it, when known) and every observed date of the source
    (sorted); see the module docstring. ``gone``: the rule for a date without the key (default:
    gone); ``columns``: the columns each date's load wrote (``None`` or absent: all);
    ``unobserved`` collects the dates the key was not looked for, with the reason."""
    versions: list[dict[str, Any]] = []
    if not observations:
        return versions
    by_date = {row["logical_date"]: row for row in observations}
    first = observations[0]["logical_date"]
    days = sorted({d for d in observed_dates if d >= first} | set(by_date))
    current: dict[str, Any] | None = None
    last: Mapping[str, Any] | None = None
    seen: dict[str, Any] = {}  # tracked column -> its last observed (not imputed) value
    for day in days:
        row = by_date.get(day)
        if row is None:
            if current is None or last is None:
                continue
            is_gone, why = gone(last, day) if gone is not None else (True, None)
            if is_gone:
                current["valid_to"] = day
                current = None
            elif unobserved is not None:
                unobserved[day] = why
            continue
        observed = _observed(row, tracked, (columns or {}).get(day))
        if current is not None and any(seen[c] != v for c, v in observed.items() if c in seen):
            current["valid_to"] = day
            current = None
        values = {k: v for k, v in row.items() if k not in ("logical_date", "imputed")}
        if current is None:
            current = {**values, "valid_from": day, "valid_to": None}
            versions.append(current)
            seen = {}
        else:
            current.update(values)
        seen.update(observed)
        current["last_seen"] = day
        last = row
    return versions


def _observed(
    row: Mapping[str, Any], tracked: Sequence[str], loaded: frozenset[str] | None
) -> dict[str, Any]:
    """The tracked columns a row observed: written by its date's load, not imputed."""
    imputed = _imputed(row)
    return {c: row[c] for c in tracked if (loaded is None or c in loaded) and c not in imputed}


def _imputed(row: Mapping[str, Any]) -> frozenset[str]:
    value = row.get("imputed")
    if not value:
        return frozenset()
    names = json.loads(value) if isinstance(value, str) else value
    return frozenset(str(n) for n in names)


def refresh_versions(
    conn: sa.Connection,
    spec: SourceSpec,
    processed: sa.Table,
    day: dt.date,
    keys_before: Iterable[str],
    rows: int,
) -> tuple[VersionCounts, VersionCounts | None]:
    """Record ``day`` as observed (``rows`` records, the columns the spec loads) and rebuild the
    versions its load can change; the counts of ``day`` and of the next observed date (``None``
    if there is none)."""
    source = spec.name
    versions = versions_table(spec)
    loaded = [c.name for c in processed.columns if c.name != "loaded_at"]
    upsert = insert(conn, CATALOGUE_PARTITIONS).values(
        source=source, logical_date=day, rows=rows, columns=loaded
    )
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["source", "logical_date"],
            set_={"rows": upsert.excluded.rows, "columns": upsert.excluded.columns},
        )
    )
    columns = observed_dates(conn, source)
    dates = sorted(columns)
    at = dates.index(day)
    around = [dates[at - 1]] if at else []
    observed_near = sa.select(processed.c.record_key).where(
        processed.c.source == source, processed.c.logical_date.in_([day, *around])
    )
    spanning = sa.select(versions.c.record_key).where(
        versions.c.source == source,
        versions.c.valid_from < day,
        sa.or_(versions.c.valid_to.is_(None), versions.c.valid_to >= day),
    )
    affected = sorted(
        set(keys_before)
        | set(conn.execute(observed_near).scalars())
        | set(conn.execute(spanning).scalars())
    )
    reasons = _rebuild(conn, spec, processed, affected, columns, day)
    following = dates[at + 1] if at + 1 < len(dates) else None
    next_counts = (
        _counts(conn, spec, processed, versions, following) if following is not None else None
    )
    return _counts(conn, spec, processed, versions, day, reasons), next_counts


def rebuild_versions(
    conn: sa.Connection, spec: SourceSpec, processed: sa.Table
) -> list[VersionCounts]:
    """Rebuild every version of ``spec`` from its observations (a migration: a mode switch, a
    retyped column); each observed date's counts, in date order."""
    columns = observed_dates(conn, spec.name)
    keys = conn.execute(
        sa.select(processed.c.record_key).where(processed.c.source == spec.name).distinct()
    ).scalars()
    versions = versions_table(spec)
    conn.execute(sa.delete(versions).where(versions.c.source == spec.name))
    _rebuild(conn, spec, processed, sorted(keys), columns, None)
    return [_counts(conn, spec, processed, versions, day) for day in sorted(columns)]


def restate_counts(conn: sa.Connection, source: str, counts: VersionCounts) -> None:
    """Bring the recorded versions counts of a date (``partition_loads``) in line with the
    versions now."""
    conn.execute(
        sa.update(PARTITION_LOADS)
        .where(
            PARTITION_LOADS.c.source == source,
            PARTITION_LOADS.c.logical_date == counts.logical_date,
        )
        .values(
            versions_opened=counts.opened,
            versions_closed=counts.closed,
            versions_unchanged=counts.unchanged,
            versions_unobserved=counts.unobserved,
        )
    )


def observed_dates(conn: sa.Connection, source: str) -> dict[dt.date, frozenset[str] | None]:
    """The observed dates of a catalogue source and the columns each date's load wrote."""
    partitions = conn.execute(
        sa.select(CATALOGUE_PARTITIONS.c.logical_date, CATALOGUE_PARTITIONS.c.columns).where(
            CATALOGUE_PARTITIONS.c.source == source
        )
    ).all()
    return {d: _column_set(c) for d, c in partitions}


def _rebuild(
    conn: sa.Connection,
    spec: SourceSpec,
    processed: sa.Table,
    keys: Sequence[str],
    columns: Mapping[dt.date, frozenset[str] | None],
    day: dt.date | None,
) -> dict[str, int]:
    """Replace the versions of ``keys`` (sorted) with those rebuilt from all their observations;
    why keys were unobserved on ``day``, counted."""
    source = spec.name
    versions = versions_table(spec)
    dates = sorted(columns)
    values = ["url", *field_columns(spec)]
    tracked = list(observed_columns(spec, spec.versioned_fields))
    accounts = crawl_accounts(conn, source)
    loaded_at = dt.datetime.now(dt.UTC)
    reasons: Counter[str] = Counter()
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        conn.execute(
            sa.delete(versions).where(versions.c.source == source, versions.c.record_key.in_(chunk))
        )
        query = (
            sa.select(
                processed.c.record_key,
                processed.c.logical_date,
                processed.c.imputed,
                *(processed.c[v] for v in values),
            )
            .where(processed.c.source == source, processed.c.record_key.in_(chunk))
            .order_by(processed.c.record_key, processed.c.logical_date)
        )
        by_key: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(query).mappings():
            by_key.setdefault(row["record_key"], []).append(dict(row))
        urls = {row["url"] for observations in by_key.values() for row in observations}
        listed = accounts.listed_for(conn, urls)
        new_rows = []
        for observations in by_key.values():
            skipped: dict[dt.date, str | None] = {}
            for version in version_rows(
                observations,
                dates,
                tracked,
                gone=_gone_rule(accounts, listed),
                columns=columns,
                unobserved=skipped,
            ):
                new_rows.append({**version, "source": source, "loaded_at": loaded_at})
            if day is not None and day in skipped:
                reasons[skipped[day] or "unknown"] += 1
        if new_rows:
            conn.execute(sa.insert(versions), new_rows)
    return dict(reasons)


def _column_set(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    names = json.loads(value) if isinstance(value, str) else value
    return frozenset(str(n) for n in names)


def _gone_rule(accounts: CrawlAccounts, listed: Listed) -> Gone:
    """:data:`Gone` from the crawl accounts: where the key was listed when last observed (its
    URL on that date), and what the date's crawl read."""

    def gone(last: Mapping[str, Any], day: dt.date) -> tuple[bool, str | None]:
        on = accounts.day(day, listed)
        where = listed.get(last["logical_date"], {}).get(last["url"], set())
        return looked_for(where, last["url"], on, accounts.parents)

    return gone


def _counts(
    conn: sa.Connection,
    spec: SourceSpec,
    processed: sa.Table,
    versions: sa.Table,
    day: dt.date,
    reasons: dict[str, int] | None = None,
) -> VersionCounts:
    def count(table: sa.Table, *where: Any) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        return int(conn.execute(query.where(table.c.source == spec.name, *where)).scalar_one())

    opened = count(versions, versions.c.valid_from == day)
    closed = count(versions, versions.c.valid_to == day)
    observed = count(processed, processed.c.logical_date == day)
    spanning = count(
        versions,
        versions.c.valid_from <= day,
        sa.or_(versions.c.valid_to.is_(None), versions.c.valid_to > day),
    )
    return VersionCounts(
        day, opened, closed, observed - opened, max(0, spanning - observed), reasons or {}
    )
