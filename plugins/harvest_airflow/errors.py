"""Harvest's errors in Airflow's terms, decided in one place.

Every Harvest exception derives from :class:`harvest.errors.HarvestError` and says whether a
retry may help (``retryable``). :func:`airflow_error` turns one into ``AirflowException``
(retryable: the task is retried with the DAG's backoff, e.g. a warehouse or site that was down,
a crawl that fetched nothing) or ``AirflowFailException`` (not retryable: the task fails at once,
e.g. a bad spec, a partition that breaks a critical expectation, a critical data warning), with
the same message. :func:`translate_errors` wraps a task's entry point (an operator's
``execute``, a TaskFlow task's function, the hook's ``get_conn``) with it. Anything else
propagates unchanged (Airflow retries it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from harvest.errors import HarvestError

P = ParamSpec("P")
R = TypeVar("R")


def airflow_error(exc: HarvestError) -> AirflowException:
    """``AirflowException`` when ``exc.retryable``, else ``AirflowFailException``; same message."""
    kind = AirflowException if exc.retryable else AirflowFailException
    return kind(str(exc))


def translate_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with every :class:`~harvest.errors.HarvestError` it raises re-raised as
    :func:`airflow_error` (chained, so the task log keeps the original traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HarvestError as exc:
            raise airflow_error(exc) from exc

    return wrapper
