"""The app's reads as :class:`~.core.Warehouse` methods (:class:`AppReads`, which the warehouse
inherits): each runs one statement of :mod:`.monitoring` or :mod:`.reads` on a read
transaction, SQL errors raised as :class:`WarehouseError` naming the warehouse."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.storage.warehouse import monitoring, reads
from harvest.storage.warehouse.errors import WarehouseError

T = TypeVar("T")


class AppReads:
    """The app's reads as :class:`~.core.Warehouse` methods (it inherits them): each one
    statement of this module on a connection of the warehouse's ``_begin``."""

    @property
    def where(self) -> str:
        raise NotImplementedError  # the Warehouse's

    def _begin(self) -> contextlib.AbstractContextManager[sa.Connection]:
        raise NotImplementedError  # the Warehouse's

    def _read(self, statement: Callable[..., T], *args: Any) -> T:
        """One read of this module on a connection; SQL errors become :class:`WarehouseError`
        naming the warehouse (password hidden)."""
        try:
            with self._begin() as conn:
                return statement(conn, *args)
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise WarehouseError(f"{self.where}: {reason}") from exc

    def sources(self) -> list[str]:
        """The sources with a recorded partition, sorted."""
        return self._read(monitoring.sources)

    def data_version(self, source: str) -> tuple[int, dt.datetime | None]:
        """(partitions recorded, newest ``loaded_at``) of ``source``: a cache key."""
        return self._read(monitoring.data_version, source)

    def partition_loads(self, source: str, since: dt.date | None = None) -> pd.DataFrame:
        """The ``partition_loads`` rows of ``source``, oldest first (a column per field)."""
        return self._read(monitoring.partition_loads, source, since)

    def quarantine_by_reason(
        self, source: str, since: dt.date | None = None, day: dt.date | None = None
    ) -> pd.DataFrame:
        """Quarantined records per (logical_date, stage, field, check, severity)."""
        return self._read(monitoring.quarantine_by_reason, source, since, day)

    def quarantine_issues(self, source: str, day: dt.date, limit: int = 1000) -> pd.DataFrame:
        """One partition's quarantine, an issue a row with its value and reason."""
        return self._read(monitoring.quarantine_issues, source, day, limit)

    def field_coverage_by_date(
        self, spec: SourceSpec, since: dt.date | None = None
    ) -> pd.DataFrame:
        """Rows loaded and rows with a value per field, per logical date."""
        return self._read(monitoring.field_coverage_by_date, spec, since)

    def crawl_stats(self, source: str, since: dt.date | None = None) -> pd.DataFrame:
        """The crawl figures (``crawl_stats``) of ``source`` per date."""
        return self._read(monitoring.crawl_stats, source, since)

    def crawl_monitor_results(
        self, source: str, since: dt.date | None = None, day: dt.date | None = None
    ) -> pd.DataFrame:
        """The crawl monitors of ``source`` per date."""
        return self._read(monitoring.crawl_monitor_results, source, since, day)

    def validation_results(self, source: str, day: dt.date) -> pd.DataFrame:
        """The expectations of one partition, failed first."""
        return self._read(monitoring.validation_results, source, day)

    def means_by_date(
        self, spec: SourceSpec, columns: list[str], since: dt.date | None = None
    ) -> pd.DataFrame:
        """The mean of each numeric column per logical date."""
        return self._read(monitoring.means_by_date, spec, columns, since)

    def item_search(
        self, spec: SourceSpec, text: str, field: str | None = None, limit: int = 50
    ) -> pd.DataFrame:
        """Items whose key, URL or ``field`` contains ``text`` (:func:`.reads.item_search`)."""
        return self._read(reads.item_search, spec, text, field, limit)

    def item_versions(self, spec: SourceSpec, key: str) -> pd.DataFrame:
        """Every version of one item, oldest first (:func:`.reads.item_versions`)."""
        return self._read(reads.item_versions, spec, key)

    def browse(
        self,
        spec: SourceSpec,
        first: dt.date,
        last: dt.date,
        equals: dict[str, Any] | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        """A page of the processed table and the rows that match (:func:`.reads.browse`)."""
        return self._read(reads.browse, spec, first, last, equals or {}, limit, offset)

    def predictions(self, source: str, key: str | None = None, limit: int = 200) -> pd.DataFrame:
        """Scored rows with their top contributions (:func:`.reads.predictions`)."""
        return self._read(reads.predictions, source, key, limit)
