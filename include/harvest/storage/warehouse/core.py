""":class:`Warehouse`, the one door to the warehouse, and :func:`open_warehouse`, the one way to
open it.

Like a provider's hook in Airflow, the warehouse owns its connection, its Redis read cache and
its transactions; the statements it runs are in modules grouped by purpose (stage reads
:mod:`.reads`, stage writes :mod:`.results` and :mod:`.load`, training :mod:`.training`,
predictions :mod:`.predictions`, the supervisor :mod:`.monitoring`), what differs between
PostgreSQL and SQLite in :mod:`.dialects`. Nothing outside :mod:`harvest.storage` writes SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import sqlalchemy as sa

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.storage.read_cache import DEFAULT_TTL_SECONDS, NullReadCache, ReadCache, cache_key
from harvest.storage.staging import FrameParts
from harvest.storage.warehouse import (
    dedup_matches,
    load,
    migrations,
    monitoring,
    observed,
    predictions,
    reads,
    training,
)
from harvest.storage.warehouse import results as writers
from harvest.storage.warehouse.app_reads import AppReads
from harvest.storage.warehouse.dialects import lock_key, session_lock
from harvest.storage.warehouse.engine import begin, describe, engine_for
from harvest.storage.warehouse.errors import WarehouseError, WarehouseUnavailable
from harvest.storage.warehouse.load import LoadResult
from harvest.storage.warehouse.migrations import MigrationReport
from harvest.storage.warehouse.monitoring import SourceResults
from harvest.storage.warehouse.results import PartitionSummary
from harvest.text import redact_url

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

T = TypeVar("T")


class Warehouse(AppReads):
    """Processed tables, quarantine, validation results, partition summaries, crawl monitors
    and predictions of every source, on PostgreSQL or SQLite.

    Open it with :func:`open_warehouse`. With a :class:`~harvest.storage.read_cache.ReadCache`,
    history, row counts and summaries are served from Redis; loads invalidate what they make
    stale.
    Unreachable databases raise :class:`WarehouseUnavailable` naming the server.
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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def where(self) -> str:
        """The SQLite file, or host, port, database and URL (password hidden), for messages."""
        return describe(self.engine.url)

    @property
    def url(self) -> str:
        """The warehouse URL with its password hidden."""
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    def close(self) -> None:
        self.engine.dispose()
        self.cache.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _begin(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return begin(self.engine)

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        return self.cache.get_or_compute(key, self.cache_ttl_seconds, compute)

    def migrate(self, specs: Iterable[SourceSpec], *, apply: bool = False) -> MigrationReport:
        """Create missing tables and add missing columns for every spec (idempotent); with
        ``apply`` also the planned steps (a retyped field, a mode switch:
        :mod:`.migrations`), else they are listed as pending. One transaction."""
        with self._begin() as conn:
            report = migrations.migrate(conn, specs, apply=apply)
        self._checked.clear()
        return report

    # ---- the stages' writes ------------------------------------------------------------------

    def load_partition(
        self, spec: SourceSpec, logical_date: dt.date, frame: pd.DataFrame | FrameParts
    ) -> LoadResult:
        """Make ``processed_<source>`` hold exactly ``frame`` (or its parts, streamed) for this
        partition, in one transaction (:mod:`.load`); the partition's cached reads are dropped."""
        result = load.load_partition(self.engine, spec, logical_date, frame, self._checked)
        self.cache.invalidate_partition(spec.name, result.logical_date)
        return result

    def record_partition(self, summary: PartitionSummary) -> None:
        """Insert or replace the summary row of one partition (``partition_loads``)."""
        with self._begin() as conn:
            writers.record_partition(conn, summary)
        self.cache.invalidate_partition(summary.source, summary.logical_date)

    def replace_quarantine(
        self,
        source: str,
        logical_date: dt.date,
        stage: str,
        issues: pd.DataFrame,
        severity: str = "warning",
    ) -> int:
        """Make the quarantine of one partition and stage hold exactly ``issues`` (see
        :func:`.results.quarantine_rows`); the rows stored."""
        day = logical_date
        rows = writers.quarantine_rows(source, day, stage, issues, severity)
        with self._begin() as conn:
            writers.replace_quarantine(conn, source, day, stage, rows)
        return int(rows.num_rows)

    def replace_validation_results(
        self, source: str, logical_date: dt.date, results: pd.DataFrame
    ) -> int:
        """Make the validation results of one partition exactly ``results`` (see
        :func:`.results.validation_rows`); the rows stored."""
        day = logical_date
        rows = writers.validation_rows(source, day, results)
        with self._begin() as conn:
            writers.replace_validation_results(conn, source, day, rows)
        return int(rows.num_rows)

    def replace_crawl_monitors(
        self,
        source: str,
        logical_date: dt.date,
        results: Sequence[Mapping[str, Any]],
        checked_at: dt.datetime | None = None,
    ) -> int:
        """Make the crawl monitors of one partition exactly ``results`` (see
        :func:`.results.crawl_monitor_rows`); the rows stored."""
        day = logical_date
        rows = writers.crawl_monitor_rows(source, day, results, checked_at)
        with self._begin() as conn:
            writers.replace_crawl_monitors(conn, source, day, rows)
        return len(rows)

    def replace_crawl_stats(
        self, source: str, logical_date: dt.date, stats: Mapping[str, Any]
    ) -> None:
        """Make the crawl figures of one partition (``crawl_stats``) those of ``stats``, a
        crawl's report (:func:`.results.crawl_stats_row`)."""
        row = writers.crawl_stats_row(source, logical_date, stats)
        with self._begin() as conn:
            writers.replace_crawl_stats(conn, row)

    def crawl_stats_row(self, source: str, logical_date: dt.date) -> dict[str, Any] | None:
        """The crawl figures (``crawl_stats``) of one partition, or ``None``: not crawled."""
        with self._begin() as conn:
            return writers.crawl_stats_of(conn, source, logical_date)

    def replace_crawl_account(
        self,
        source: str,
        logical_date: dt.date,
        branches: Sequence[Mapping[str, Any]],
        listed: Sequence[Mapping[str, Any]],
    ) -> None:
        """Make the crawl account of one catalogue partition (what its crawl read of its list
        pages, :mod:`.observed`) exactly these rows, in one transaction."""
        day = logical_date
        with self._begin() as conn:
            observed.replace_crawl_account(conn, source, day, branches, listed)

    # ---- the stages' reads -------------------------------------------------------------------

    def partition_summary(self, source: str, logical_date: dt.date) -> PartitionSummary | None:
        """The recorded summary of one partition, or ``None`` (cached)."""
        day = logical_date

        def compute() -> dict[str, Any] | None:
            with self._begin() as conn:
                summary = reads.partition_summary(conn, source, day)
            return summary.to_dict() if summary else None

        data = self._cached(cache_key(source, "summary", day, day), compute)
        return PartitionSummary.from_dict(data) if data else None

    def read_history(
        self,
        source: str,
        since: dt.date,
        until: dt.date,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Processed rows with ``since <= logical_date <= until``, ordered by date and key,
        as nullable pandas dtypes the same on PostgreSQL and SQLite (cached)."""
        first, last = since, until
        wanted = ",".join(columns) if columns else "*"
        digest = hashlib.sha1(wanted.encode(), usedforsecurity=False).hexdigest()[:12]

        def compute() -> pd.DataFrame:
            with self._begin() as conn:
                return reads.history(conn, source, first, last, columns)

        return self._cached(cache_key(source, "history", first, last, digest), compute)

    def history_parts(
        self,
        source: str,
        since: dt.date,
        until: dt.date,
        columns: list[str] | None,
        rows: int,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`read_history` in frames of at most ``rows`` rows, streamed from the database
        (not cached: it is what a partition too large for memory reads)."""
        with self._begin() as conn:
            yield from reads.history_parts(conn, source, since, until, columns, rows)

    def recent_row_counts(self, source: str, before_date: dt.date, n: int) -> list[int]:
        """Rows of the last ``n`` loaded partitions before ``before_date``, oldest first (cached)."""
        before = before_date

        def compute() -> list[int]:
            with self._begin() as conn:
                return reads.row_counts(conn, source, before, n)

        last = before - dt.timedelta(days=1)
        return self._cached(cache_key(source, "row_counts", None, last, str(n)), compute)

    def recent_scraped_counts(self, source: str, before_date: dt.date, n: int) -> list[int]:
        """Records scraped in the last ``n`` partitions before ``before_date`` that scraped any,
        oldest first (:func:`.reads.scraped_counts`)."""
        with self._begin() as conn:
            return reads.scraped_counts(conn, source, before_date, n)

    def read_versions(self, source: str) -> pd.DataFrame:
        """Every version of a catalogue source (:func:`.reads.versions`)."""
        with self._begin() as conn:
            return reads.versions(conn, source)

    def quarantined_records(self, source: str, day: dt.date, stage: str) -> int:
        """Records (distinct URLs) of one partition that ``stage`` quarantined."""
        with self._begin() as conn:
            return reads.quarantined_records(conn, source, day, stage)

    # ---- the load order (harvest.loading.order) ----------------------------------------------

    @contextlib.contextmanager
    def source_lock(self, source: str) -> Iterator[None]:
        """Hold the load lock of ``source``: a PostgreSQL advisory lock, or on SQLite a lock
        file beside the database; two loads of one source never interleave."""
        with session_lock(self.engine, lock_key(f"load:{source}"), source):
            yield

    def load_times(
        self, source: str, since: dt.date, before: dt.date
    ) -> dict[dt.date, dt.datetime]:
        """When each partition with ``since <= logical_date < before`` was last loaded (UTC)."""
        with self._begin() as conn:
            return reads.load_times(conn, source, since, before)

    def loaded_dates(self, source: str, after: dt.date | None = None) -> list[dt.date]:
        """The dates of ``source`` with a recorded load (after ``after``, if given), in order."""
        with self._begin() as conn:
            return reads.loaded_dates(conn, source, after)

    # ---- training and predictions ------------------------------------------------------------

    def training_rows(
        self, spec: SourceSpec, until: dt.date | None = None, on: dt.date | None = None
    ) -> pd.DataFrame | None:
        """The rows ``spec``'s model learns from, or ``None`` without a table yet
        (:func:`.training.training_rows`)."""
        with self._begin() as conn:
            return training.training_rows(conn, spec, until, on)

    def latest_date(self, source: str) -> dt.date | None:
        """The most recent ``logical_date`` with processed rows of ``source``, or ``None``."""
        with self._begin() as conn:
            return training.latest_date(conn, source)

    def replace_predictions(self, source: str, day: dt.date, frame: pd.DataFrame) -> str:
        """Make ``predictions_<source>`` hold exactly ``frame``'s rows for ``day`` (one
        transaction, the table created on the first scoring); the table's name."""
        rows = frame.to_dict("records")
        with self._begin() as conn:
            return predictions.replace_predictions(conn, source, day, rows)

    def replace_dedup_matches(
        self, source: str, logical_date: dt.date, matches: Sequence[pa.RecordBatchReader]
    ) -> int:
        """Make ``dedup_matches`` hold exactly the rows of ``matches`` (readers of Arrow batches)
        for one partition, streamed batch by batch in one transaction
        (:func:`.dedup_matches.replace_dedup_matches`); the row count."""
        with self._begin() as conn:
            return dedup_matches.replace_dedup_matches(conn, source, logical_date, matches)

    def read_dedup_matches(self, source: str, **filters: Any) -> pd.DataFrame:
        """What de-duplication dropped or matched and kept (:func:`.dedup_matches.read_dedup_matches`)."""
        with self._begin() as conn:
            return dedup_matches.read_dedup_matches(conn, source, **filters)

    # ---- the supervisor ----------------------------------------------------------------------

    def partition_results(self, spec: SourceSpec, since: dt.date) -> SourceResults:
        """What the supervisor reads of ``spec`` since ``since`` (:mod:`.monitoring`). Raises
        :class:`WarehouseError` (naming the warehouse) when it cannot be read."""
        try:
            with self._begin() as conn:
                return monitoring.source_results(conn, spec, since)
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(f"{self.where}: {exc}") from exc


def open_warehouse(
    settings: Settings | str,
    spec: SourceSpec | None = None,
    logical_date: dt.date | None = None,
    *,
    cache: ReadCache | None = None,
    read_only: bool = False,
) -> Warehouse:
    """The warehouse ``settings`` names (or a warehouse URL), with the read cache of
    ``settings.cache_url`` (or ``cache``): the one way to open it, for stages, the CLI, the
    supervisor, training and tests alike.

    With ``spec`` it is migrated for that source first (idempotent, cheap when current): a
    stage never goes on without the tables it needs. ``read_only`` (the app) opens a connection
    that cannot write: SQLite's ``mode=ro``, PostgreSQL's ``default_transaction_read_only``
    (production gives the app a read-only role as well); it takes no ``spec``. Raises :class:`WarehouseUnavailable`
    naming the server (password hidden), the source and the date when the database cannot be
    reached, and :class:`WarehouseError` for an unsupported URL or a failed migration.
    """
    if isinstance(settings, str):
        url, cache_url = settings, None
    else:
        url, cache_url = settings.warehouse_url, settings.cache_url
    if read_only and spec is not None:
        raise WarehouseError(f"source {spec.name}: a read-only warehouse cannot be migrated")
    warehouse = Warehouse(
        engine_for(url, read_only=read_only),
        cache=cache if cache is not None else ReadCache.from_url(cache_url),
    )
    if spec is None:
        return warehouse
    try:
        report = warehouse.migrate([spec])
    except WarehouseUnavailable as exc:
        warehouse.close()
        day = f", logical date {logical_date}" if logical_date else ""
        raise WarehouseUnavailable(f"source {spec.name}{day}: {exc}") from exc
    except BaseException:
        warehouse.close()
        raise
    if report.changed or report.recorded:
        log.info("warehouse migrated for source %s: %s", spec.name, "; ".join(report.lines()))
    return warehouse
