"""The warehouse: processed records, quarantine, validation results and partition summaries.

SQLAlchemy Core, the same statements on PostgreSQL (production, CI) and SQLite (the embedded
default). Tables (:mod:`.schema`):

- ``processed_<source>``: a column per spec field (typed by its parser; a price field also gets
  ``<field>_currency``) plus ``source``, ``record_key`` (the spec's ``detail.key``, primary key with
  ``source``), ``logical_date`` (indexed), ``url``, ``is_duplicate_of``, ``imputed`` (JSON list of
  field names) and ``loaded_at``. A key seen again on a later date moves to that date.
- ``quarantine``: a row per issue, unique on (source, logical_date, url, field, check, stage).
- ``validation_results``: a row per (source, logical_date, expectation, column).
- ``partition_loads``: a row per (source, logical_date) with its counts and warnings, for the
  supervisor.
- ``crawl_monitors``: a row per (source, logical_date, monitor): the crawl's Spidermon monitors
  (status passed | failed | skipped, severity, message; :mod:`harvest.scraping.health`).
- ``dedup_matches``: a row per record de-duplication dropped or matched and kept, with the
  record it matched, the rule and the score (:mod:`.dedup_matches`).
- ``predictions_<source>``: a row per (source, record_key, logical_date) scored by the source's
  ``@champion`` model, with its top SHAP contributions (:mod:`harvest.training.scoring`).
- catalogue sources (``mode: catalogue``): ``processed_<source>`` holds the observations, one row
  per (source, record_key, logical_date), and ``versions_<source>`` the type-2 versions rebuilt
  from them (:mod:`.versions`); ``catalogue_partitions`` the dates observed.

Every table is declared in :mod:`.schema`, every statement lives in this package, and only
:mod:`harvest.storage` imports SQLAlchemy (an import-linter contract). :func:`open_warehouse` is
the one way to open the warehouse, with the Redis read cache of the settings; :class:`Warehouse`
(:mod:`.core`) owns the connection, the cache and the transactions, and runs the statements of
the modules grouped by purpose: stage reads (:mod:`.reads`), stage writes (:mod:`.results`), the
partition load (:mod:`.load`: frames become Arrow first, :mod:`.arrow`, and go in by ``COPY`` on
PostgreSQL, ``executemany`` on SQLite, :mod:`.copy`), training reads (:mod:`.training`),
prediction writes (:mod:`.predictions`) and the supervisor's reads (:mod:`.monitoring`); what
differs between the dialects is in :mod:`.dialects` (timestamps are UTC-aware on both).
Consumers depend on their own narrow protocols (``ValidationSink``, ``HistorySource``).

Migrations: ``python -m harvest warehouse migrate`` (:meth:`Warehouse.migrate`) creates missing
tables and adds the columns of new spec fields with ``ALTER TABLE ... ADD COLUMN`` (nullable: older
rows have no value). It is idempotent and only ever adds. Anything else needs a hand-written
migration: it never drops or renames a column (a field removed from a spec keeps its column, NULL
in new rows), never changes a type (a parser change is reported as a mismatch and the command
fails), and never changes keys or indexes of existing tables (changing ``detail.key`` means a new
table). Loads check the columns first and, when one is missing, say to run the command.
"""

from __future__ import annotations

from harvest.storage.warehouse.arrow import processed_arrow
from harvest.storage.warehouse.copy import csv_chunks
from harvest.storage.warehouse.core import Warehouse, open_warehouse
from harvest.storage.warehouse.errors import FrameError, WarehouseError, WarehouseUnavailable
from harvest.storage.warehouse.load import KEY_SAMPLE, LoadResult
from harvest.storage.warehouse.migrations import MigrationReport
from harvest.storage.warehouse.monitoring import SourceResults
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    PARTITION_LOADS,
    QUARANTINE,
    VALIDATION_RESULTS,
    predictions_table_name,
    processed_columns,
    processed_table,
    processed_table_name,
    versions_table_name,
)

__all__ = [
    "CRAWL_MONITORS",
    "KEY_SAMPLE",
    "PARTITION_LOADS",
    "QUARANTINE",
    "VALIDATION_RESULTS",
    "FrameError",
    "LoadResult",
    "MigrationReport",
    "PartitionSummary",
    "SourceResults",
    "Warehouse",
    "WarehouseError",
    "WarehouseUnavailable",
    "csv_chunks",
    "open_warehouse",
    "predictions_table_name",
    "processed_arrow",
    "processed_columns",
    "processed_table",
    "processed_table_name",
    "versions_table_name",
]
