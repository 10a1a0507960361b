"""What the load reads of the earlier stages' staged frames besides the cleaned records: their
counts, from the Parquet footers (:func:`staged_counts`), and clean's de-duplication decisions,
streamed into ``dedup_matches`` (:func:`record_dedup_matches`). Neither holds a whole frame: a
partition of ten million records stages several hundred thousand decisions, each with two
records' JSON."""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.partitions import Partition

if TYPE_CHECKING:
    from harvest.storage.warehouse import Warehouse

log = logging.getLogger(__name__)

IMPUTED_BATCH_ROWS = 500_000
"""Rows of the cleaned frame's ``imputed`` column read at a time by :func:`staged_counts`."""


def staged_counts(
    spec: SourceSpec, partition: Partition | dt.date, settings: Settings
) -> dict[str, int]:
    """The ``counts`` of a partition rebuilt from what the earlier stages stored, for a load run
    on its own (``python -m harvest load``): the validated and duplicate records from their
    staged files' footers, the imputed values from the cleaned file's ``imputed`` column (read
    in batches), the quarantined records from the quarantine table. ``FileNotFoundError``
    naming a staged file that is not there."""
    import pyarrow.compute as pc

    from harvest.storage.staging import StagedDataset, staged_batches, staged_rows
    from harvest.storage.warehouse import open_warehouse

    partition = Partition.of(spec.name, partition)
    day, staging = partition.day, settings.staging_url
    valid = staged_rows(partition.staged_uri(staging, StagedDataset.VALIDATED))
    duplicates = staged_rows(partition.staged_uri(staging, StagedDataset.DUPLICATES))
    imputed = 0
    cleaned = partition.staged_uri(staging, StagedDataset.CLEANED)
    with staged_batches(cleaned, IMPUTED_BATCH_ROWS, ["imputed"]) as batches:
        if "imputed" in batches.schema.names:
            for batch in batches:
                imputed += pc.sum(pc.list_value_length(batch.column("imputed"))).as_py() or 0
    with open_warehouse(settings, spec, day) as warehouse:
        quarantined = warehouse.quarantined_records(spec.name, day, "validate")
    return {
        "scraped": valid + quarantined,
        "valid": valid,
        "quarantined": quarantined,
        "duplicates": duplicates,
        "imputed": imputed,
    }


def record_dedup_matches(
    spec: SourceSpec,
    day: dt.date,
    settings: Settings,
    warehouse: Warehouse,
    *,
    batch_rows: int | None = None,
) -> int | None:
    """Store what clean dropped or matched and kept (its staged ``duplicates`` and
    ``dedup_kept`` frames, in this order) in ``dedup_matches``, read and sent ``batch_rows``
    rows at a time (default :data:`~harvest.storage.warehouse.dedup_matches.MATCH_BATCH_ROWS`);
    the rows stored, or ``None`` (logged, nothing changed) for a partition cleaned before those
    frames existed."""
    from harvest.storage.staging import StagedDataset, staged_batches
    from harvest.storage.warehouse.dedup_matches import MATCH_BATCH_ROWS, MATCH_FRAME_COLUMNS

    rows = batch_rows or MATCH_BATCH_ROWS
    with ExitStack() as stack:
        readers = []
        for dataset in (StagedDataset.DUPLICATES, StagedDataset.DEDUP_KEPT):
            uri = Partition(spec.name, day).staged_uri(settings.staging_url, dataset)
            try:
                readers.append(stack.enter_context(staged_batches(uri, rows, MATCH_FRAME_COLUMNS)))
            except FileNotFoundError:
                log.warning(
                    "load source=%s date=%s: no staged %s frame (%s); dedup_matches not updated: "
                    "clean the partition again", spec.name, day, dataset.value, uri,
                )  # fmt: skip
                return None
        return warehouse.replace_dedup_matches(spec.name, day, readers)
