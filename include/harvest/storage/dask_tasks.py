"""Run a stage's Dask tasks on a cluster, and say clearly which one killed its workers.

Every Dask step of Harvest (validation's parts, cleaning's buckets) hands a list of calls to
:func:`run_tasks`, each named for people ("validate: raw part 3", "clean: near bucket 3"). When
a task's worker dies while running it (its nanny restarts a worker that passes 95% of its memory
limit; more rarely a crash) ``distributed`` retries it on another worker, and after
``distributed.scheduler.allowed-failures`` (3) more deaths the scheduler gives up with
``distributed.scheduler.KilledWorker``, whose message names only the task's key and the last
worker's address. :func:`run_tasks` raises :class:`DaskWorkerKilled` instead: the source, the
logical date, the stage and task, the workers' memory limit and the settings to change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from harvest.errors import HarvestError

DaskCall = tuple[str, Callable[..., Any], tuple[Any, ...]]
"""One Dask task: its name for people (``"near bucket 3"``), the function, its arguments."""


class DaskWorkerKilled(HarvestError):
    """A Dask task killed every worker that ran it (``distributed``'s ``KilledWorker``): most
    likely it needed more memory than a worker has. Not retryable: the same task on the same
    workers meets the same limit; give the workers more memory or the tasks fewer records."""

    retryable = False


def run_tasks(
    client: Any,
    calls: Sequence[DaskCall],
    *,
    stage: str,
    source: str,
    day: dt.date | str,
    part_rows: int | None = None,
) -> list[Any]:
    """The results of ``calls`` run as Dask tasks on ``client`` (a ``distributed.Client``), in
    the calls' order. ``stage``, ``source`` and ``day`` name where they ran in an error;
    ``part_rows``, the records of one part (``Settings.dask_part_rows``), is said in it.

    Raises :class:`DaskWorkerKilled` when a task killed its workers (the others are cancelled);
    any exception a task raises comes through as it is."""
    run = uuid.uuid4().hex[:8]
    keys = [f"harvest-{stage}-{run}-{n}" for n in range(len(calls))]
    names = dict(zip(keys, (name for name, _, _ in calls), strict=True))
    futures = [
        client.submit(function, *args, key=key, pure=False)
        for key, (_, function, args) in zip(keys, calls, strict=True)
    ]
    try:
        with killed_workers(client, stage, source, day, part_rows, names):
            return list(client.gather(futures))
    except BaseException:  # the other tasks stop: their stage has failed
        client.cancel(futures)
        raise


@contextmanager
def killed_workers(
    client: Any,
    stage: str,
    source: str,
    day: dt.date | str,
    part_rows: int | None = None,
    names: Mapping[str, str] | str = "",
) -> Iterator[None]:
    """Turn a ``KilledWorker`` raised in the block (``client.compute`` of a Dask collection, a
    ``gather``) into :class:`DaskWorkerKilled`. ``names``: each task key's name for people, or
    one name for every task of the block (``"the natural key's repeated values"``)."""
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as error:
        key = error.task
        if isinstance(names, str):
            task = f"{names} ({key})" if names else str(key)
        else:
            task = names.get(key, str(key)) if isinstance(key, str) else str(key)
        raise killed_error(error, task, client, stage, source, day, part_rows) from error


def killed_error(
    error: Any,
    task: str,
    client: Any,
    stage: str,
    source: str,
    day: dt.date | str,
    part_rows: int | None,
) -> DaskWorkerKilled:
    """The :class:`DaskWorkerKilled` of a ``KilledWorker`` ``error`` of ``task``; the memory
    limit is the last worker's, else the live workers' (``client``)."""
    limit = getattr(error.last_worker, "memory_limit", None) or _workers_limit(client)
    memory = f"memory limit {_bytes(limit)} per worker" if limit else "no memory limit"
    rows = f" (now {part_rows:,})" if part_rows else ""
    return DaskWorkerKilled(
        f"{stage} source={source} date={day}, Dask task {task}: its worker died each of the "
        f"{error.allowed_failures + 1} times it ran (the last {error.last_worker.address}; "
        f"{memory}): most likely it needed more memory than a worker has (the workers' logs say "
        "'exceeded 95% memory budget'). Give each worker more memory "
        "(HARVEST_DASK_WORKER_MEMORY for the LocalCluster in the task; a cluster at "
        f"HARVEST_DASK_SCHEDULER sets its workers' --memory-limit) or lower "
        f"HARVEST_DASK_PART_ROWS{rows} so that each task holds fewer records."
    )


def _workers_limit(client: Any) -> int | None:
    try:
        workers = client.scheduler_info().get("workers", {}).values()
    except Exception:  # the scheduler gone too: the message goes without the limit
        return None
    limits = [w.get("memory_limit") for w in workers if w.get("memory_limit")]
    return max(limits) if limits else None


def _bytes(size: int) -> str:
    from dask.utils import format_bytes

    return str(format_bytes(int(size)))
