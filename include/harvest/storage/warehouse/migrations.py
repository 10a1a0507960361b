"""Migrations: what :func:`migrate` does to make the warehouse match the specs, and
:func:`check_table`, the check a load runs first.

A schema change is not an item change (issue 18), and every step keeps the rows:

- **safe steps**, run by every stage that opens the warehouse for a spec: create missing
  tables; add the columns of new fields (empty for the dates loaded before; for a catalogue the
  dates loaded before are recorded without them, ``catalogue_partitions.columns``, so no
  version opens for a value that only became visible).
- **planned steps**, run only by ``python -m harvest warehouse migrate`` (which prints them
  first; ``--plan`` prints without doing): a **retyped** field (its column keeps its values
  under ``<column>__<old type>``, a new column of the new type starts empty, no version opens);
  a **mode switch** to ``catalogue`` (the rows become observations on their dates, the table is
  re-keyed by (key, date), versions are built from them) or to ``listings`` (the observations
  are kept in ``processed_<source>__catalogue`` and the table holds each key's latest one).

A load of a source whose table does not match its spec stops with a message naming the command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse.dialects import transaction_lock
from harvest.storage.warehouse.errors import WarehouseError
from harvest.storage.warehouse.schema import (
    _CATALOGUE,
    _SHARED,
    CATALOGUE_PARTITIONS,
    MIGRATION_LOCK_ID,
    _type_family,
    key_columns,
    processed_table,
    processed_table_name,
    versions_table,
)
from harvest.storage.warehouse.versions import observed_dates, rebuild_versions, restate_counts

log = logging.getLogger(__name__)

COMMAND = "python -m harvest warehouse migrate"
HINT = f"run `{COMMAND}` (add --plan to see what it will do first)"


@dataclass(frozen=True)
class PlanStep:
    """A change :func:`migrate` makes only when asked (``apply=True``): what, for which source,
    and what it does to the rows (it keeps them)."""

    source: str
    kind: str  # "retype" | "mode"
    description: str

    def __str__(self) -> str:
        return f"{self.source}: {self.description}"


@dataclass
class MigrationReport:
    """What :meth:`Warehouse.migrate` did, and the planned steps it did or left pending."""

    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # catalogue dates recorded without a column
    pending: list[PlanStep] = field(default_factory=list)  # planned, not applied
    applied: list[PlanStep] = field(default_factory=list)

    @property
    def type_mismatches(self) -> list[str]:
        """The retyped columns not migrated yet (each says what the command will do)."""
        return [step.description for step in self.pending if step.kind == "retype"]

    @property
    def ok(self) -> bool:
        return not self.pending

    @property
    def changed(self) -> bool:
        return bool(self.created_tables or self.added_columns or self.applied)

    def lines(self) -> list[str]:
        """What was done and what is planned, a line each, for the command and the log."""
        return (
            [f"created table {t}" for t in self.created_tables]
            + [f"added column  {c} (empty for the rows loaded before)" for c in self.added_columns]
            + [f"recorded      {r}" for r in self.recorded]
            + [f"migrated      {step}" for step in self.applied]
            + [f"PLANNED       {step}" for step in self.pending]
        )


def migrate(
    conn: sa.Connection, specs: Iterable[SourceSpec], *, apply: bool = False
) -> MigrationReport:
    """Create missing tables and add missing columns for every spec (idempotent), in ``conn``'s
    transaction; with ``apply``, also run the planned steps (module docstring), else list them
    as pending."""
    report = MigrationReport()
    specs = list(specs)
    transaction_lock(conn, MIGRATION_LOCK_ID)  # concurrent migrations wait, not collide
    metadata = sa.MetaData()
    tables = [t.to_metadata(metadata) for t in _SHARED.sorted_tables]
    catalogues = [spec for spec in specs if spec.mode == "catalogue"]
    if catalogues:
        tables += [t.to_metadata(metadata) for t in _CATALOGUE.sorted_tables]
    tables += [processed_table(spec, metadata) for spec in specs]
    tables += [versions_table(spec, metadata) for spec in catalogues]
    inspector = sa.inspect(conn)
    before: dict[str, list[str]] = {}
    for table in tables:
        if not inspector.has_table(table.name):
            table.create(conn)
            report.created_tables.append(table.name)
            continue
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                before.setdefault(table.name, sorted(existing))
                _add_column(conn, table, column)
                report.added_columns.append(f"{table.name}.{column.name}")
    for spec in catalogues:
        name = processed_table_name(spec.name)
        if name in before:
            report.recorded += _record_columns(conn, spec.name, before[name])
    for spec in specs:
        for step, run in _planned(conn, spec):
            if apply:
                run()
                report.applied.append(step)
                log.warning("warehouse migration: %s", step)
            else:
                report.pending.append(step)
                log.warning("warehouse migration planned, not applied: %s; %s", step, HINT)
    return report


def _planned(conn: sa.Connection, spec: SourceSpec) -> list[tuple[PlanStep, Any]]:
    """The planned steps ``spec`` needs, each with the function that runs it."""
    inspector = sa.inspect(conn)
    name = processed_table_name(spec.name)
    if not inspector.has_table(name):
        return []
    steps: list[tuple[PlanStep, Any]] = []
    keys = list(inspector.get_pk_constraint(name)["constrained_columns"])
    if sorted(keys) != sorted(key_columns(spec)):
        rows = conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
        if spec.mode == "catalogue":
            what = (
                f"mode listings -> catalogue: {name}'s {rows} rows become observations on their "
                f"dates (the table re-keyed by key and date), versions built from them; no row "
                f"is lost (a listings table holds each key once, on the last date it was seen)"
            )
            steps.append((PlanStep(spec.name, "mode", what), lambda: _to_catalogue(conn, spec)))
        else:
            what = (
                f"mode catalogue -> listings: {name}'s {rows} observations kept in "
                f"{name}__catalogue, and {name} holds each key's latest observation"
            )
            steps.append((PlanStep(spec.name, "mode", what), lambda: _to_listings(conn, spec)))
        return steps  # retype after the switch, on the next run
    tables = [processed_table(spec)]
    if spec.mode == "catalogue" and inspector.has_table(versions_table(spec).name):
        tables.append(versions_table(spec))
    for table in tables:
        existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                continue
            old, new = _type_family(existing[column.name]), _type_family(column.type)
            if old == new:
                continue
            kept = _free_name(existing, f"{column.name}__{old}")
            what = (
                f"{table.name}.{column.name} is {old} in the database but {new} in the spec: "
                f"its values are kept in {table.name}.{kept}, a new {new} column "
                f"{column.name} starts empty (no version opens)"
            )
            steps.append(
                (
                    PlanStep(spec.name, "retype", what),
                    lambda t=table, c=column, k=kept: _retype(conn, spec, t, c, k),
                )
            )
    return steps


def _free_name(existing: Iterable[str], name: str) -> str:
    taken, candidate, n = set(existing), name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _quote(conn: sa.Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column[Any]) -> None:
    added = sa.Column(column.name, column.type, nullable=True)
    definition = sa.schema.CreateColumn(added).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {_quote(conn, table.name)} ADD COLUMN {definition}")


def _record_columns(conn: sa.Connection, source: str, columns: list[str]) -> list[str]:
    """Record the dates loaded so far as loaded with ``columns`` (where not recorded yet)."""
    if not sa.inspect(conn).has_table(CATALOGUE_PARTITIONS.name):
        return []
    recorded = conn.execute(
        sa.update(CATALOGUE_PARTITIONS)
        .where(CATALOGUE_PARTITIONS.c.source == source, CATALOGUE_PARTITIONS.c.columns.is_(None))
        .values(columns=[c for c in columns if c != "loaded_at"])
    ).rowcount
    if not recorded:
        return []
    return [f"{source}: {recorded} date(s) loaded before the new columns (no item changes)"]


def _retype(
    conn: sa.Connection, spec: SourceSpec, table: sa.Table, column: sa.Column[Any], kept: str
) -> None:
    """Rename ``column`` to ``kept`` (its values stay) and add it again with the spec's type;
    a catalogue's observed dates then had ``kept``, not the new column."""
    name = _quote(conn, table.name)
    before = [c["name"] for c in sa.inspect(conn).get_columns(table.name)]
    conn.exec_driver_sql(
        f"ALTER TABLE {name} RENAME COLUMN {_quote(conn, column.name)} TO {_quote(conn, kept)}"
    )
    _add_column(conn, table, column)
    if spec.mode != "catalogue" or table.name != processed_table_name(spec.name):
        return
    for day, columns in observed_dates(conn, spec.name).items():
        had = set(columns if columns is not None else before) - {column.name} | {kept}
        conn.execute(
            sa.update(CATALOGUE_PARTITIONS)
            .where(
                CATALOGUE_PARTITIONS.c.source == spec.name,
                CATALOGUE_PARTITIONS.c.logical_date == day,
            )
            .values(columns=sorted(had))
        )


def _rekey(conn: sa.Connection, spec: SourceSpec, archive: str) -> sa.Table:
    """Move ``processed_<source>`` to ``archive`` and create it again as the spec defines it;
    the new table."""
    name = processed_table_name(spec.name)
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_quote(conn, f'ix_{name}_logical_date')}")
    conn.exec_driver_sql(f"ALTER TABLE {_quote(conn, name)} RENAME TO {_quote(conn, archive)}")
    table = processed_table(spec)
    table.create(conn)
    return table


def _shared_columns(conn: sa.Connection, old: str, new: sa.Table) -> list[str]:
    have = {c["name"] for c in sa.inspect(conn).get_columns(old)}
    return [c.name for c in new.columns if c.name in have]


def _to_catalogue(conn: sa.Connection, spec: SourceSpec) -> None:
    """Listings -> catalogue: every row an observation on its date; versions built from them."""
    name = processed_table_name(spec.name)
    archive = f"{name}__listings"
    table = _rekey(conn, spec, archive)
    copied = _shared_columns(conn, archive, table)
    old = sa.table(archive, *(sa.column(c) for c in copied))
    conn.execute(sa.insert(table).from_select(copied, sa.select(*old.c)))
    conn.exec_driver_sql(f"DROP TABLE {_quote(conn, archive)}")
    for t in _CATALOGUE.sorted_tables:
        t.create(conn, checkfirst=True)
    versions_table(spec).create(conn, checkfirst=True)
    dates = conn.execute(
        sa.select(table.c.logical_date, sa.func.count())
        .where(table.c.source == spec.name)
        .group_by(table.c.logical_date)
    ).all()
    written = [c for c in copied if c != "loaded_at"]
    conn.execute(sa.delete(CATALOGUE_PARTITIONS).where(CATALOGUE_PARTITIONS.c.source == spec.name))
    if dates:
        conn.execute(
            sa.insert(CATALOGUE_PARTITIONS),
            [
                {"source": spec.name, "logical_date": d, "rows": n, "columns": written}
                for d, n in dates
            ],
        )
    for counts in rebuild_versions(conn, spec, table):
        restate_counts(conn, spec.name, counts)


def _to_listings(conn: sa.Connection, spec: SourceSpec) -> None:
    """Catalogue -> listings: the observations kept in ``__catalogue``, each key's latest one
    in the table."""
    name = processed_table_name(spec.name)
    archive = _free_name(sa.inspect(conn).get_table_names(), f"{name}__catalogue")
    table = _rekey(conn, spec, archive)
    copied = _shared_columns(conn, archive, table)
    old = sa.table(archive, *(sa.column(c) for c in ("source", "record_key", "logical_date")))
    latest = (
        sa.select(old.c.source, old.c.record_key, sa.func.max(old.c.logical_date).label("day"))
        .group_by(old.c.source, old.c.record_key)
        .subquery()
    )
    rows = sa.table(archive, *(sa.column(c) for c in copied))
    query = sa.select(*rows.c).join(
        latest,
        (latest.c.source == rows.c.source)
        & (latest.c.record_key == rows.c.record_key)
        & (latest.c.day == rows.c.logical_date),
    )
    conn.execute(sa.insert(table).from_select(copied, query))


def check_table(
    conn: sa.Connection, spec: SourceSpec, table: sa.Table, checked: dict[str, frozenset[str]]
) -> None:
    """The database table has every column the spec needs, of its type, and (the processed
    table) the key the spec's mode needs; else say which command to run. ``checked``
    remembers tables found complete (cleared by a migration)."""
    wanted = frozenset(c.name for c in table.columns)
    if checked.get(table.name) == wanted:
        return
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name):
        raise WarehouseError(f"source {spec.name}: table {table.name} does not exist; {HINT}")
    existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
    missing = sorted(wanted - set(existing))
    if missing:
        raise WarehouseError(
            f"source {spec.name}: table {table.name} lacks column(s) {', '.join(missing)}; {HINT}"
        )
    retyped = [
        f"{c.name} is {_type_family(existing[c.name])}, the spec says {_type_family(c.type)}"
        for c in table.columns
        if _type_family(existing[c.name]) != _type_family(c.type)
    ]
    if retyped:
        raise WarehouseError(
            f"source {spec.name}: table {table.name}: {'; '.join(retyped)}; {HINT} (the values "
            "are kept under a new name)"
        )
    if table.name == processed_table_name(spec.name):
        keys = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if sorted(keys) != sorted(key_columns(spec)):
            was = "catalogue" if "logical_date" in keys else "listings"
            raise WarehouseError(
                f"source {spec.name}: table {table.name} was loaded as mode {was}, the spec says "
                f"mode: {spec.mode}; {HINT}: it keeps every row"
            )
    checked[table.name] = wanted
