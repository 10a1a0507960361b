"""The Assets the stage operators update: a source's raw partitions and its processed ones.

An event's extra names the partition (``source``, ``logical_date``, and the raw URI or the rows
loaded); the training DAG of a source is scheduled on its :func:`processed_asset`.
"""

from __future__ import annotations

from airflow.sdk import Asset


def raw_asset(source: str) -> Asset:
    """The Asset of a source's raw partitions; each event's extra names the partition."""
    return Asset(name=f"harvest_raw_{source}", uri=f"harvest://raw/{source}", group="harvest_raw")


def processed_asset(source: str) -> Asset:
    """The Asset of a source's processed (warehouse) partitions; what training waits for."""
    return Asset(
        name=f"harvest_processed_{source}",
        uri=f"harvest://processed/{source}",
        group="harvest_processed",
    )
