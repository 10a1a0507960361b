"""The clean stage: normalisation, de-duplication and imputation of typed records (parsing is in
:mod:`harvest.records`). :func:`clean` is its entry point; :func:`reclean` is the same stage as
the load of a listings source calls it again under its lock (a :data:`harvest.loading.Reclean`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harvest.cleaning.stage import CleanReport, HistorySource
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.partitions import Partition

__all__ = ["clean", "reclean"]


def clean(
    spec: SourceSpec, partition: Partition | dt.date, settings: Settings, **options: Any
) -> CleanReport:
    """Clean one validated partition from staging to staging and return its
    :class:`~harvest.cleaning.stage.CleanReport` (``options``: ``validated_uri``, ``warehouse``,
    ``cache`` of :func:`harvest.cleaning.stage.clean_partition`). Raises ``FileNotFoundError``
    when the validated frame is not staged and ``WarehouseUnavailable`` (retryable) when
    history cannot be read."""
    from harvest.cleaning.stage import clean_partition

    return clean_partition(spec, partition, settings, **options)


def reclean(
    spec: SourceSpec, day: dt.date, settings: Settings, warehouse: HistorySource
) -> CleanReport:
    """:func:`clean` of partition ``day`` from its staged validated frame, history read from
    ``warehouse``: what the load of a listings source calls under its lock (a stale clean,
    later partitions; :mod:`harvest.loading.order`)."""
    return clean(spec, day, settings, warehouse=warehouse)
