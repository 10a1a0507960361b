"""Listings: the same warehouse whatever the order partitions are cleaned and loaded in.

Cleaning de-duplicates a partition against the partitions loaded before it, so the result of
clean+load depends on what is loaded at that moment. Serialising runs is not enough: a backfill
(or a re-run, or a retry) can process D2 before D1 however runs are queued, and Airflow's
``max_active_runs=1`` or a pool of one slot orders tasks, not dates. Instead the load makes the
result equal to "every date cleaned and loaded in date order":

1. **stale clean**: the loaded partition was cleaned before an earlier partition within its
   history window was (re)loaded (``cleaned_at`` older than that partition's ``loaded_at``): it
   is cleaned again, against the history now, before loading.
2. **later partitions**: after loading date D, every loaded partition L after D whose history
   window reaches a changed partition (L <= last changed + ``dedup.history_days``) is cleaned
   again from its staged validated frame, in date order, and re-loaded; a re-listing of a D
   record loaded on L first is then removed, and an update on L moves its key back to L.

Clean and load are deterministic given the validated frames and the history, so by induction
over the dates the result is the in-order one. In-order nightly loads find no later partition and
pay nothing. The whole load of one source holds a lock (:meth:`~harvest.storage.warehouse.
Warehouse.source_lock`), so two loads of one source never interleave their checks.
A later partition whose validated frame is gone from staging cannot be checked: that is logged
and reported (``unchecked``), and re-running that date restores the order.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec

if TYPE_CHECKING:
    from harvest.loading import Reclean, Recleaned
    from harvest.storage.warehouse import PartitionSummary, Warehouse

log = logging.getLogger(__name__)


def stale_clean(
    warehouse: Warehouse, spec: SourceSpec, day: dt.date, cleaned_at: dt.datetime
) -> list[dt.date]:
    """The partitions of D's history window (re)loaded after D was cleaned."""
    since = day - dt.timedelta(days=spec.dedup.history_days)
    loaded = warehouse.load_times(spec.name, since, day)
    return sorted(d for d, at in loaded.items() if at > cleaned_at)


def recheck_later(
    spec: SourceSpec, day: dt.date, settings: Settings, warehouse: Warehouse, clean: Reclean
) -> tuple[list[dt.date], list[dt.date]]:
    """Clean again (with ``clean``, the clean stage the caller hands in) and re-load the later
    partitions D's load can change, in date order; (re-checked dates, dates that could not be
    checked because their validated frame is gone)."""
    from harvest.loading.staged import record_dedup_matches
    from harvest.storage.staging import read_frame_or_parts

    days = spec.dedup.history_days
    if spec.mode != "listings" or not days:
        return [], []
    later = warehouse.loaded_dates(spec.name, after=day)
    horizon = day + dt.timedelta(days=days)
    checked: list[dt.date] = []
    unchecked: list[dt.date] = []
    for other in later:
        if other > horizon:
            break
        try:
            cleaned = clean(spec, other, settings, warehouse)
        except FileNotFoundError as exc:
            log.warning(
                "load source=%s date=%s: cannot re-check the later partition %s (%s); "
                "re-run that date to de-duplicate it against %s",
                spec.name, day, other, exc, day,
            )  # fmt: skip
            unchecked.append(other)
            continue
        frame = read_frame_or_parts(cleaned.cleaned_uri, settings)  # parts above the threshold
        result = warehouse.load_partition(spec, other, frame)
        record_dedup_matches(spec, other, settings, warehouse)  # what the re-check dropped
        summary = warehouse.partition_summary(spec.name, other)
        if summary is not None:
            warehouse.record_partition(
                replace(
                    summary,
                    duplicates=cleaned.duplicates,
                    imputed=sum(cleaned.imputed.values()),
                    updated=cleaned.updated,
                    loaded=result.rows,
                    loaded_at=None,
                    warnings=_rechecked_warnings(spec, other, summary, frame, cleaned),
                )
            )
        if result.written or result.deleted:
            horizon = other + dt.timedelta(days=days)
        log.info(
            "load source=%s date=%s: re-checked %s (%d written, %d deleted)",
            spec.name, day, other, result.written, result.deleted,
        )  # fmt: skip
        checked.append(other)
    return checked, unchecked


def _rechecked_warnings(
    spec: SourceSpec, day: dt.date, summary: PartitionSummary, frame: Any, cleaned: Recleaned
) -> dict[str, Any]:
    """A re-checked partition's warnings: those of its crawl as recorded, those of its frame
    checked again (a partition the re-check emptied says ``zero_rows``)."""
    from harvest.loading import history_duplicates
    from harvest.loading.warnings import FRAME_WARNINGS, partition_warnings

    counts = {
        "valid": summary.valid,
        "updated": cleaned.updated,
        "history_duplicates": history_duplicates(cleaned),
    }
    # only the frame's warnings are decided again; the crawl's and the records account stay
    # as the partition's own load recorded them (the crawl's summary is not at hand here)
    found = partition_warnings(spec, frame, None, loaded_before=True, counts=counts)
    fresh = {k: v for k, v in found.items() if k in FRAME_WARNINGS}
    kept = {k: v for k, v in (summary.warnings or {}).items() if k not in FRAME_WARNINGS}
    for name in fresh.keys() - (summary.warnings or {}).keys():
        log.warning(
            "source=%s date=%s warning %s after the re-check: %s",
            spec.name, day, name, fresh[name],
        )  # fmt: skip
    return {**kept, **fresh}
