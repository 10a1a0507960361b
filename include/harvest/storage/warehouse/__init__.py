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
- catalogue sources (``mode: catalogue``): ``processed_<source>`` holds the observations, one row
  per (source, record_key, logical_date), and ``versions_<source>`` the type-2 versions rebuilt
  from them (:mod:`.versions`); ``catalogue_partitions`` the dates observed.

Loading a partition is one transaction (:mod:`.load`); frames become Arrow first
(:mod:`.arrow`) and go in by ``COPY`` on PostgreSQL, ``executemany`` on SQLite (:mod:`.copy`).
Result writers are in :mod:`.results`, cached reads in :mod:`.reads`. :class:`Warehouse` is the
facade over them; consumers depend on their own narrow protocols (``ValidationSink``,
``HistorySource``), and every stage opens it with :func:`open_warehouse`.

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
import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import partition_date
from harvest.storage.read_cache import DEFAULT_TTL_SECONDS, NullReadCache, ReadCache
from harvest.storage.warehouse import dedup_matches, load, reads, schema
from harvest.storage.warehouse import results as writers
from harvest.storage.warehouse.arrow import processed_arrow
from harvest.storage.warehouse.copy import csv_chunks
from harvest.storage.warehouse.engine import begin, describe, engine_for
from harvest.storage.warehouse.errors import FrameError, WarehouseError, WarehouseUnavailable
from harvest.storage.warehouse.load import KEY_SAMPLE, LoadResult
from harvest.storage.warehouse.results import PartitionSummary
from harvest.storage.warehouse.schema import (
    CRAWL_MONITORS,
    PARTITION_LOADS,
    QUARANTINE,
    VALIDATION_RESULTS,
    MigrationReport,
    processed_columns,
    processed_table,
    processed_table_name,
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
    "Warehouse",
    "WarehouseError",
    "WarehouseUnavailable",
    "csv_chunks",
    "engine_for",
    "open_warehouse",
    "processed_arrow",
    "processed_columns",
    "processed_table",
    "processed_table_name",
]

log = logging.getLogger(__name__)


class Warehouse:
    """Processed tables, quarantine, validation results and partition summaries of every source.

    Pass a :class:`~harvest.storage.read_cache.ReadCache` to serve history, row counts and
    summaries from Redis; loads invalidate what they make stale. Stages open it with :func:`open_warehouse`.
    """

    def __init__(
        self,
        engine: sa.Engine,
        cache: ReadCache | None = None,
        cache_ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self.cache = cache or NullReadCache()
        self.cache_ttl_seconds = cache_ttl_seconds
        self._checked: dict[str, frozenset[str]] = {}

    @classmethod
    def from_url(cls, url: str, cache: ReadCache | None = None) -> Warehouse:
        return cls(engine_for(url), cache=cache)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def where(self) -> str:
        """The SQLite file, or host, port, database and URL (password hidden), for messages."""
        return describe(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()
        self.cache.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def migrate(self, specs: Iterable[SourceSpec]) -> MigrationReport:
        """Create missing tables and add missing columns for every spec (idempotent)."""
        with begin(self.engine) as conn:
            report = schema.migrate(conn, specs)
        self._checked.clear()
        return report

    def load_partition(
        self, spec: SourceSpec, logical_date: dt.date | str, frame: pd.DataFrame
    ) -> LoadResult:
        """Make ``processed_<source>`` hold exactly ``frame`` for this partition, in one transaction."""
        result = load.load_partition(self.engine, spec, logical_date, frame, self._checked)
        self.cache.invalidate_partition(spec.name, result.logical_date)
        return result

    def replace_quarantine(
        self,
        source: str,
        logical_date: dt.date | str,
        stage: str,
        issues: pd.DataFrame,
        severity: str = "warning",
    ) -> int:
        """See :func:`.results.replace_quarantine`."""
        return writers.replace_quarantine(
            self.engine, source, logical_date, stage, issues, severity
        )

    def replace_validation_results(
        self, source: str, logical_date: dt.date | str, results: pd.DataFrame
    ) -> int:
        """See :func:`.results.replace_validation_results`."""
        return writers.replace_validation_results(self.engine, source, logical_date, results)

    def record_partition(self, summary: PartitionSummary) -> None:
        """Insert or replace the summary row of one partition."""
        writers.record_partition(self.engine, summary)
        self.cache.invalidate_partition(summary.source, summary.logical_date)

    def replace_crawl_monitors(
        self, source: str, logical_date: dt.date | str, results: list[dict[str, Any]]
    ) -> int:
        """See :func:`.results.replace_crawl_monitors`."""
        return writers.replace_crawl_monitors(self.engine, source, logical_date, results)

    def replace_dedup_matches(
        self, source: str, logical_date: dt.date | str, matches: pd.DataFrame
    ) -> int:
        """See :func:`.dedup_matches.replace_dedup_matches`."""
        return dedup_matches.replace_dedup_matches(self.engine, source, logical_date, matches)

    def read_dedup_matches(self, source: str, **filters: Any) -> pd.DataFrame:
        """See :func:`.dedup_matches.read_dedup_matches`."""
        return dedup_matches.read_dedup_matches(self.engine, source, **filters)

    def recent_scraped_counts(self, source: str, before_date: dt.date | str, n: int) -> list[int]:
        """See :func:`.reads.recent_scraped_counts`."""
        return reads.recent_scraped_counts(self.engine, source, before_date, n)

    def partition_summary(
        self, source: str, logical_date: dt.date | str
    ) -> PartitionSummary | None:
        """The recorded summary of one partition, or ``None`` (cached)."""
        return reads.partition_summary(
            self.engine, self.cache, self.cache_ttl_seconds, source, logical_date
        )

    def read_versions(self, source: str) -> pd.DataFrame:
        """See :func:`.reads.read_versions`."""
        return reads.read_versions(self.engine, source)

    def read_history(
        self,
        source: str,
        since: dt.date | str,
        until: dt.date | str,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """See :func:`.reads.read_history`."""
        return reads.read_history(
            self.engine, self.cache, self.cache_ttl_seconds, source, since, until, columns
        )

    def recent_row_counts(self, source: str, before_date: dt.date | str, n: int) -> list[int]:
        """See :func:`.reads.recent_row_counts`."""
        return reads.recent_row_counts(
            self.engine, self.cache, self.cache_ttl_seconds, source, before_date, n
        )


def open_warehouse(
    settings: Settings,
    spec: SourceSpec,
    logical_date: dt.date | str | None = None,
    *,
    cache: ReadCache | None = None,
) -> Warehouse:
    """The warehouse ``settings`` names, migrated for ``spec`` (idempotent, cheap when current):
    the one way a stage opens it. ``cache`` defaults to ``settings.cache_url``'s.

    Raises :class:`WarehouseUnavailable` naming the server (password hidden), the source and the
    date when the database cannot be reached, and :class:`WarehouseError` when it cannot be
    migrated: a stage never goes on without the warehouse it needs.
    """
    warehouse = Warehouse(
        engine_for(settings.warehouse_url),
        cache=cache if cache is not None else ReadCache.from_url(settings.cache_url),
    )
    try:
        report = warehouse.migrate([spec])
    except WarehouseUnavailable as exc:
        warehouse.close()
        day = f", logical date {partition_date(logical_date)}" if logical_date else ""
        raise WarehouseUnavailable(f"source {spec.name}{day}: {exc}") from exc
    except BaseException:
        warehouse.close()
        raise
    if report.changed:
        log.info(
            "warehouse migrated for source %s: tables %s, columns %s",
            spec.name,
            report.created_tables or "-",
            report.added_columns or "-",
        )
    return warehouse
