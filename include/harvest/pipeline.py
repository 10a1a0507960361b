"""The four stages of one partition, joined: scrape -> validate -> clean -> load.

Airflow runs each stage in its own task (``plugins/harvest_airflow/operators.py``), handing on
only URIs and counts; :func:`run_partition` runs all four in this process, for the command line
(``python -m harvest run``) and for tests. :func:`load_cleaned_partition` is the load stage: the
cleaned Parquet from staging into the warehouse, plus the partition's summary row.
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


class PipelineError(RuntimeError):
    """A stage cannot go on; the message names the source, the date and what to check."""


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
    path: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_warehouse(spec: SourceSpec, settings: Settings) -> Warehouse:
    """The warehouse ``settings`` names, migrated for ``spec`` (idempotent, cheap when current).

    Raises ``WarehouseUnavailable`` when the database cannot be reached.
    """
    from harvest.storage.warehouse import Warehouse

    warehouse = Warehouse.from_settings(settings)
    try:
        report = warehouse.migrate([spec])
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
    from harvest.storage.warehouse import QUARANTINE

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
    with open_warehouse(spec, settings) as warehouse, warehouse.engine.connect() as conn:
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
    from harvest.storage.warehouse import PartitionSummary

    day = partition_date(logical_date)
    missing = [k for k in COUNT_KEYS if k not in counts]
    if missing:
        raise PipelineError(
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
    wh = open_warehouse(spec, settings) if warehouse is None else warehouse
    try:
        result = wh.load_partition(spec, day, frame)
        if result.rows != len(frame):
            raise PipelineError(
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
        path=result.path,
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


def clean_validated_partition(
    spec: SourceSpec,
    logical_date: dt.date | str,
    settings: Settings,
    *,
    validated_uri: str | None = None,
) -> Any:
    """``clean_partition`` against the (migrated) warehouse ``settings`` names, for history.

    Opening the warehouse first means an unreachable warehouse fails the stage (and is retried)
    instead of silently cleaning without history.
    """
    from harvest.cleaning.clean import clean_partition

    with open_warehouse(spec, settings) as warehouse:
        return clean_partition(
            spec,
            partition_date(logical_date),
            settings,
            validated_uri=validated_uri,
            warehouse=warehouse,
        )


def check_crawl(spec: SourceSpec, summary: Mapping[str, Any], base_url: str | None = None) -> None:
    """Raise :class:`PipelineError` when a crawl did not work (bad exit code, no page fetched)."""
    day = summary.get("logical_date")
    if summary.get("exit_code") not in (0, None):
        raise PipelineError(
            f"crawl of source {spec.name!r} for {day} exited with code {summary['exit_code']}; "
            "see the crawl log lines above"
        )
    failed = int(summary.get("failed_pages") or 0)
    if int(summary.get("pages") or 0) <= failed:
        raise PipelineError(
            f"crawl of source {spec.name!r} for {day} fetched no page ({failed} failed); "
            f"is {base_url or spec.resolved_base_url()} up? "
            f"(override the URL with HARVEST_SOURCE_{spec.name.upper()}_BASE_URL)"
        )


def run_partition(
    spec: SourceSpec,
    logical_date: dt.date | str,
    settings: Settings,
    base_url: str | None = None,
    *,
    scrape: bool = True,
) -> dict[str, dict[str, Any]]:
    """All four stages for one partition in this process; the report of each, by stage name.

    ``scrape=False`` starts from the raw partition already in the raw store. Raises what the
    failing stage raises (``ValidationFailed``, ``WarehouseError``, ``CrawlError``,
    :class:`PipelineError`); the stages before it keep what they stored.
    """
    from harvest.validation.run import validate_partition

    day = partition_date(logical_date)
    reports: dict[str, dict[str, Any]] = {}
    if scrape:
        from harvest.scraping.runner import run_crawl

        reports["scrape"] = run_crawl(spec, day, settings, base_url=base_url).to_dict()
        check_crawl(spec, reports["scrape"], base_url)
    reports["validate"] = validate_partition(spec, day, settings).to_dict()
    reports["clean"] = clean_validated_partition(
        spec, day, settings, validated_uri=reports["validate"]["validated_uri"]
    ).to_dict()
    reports["load"] = load_cleaned_partition(
        spec,
        day,
        settings,
        cleaned_uri=reports["clean"]["cleaned_uri"],
        counts=counts_from(reports["validate"], reports["clean"]),
    ).to_dict()
    return reports
