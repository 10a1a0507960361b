"""The root of every Harvest exception, and whether a retry can help.

Every exception Harvest raises derives from :class:`HarvestError` (keeping the builtin base its
callers catch, e.g. ``SpecError`` is still a ``ValueError``). ``retryable`` says whether running
the same task again may succeed: ``True`` for what passes (a warehouse or site that was down, a
crawl that fetched nothing), ``False`` for what a retry meets again (a bad spec, a partition that
breaks a critical expectation). Each class sets its default; an instance may say otherwise
(``raise CrawlError(..., retryable=False)``). The Airflow adapters translate it once
(:mod:`harvest_airflow.errors`): retryable -> ``AirflowException`` (retried with the DAG's
backoff), else ``AirflowFailException`` (failed at once). Like Scrapy's ``exceptions.py`` and
Airflow's ``AirflowFailException``.
"""

from __future__ import annotations

from typing import Any


class HarvestError(Exception):
    """A Harvest failure; the message names what and where (source, date, file, field, URL)
    and what to do. ``retryable``: whether the same task run again may succeed."""

    retryable: bool = True

    def __init__(self, *args: Any, retryable: bool | None = None) -> None:
        super().__init__(*args)
        if retryable is not None:
            self.retryable = retryable
