"""The load stage: a cleaned partition from staging into the warehouse, plus its summary row.

:func:`load` is its entry point (``LoadOperator``, ``python -m harvest load``,
:func:`harvest.pipeline.run_partition`); the counts it records come from the validate and clean
reports (:func:`counts_from`) or, for a load run on its own, from what those stages stored
(:func:`~.staged.staged_counts`); :func:`load_cleaned_partition` does the work, and stores
clean's de-duplication decisions (:func:`~.staged.record_dedup_matches`).

A ``listings`` source is upserted by key and its later partitions re-checked so that the order
of loads does not matter (:mod:`.order`); a ``catalogue`` source keeps every date's observations
and rebuilds the versions they change (:mod:`harvest.storage.warehouse.versions`). Either way
the partition's warnings (:mod:`.warnings`) are checked first, logged and stored, and once the
partition is loaded its HTTP cache entries are removed (:func:`harvest.storage.http_cache_entries.
purge_partition`: they only served re-runs of the stages before the load).

Those order checks clean partitions again, but stages never call each other: the caller hands
the clean stage in (``clean``, a :data:`Reclean`: :func:`harvest.cleaning.reclean`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.loading.staged import record_dedup_matches, staged_counts
from harvest.partitions import Partition

if TYPE_CHECKING:
    from harvest.storage.warehouse import Warehouse

log = logging.getLogger(__name__)


class StageCounts(TypedDict):
    """What the load stage records from the stages before it."""

    scraped: int
    valid: int
    quarantined: int
    duplicates: int
    imputed: int


COUNT_KEYS = tuple(StageCounts.__annotations__)


class Recleaned(Protocol):
    """What the load needs of a partition cleaned again (the clean stage's report)."""

    @property
    def cleaned_uri(self) -> str: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def imputed(self) -> Mapping[str, int]: ...


Reclean = Callable[[SourceSpec, dt.date, Settings, "Warehouse"], Recleaned]
"""Clean one partition (source spec, date) again, reading history from the given warehouse;
what a listings load calls under its source's lock to stay order-independent (:mod:`.order`)."""


class LoadError(HarvestError, RuntimeError):
    """The load cannot go on; the message names the source, the date and what to check."""


@dataclass(frozen=True)
class LoadReport:
    """One loaded partition: the counts of every stage and what the load did."""

    source: str
    logical_date: str
    cleaned_uri: str
    warehouse: str  # the URL, password hidden
    scraped: int
    valid: int
    quarantined: int
    duplicates: int
    imputed: int
    loaded: int  # rows of the partition in the warehouse now
    written: int  # of them new or changed by this load
    deleted: int  # rows no longer in the partition
    strategy: str  # "copy" (a first load COPYed straight in) or "upsert" (through staging)
    seconds: float
    updated: int = 0  # listings: known keys loaded with changed fields
    versions_opened: int | None = None  # catalogue: versions with valid_from = this date
    versions_closed: int | None = None  # catalogue: versions with valid_to = this date
    versions_unchanged: int | None = None  # catalogue: observed again, nothing tracked changed
    versions_unobserved: int | None = None  # catalogue: open, not observed (list page not read)
    warnings: dict[str, dict[str, Any]] = field(default_factory=dict)
    recleaned: bool = False  # listings: cleaned again first (an earlier date loaded since)
    rechecked: list[str] = field(default_factory=list)  # listings: later dates cleaned again
    unchecked: list[str] = field(default_factory=list)  # later dates whose frames were gone
    http_cache_purged: int = 0  # HTTP cache entries of the partition removed after the load

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counts_from(validation: Mapping[str, Any], cleaning: Mapping[str, Any]) -> dict[str, int]:
    """The ``counts`` of :func:`load_cleaned_partition` from the validate and clean reports
    (their ``to_dict()``, i.e. the XComs of those tasks)."""
    imputed = cleaning.get("imputed") or {}
    return {
        "scraped": int(validation["scraped"]),
        "valid": int(validation["valid"]),
        "quarantined": int(validation["quarantined"]),
        "duplicates": int(cleaning["duplicates"]),
        "imputed": int(sum(imputed.values())) if isinstance(imputed, Mapping) else int(imputed),
        "updated": int(cleaning.get("updated") or 0),
        "history_duplicates": history_duplicates(cleaning),
        "same_item": int(validation.get("same_item_pages") or 0),
    }


def history_duplicates(cleaning: Mapping[str, Any] | Any) -> int:
    """Records the clean stage found on earlier dates (exact and near history duplicates), from
    its report or the report's ``to_dict()``; 0 when it does not say."""
    names = ("exact_duplicates_history", "near_duplicates_history")
    if isinstance(cleaning, Mapping):
        return sum(int(cleaning.get(n) or 0) for n in names)
    return sum(int(getattr(cleaning, n, 0) or 0) for n in names)


def _as_dict(report: Any) -> dict[str, Any]:
    return dict(report) if isinstance(report, Mapping) else report.to_dict()


def load(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    validation: Any = None,
    cleaning: Any = None,
    crawl: Any = None,
    clean: Reclean | None = None,
    warehouse: Warehouse | None = None,
) -> LoadReport:
    """The load stage's entry point: load the partition's cleaned frame and record its counts.

    ``validation``, ``cleaning`` and ``crawl`` are the earlier stages' reports (typed, or their
    ``to_dict()``: the XComs of their tasks); without ``validation`` and ``cleaning`` the
    partition's staged cleaned frame is loaded with the counts those stages stored
    (:func:`~.staged.staged_counts`). ``clean``: the clean stage (:func:`harvest.cleaning.reclean`), which
    a listings source with a history window needs. Raises what
    :func:`load_cleaned_partition` raises."""
    from harvest.storage.staging import StagedDataset

    partition = Partition.of(spec.name, partition)
    cleaned_at = None
    if validation is None or cleaning is None:
        cleaned_uri = partition.staged_uri(settings.staging_url, StagedDataset.CLEANED)
        counts = staged_counts(spec, partition, settings)
    else:
        cleaned = _as_dict(cleaning)
        cleaned_uri, cleaned_at = cleaned["cleaned_uri"], cleaned.get("cleaned_at") or None
        counts = counts_from(_as_dict(validation), cleaned)
    return load_cleaned_partition(
        spec,
        partition,
        settings,
        cleaned_uri=cleaned_uri,
        counts=counts,
        warehouse=warehouse,
        crawl=None if crawl is None else _as_dict(crawl),
        cleaned_at=cleaned_at,
        clean=clean,
    )


def load_cleaned_partition(
    spec: SourceSpec,
    partition: Partition | dt.date,
    settings: Settings,
    *,
    cleaned_uri: str,
    counts: Mapping[str, int],
    warehouse: Warehouse | None = None,
    crawl: Mapping[str, Any] | None = None,
    cleaned_at: dt.datetime | str | None = None,
    clean: Reclean | None = None,
) -> LoadReport:
    """Load the cleaned partition at ``cleaned_uri`` into the warehouse and record its summary
    (``partition_loads``) with ``counts`` (see :data:`COUNT_KEYS`; ``updated`` optional).

    The partition load is one transaction (a failure changes nothing); re-running it gives the
    same contents. ``warehouse`` defaults to the one ``settings`` names, migrated first.
    ``crawl`` (the scrape report) lets the ``all_cached`` warning be checked; ``cleaned_at``
    (the clean report's) lets a listings load notice that an earlier date was loaded since
    the clean, and clean again (:mod:`.order`) with ``clean`` (the clean stage,
    :func:`harvest.cleaning.reclean`), which a listings source with a history window needs
    (:class:`LoadError` without it). Once loaded, the partition's HTTP cache entries are removed
    (``http_cache_purged``). Raises :class:`~.warnings.CriticalWarning`, before changing
    anything, when a warning the spec makes critical is found.
    """
    import pandas as pd

    from harvest.loading.order import recheck_later, stale_clean
    from harvest.loading.warnings import (
        partition_warnings,
        report_warnings,
        unobserved_warning,
    )
    from harvest.storage.http_cache_entries import purge_partition
    from harvest.storage.staging import read_frame_or_parts
    from harvest.storage.warehouse import PartitionSummary, open_warehouse

    day = Partition.of(spec.name, partition).day
    missing = [k for k in COUNT_KEYS if k not in counts]
    if missing:
        raise LoadError(
            f"load source={spec.name} date={day}: counts lack {', '.join(missing)} "
            "(pass the validate and clean reports' counts)",
            retryable=False,  # the caller's wiring: a retry passes the same counts
        )
    stage_counts = StageCounts(
        scraped=int(counts["scraped"]),
        valid=int(counts["valid"]),
        quarantined=int(counts["quarantined"]),
        duplicates=int(counts["duplicates"]),
        imputed=int(counts["imputed"]),
    )
    updated = int(counts.get("updated", 0))
    seen_before = int(counts.get("history_duplicates", 0))
    same_item = int(counts.get("same_item", 0))
    if clean is None and spec.mode == "listings" and spec.dedup.history_days:
        raise LoadError(
            f"load source={spec.name} date={day}: a listings load with a history window needs "
            "the clean stage to stay order-independent (pass clean=harvest.cleaning.reclean)",
            retryable=False,
        )
    own = warehouse is None
    wh = open_warehouse(settings, spec, day) if warehouse is None else warehouse
    recleaned = False
    rechecked: list[dt.date] = []
    unchecked: list[dt.date] = []
    try:
        with wh.source_lock(spec.name):
            if clean is not None and cleaned_at is not None and spec.mode == "listings":
                since = stale_clean(wh, spec, day, _timestamp(cleaned_at))
                if since:
                    log.info(
                        "load source=%s date=%s: %s loaded after the clean; cleaning again",
                        spec.name, day, ", ".join(map(str, since)),
                    )  # fmt: skip
                    again = clean(spec, day, settings, wh)
                    cleaned_uri, recleaned = again.cleaned_uri, True
                    stage_counts["duplicates"] = again.duplicates
                    stage_counts["imputed"] = sum(again.imputed.values())
                    updated = again.updated
                    seen_before = history_duplicates(again)
            frame = read_frame_or_parts(cleaned_uri, settings)
            loaded_before = wh.partition_summary(spec.name, day) is not None
            warnings = partition_warnings(
                spec,
                frame,
                crawl,
                loaded_before=loaded_before,
                counts={
                    **stage_counts,
                    "updated": updated,
                    "history_duplicates": seen_before,
                    "same_item": same_item,
                },
            )
            report_warnings(spec, day, warnings)
            result = wh.load_partition(spec, day, frame)
            rows = len(frame) if isinstance(frame, pd.DataFrame) else frame.rows
            if result.rows != rows:
                raise LoadError(
                    f"load source={spec.name} date={day}: {rows} cleaned rows but "
                    f"{result.rows} in the warehouse partition afterwards"
                )
            versions = result.versions
            if versions is not None and versions.unobserved:
                warnings["unobserved_items"] = unobserved_warning(versions)
                report_warnings(spec, day, {"unobserved_items": warnings["unobserved_items"]})
            wh.record_partition(
                PartitionSummary(
                    source=spec.name,
                    logical_date=day,
                    **stage_counts,
                    loaded=result.rows,
                    validation_passed=True,
                    updated=updated,
                    versions_opened=versions.opened if versions else None,
                    versions_closed=versions.closed if versions else None,
                    versions_unchanged=versions.unchanged if versions else None,
                    versions_unobserved=versions.unobserved if versions else None,
                    warnings=warnings,
                )
            )
            record_dedup_matches(spec, day, settings, wh)
            if clean is not None:
                rechecked, unchecked = recheck_later(spec, day, settings, wh, clean)
        where = wh.url
    finally:
        if own:
            wh.close()
    purged = purge_partition(settings, spec.name, day)
    report = LoadReport(
        source=spec.name,
        logical_date=day.isoformat(),
        cleaned_uri=cleaned_uri,
        warehouse=where,
        **stage_counts,
        loaded=result.rows,
        written=result.written,
        deleted=result.deleted,
        strategy=result.strategy,
        seconds=round(result.seconds, 3),
        updated=updated,
        versions_opened=versions.opened if versions else None,
        versions_closed=versions.closed if versions else None,
        versions_unchanged=versions.unchanged if versions else None,
        versions_unobserved=versions.unobserved if versions else None,
        warnings=warnings,
        recleaned=recleaned,
        rechecked=[d.isoformat() for d in rechecked],
        unchecked=[d.isoformat() for d in unchecked],
        http_cache_purged=purged,
    )
    log.info(
        "load source=%s date=%s: %d rows in the warehouse (%d written, %d deleted, %d updated)"
        "%s from %s",
        spec.name,
        day,
        report.loaded,
        report.written,
        report.deleted,
        report.updated,
        f", versions {versions.opened} opened, {versions.closed} closed, "
        f"{versions.unchanged} unchanged, {versions.unobserved} unobserved"
        if versions
        else "",
        cleaned_uri,
    )
    return report


def _timestamp(value: dt.datetime | str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
