"""Migrations: what :func:`migrate` does to make the warehouse match the specs (create missing
tables, add the columns of new fields) and :func:`check_table`, the check a load runs first."""

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
    MIGRATION_LOCK_ID,
    _type_family,
    processed_table,
    versions_table,
)

log = logging.getLogger(__name__)


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


def migrate(conn: sa.Connection, specs: Iterable[SourceSpec]) -> MigrationReport:
    """Create missing tables and add missing columns for every spec (idempotent), in ``conn``'s
    transaction."""
    report = MigrationReport()
    metadata = sa.MetaData()
    tables = [t.to_metadata(metadata) for t in _SHARED.sorted_tables]
    specs = list(specs)
    tables += [processed_table(spec, metadata) for spec in specs]
    catalogues = [spec for spec in specs if spec.mode == "catalogue"]
    if catalogues:
        tables += [t.to_metadata(metadata) for t in _CATALOGUE.sorted_tables]
    tables += [versions_table(spec, metadata) for spec in catalogues]
    transaction_lock(conn, MIGRATION_LOCK_ID)  # concurrent migrations wait, not collide
    inspector = sa.inspect(conn)
    for table in tables:
        if not inspector.has_table(table.name):
            table.create(conn)
            report.created_tables.append(table.name)
            continue
        existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                _add_column(conn, table, column)
                report.added_columns.append(f"{table.name}.{column.name}")
            elif _type_family(existing[column.name]) != _type_family(column.type):
                report.type_mismatches.append(
                    f"{table.name}.{column.name} is {_type_family(existing[column.name])} in "
                    f"the database but {_type_family(column.type)} in the spec; migrate it by hand"
                )
    for problem in report.type_mismatches:
        log.warning("warehouse migration: %s", problem)
    return report


def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column[Any]) -> None:
    prep = conn.dialect.identifier_preparer
    added = sa.Column(column.name, column.type, nullable=True)
    definition = sa.schema.CreateColumn(added).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {prep.quote(table.name)} ADD COLUMN {definition}")


def check_table(
    conn: sa.Connection, spec: SourceSpec, table: sa.Table, checked: dict[str, frozenset[str]]
) -> None:
    """The database table has every column the spec needs, or say to migrate; ``checked``
    remembers tables found complete (cleared by a migration)."""
    wanted = frozenset(c.name for c in table.columns)
    if checked.get(table.name) == wanted:
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
    checked[table.name] = wanted
