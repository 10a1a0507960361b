"""The load stage: a cleaned partition from staging into the warehouse, plus its summary row.

:func:`load_cleaned_partition` is what ``LoadOperator`` and ``python -m harvest load`` run; the
counts it records come from the validate and clean reports (:func:`counts_from`) or, for a load
run on its own, from what those stages stored (:func:`staged_counts`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import partition_date
from harvest.text import redact_url

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


class LoadError(RuntimeError):
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
    }


def staged_counts(
    spec: SourceSpec, logical_date: dt.date | str, settings: Settings
) -> dict[str, int]:
    """The ``counts`` of a partition rebuilt from what the earlier stages stored (staged frames,
    the quarantine table), for a load run on its own (``python -m harvest load``)."""
    import sqlalchemy as sa

    from harvest.storage.staging import StagedDataset, read_frame, stage_uri
    from harvest.storage.warehouse import QUARANTINE, open_warehouse

    day = partition_date(logical_date)
    valid = len(
        read_frame(stage_uri(settings.staging_url, StagedDataset.VALIDATED, spec.name, day))
    )
    duplicates = len(
        read_frame(stage_uri(settings.staging_url, StagedDataset.DUPLICATES, spec.name, day))
    )
    cleaned = read_frame(stage_uri(settings.staging_url, StagedDataset.CLEANED, spec.name, day))
    imputed = (
        int(sum(len(v) for v in cleaned["imputed"] if v is not None)) if "imputed" in cleaned else 0
    )
    with open_warehouse(settings, spec, day) as warehouse, warehouse.engine.connect() as conn:
        quarantined = conn.execute(
            sa.select(sa.func.count(sa.distinct(QUARANTINE.c.url))).where(
                QUARANTINE.c.source == spec.name,
                QUARANTINE.c.logical_date == day,
                QUARANTINE.c.stage == "validate",
            )
        ).scalar_one()
    return {
        "scraped": valid + int(quarantined),
        "valid": valid,
        "quarantined": int(quarantined),
        "duplicates": duplicates,
        "imputed": imputed,
    }


def load_cleaned_partition(
    spec: SourceSpec,
    logical_date: dt.date | str,
    settings: Settings,
    *,
    cleaned_uri: str,
    counts: Mapping[str, int],
    warehouse: Warehouse | None = None,
) -> LoadReport:
    """Load the cleaned partition at ``cleaned_uri`` into ``processed_<source>`` and record its
    summary (``partition_loads``) with ``counts`` (see :data:`COUNT_KEYS`).

    The load is one transaction (a failure changes nothing); re-running it gives the same
    contents. ``warehouse`` defaults to the one ``settings`` names, migrated first.
    """
    from harvest.storage.staging import read_frame
    from harvest.storage.warehouse import PartitionSummary, open_warehouse

    day = partition_date(logical_date)
    missing = [k for k in COUNT_KEYS if k not in counts]
    if missing:
        raise LoadError(
            f"load source={spec.name} date={day}: counts lack {', '.join(missing)} "
            "(pass the validate and clean reports' counts)"
        )
    stage_counts = StageCounts(
        scraped=int(counts["scraped"]),
        valid=int(counts["valid"]),
        quarantined=int(counts["quarantined"]),
        duplicates=int(counts["duplicates"]),
        imputed=int(counts["imputed"]),
    )
    frame = read_frame(cleaned_uri)
    own = warehouse is None
    wh = open_warehouse(settings, spec, day) if warehouse is None else warehouse
    try:
        result = wh.load_partition(spec, day, frame)
        if result.rows != len(frame):
            raise LoadError(
                f"load source={spec.name} date={day}: {len(frame)} cleaned rows but "
                f"{result.rows} in the warehouse partition afterwards"
            )
        wh.record_partition(
            PartitionSummary(
                source=spec.name,
                logical_date=day,
                **stage_counts,
                loaded=result.rows,
                validation_passed=True,
            )
        )
        where = redact_url(wh.engine.url.render_as_string(hide_password=False))
    finally:
        if own:
            wh.close()
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
    )
    log.info(
        "load source=%s date=%s: %d rows in the warehouse (%d written, %d deleted) from %s",
        spec.name,
        day,
        report.loaded,
        report.written,
        report.deleted,
        cleaned_uri,
    )
    return report
