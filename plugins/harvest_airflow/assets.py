"""The Assets the stage operators update: a source's raw partitions and its processed ones.

An event's extra names the partition (``source``, ``logical_date``, and the raw URI or the rows
loaded); the training DAG of a source is scheduled on its :func:`processed_asset`.

The URIs use the ``x-harvest`` scheme: Airflow leaves schemes starting ``x-`` to their owner
and skips its provider look-up for them (``airflow.sdk.definitions.asset._sanitize_uri``); any
other scheme makes the first Asset of a DAG-parse process discover every provider's URI
handlers (importing ``airflow.models.asset`` through the Mongo provider: about 0.45 s of each
cold parse of ``harvest_sources.py``).
"""

from __future__ import annotations

from airflow.sdk import Asset


def raw_asset(source: str) -> Asset:
    """The Asset of a source's raw partitions; each event's extra names the partition."""
    return Asset(name=f"harvest_raw_{source}", uri=f"x-harvest://raw/{source}", group="harvest_raw")


def processed_asset(source: str) -> Asset:
    """The Asset of a source's processed (warehouse) partitions; what training waits for."""
    return Asset(
        name=f"harvest_processed_{source}",
        uri=f"x-harvest://processed/{source}",
        group="harvest_processed",
    )
