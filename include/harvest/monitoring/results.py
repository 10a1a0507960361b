"""Partition results of a source for the supervisor: the counts of ``partition_loads`` for a
window of days and, for the newest partition, its validation pass rate, field coverage and the
newest crawled partition's monitors, read by
:meth:`~harvest.storage.warehouse.Warehouse.partition_results`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harvest.config.spec import SourceSpec
from harvest.monitoring.history import PartitionResult

if TYPE_CHECKING:
    from harvest.storage.warehouse import Warehouse


def read_partition_results(
    warehouse: Warehouse, spec: SourceSpec, since: dt.date
) -> list[PartitionResult]:
    """Partitions of ``spec`` with a logical date on or after ``since``, oldest first.

    Raises :class:`~harvest.storage.warehouse.WarehouseError` (the caller reports it per
    source). The correct-data warnings are the names in ``partition_loads.warnings``.
    """
    read = warehouse.partition_results(spec, since)
    if not read.partitions:
        return []
    results = [
        PartitionResult(
            logical_date=summary.logical_date,
            scraped=summary.scraped,
            quarantined=summary.quarantined,
            loaded=summary.loaded,
            loaded_at=summary.loaded_at,
            warnings=_warnings(summary.warnings),
        )
        for summary in read.partitions
    ]
    results[-1] = replace(
        results[-1],
        validation_pass_rate=read.validation_pass_rate,
        field_coverage=read.field_coverage,
        crawl_monitors=read.crawl_monitors,
        crawl_monitors_date=read.crawl_monitors_date,
    )
    return results


def _warnings(value: Mapping[str, Any] | list[Any] | None) -> tuple[str, ...]:
    return () if value is None else tuple(str(item) for item in value)
