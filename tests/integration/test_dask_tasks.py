"""run_tasks on a real LocalCluster: results in order, a task's own error as it is, and a task
that grows past its worker's memory limit (the nanny kills the worker) turned into a
DaskWorkerKilled naming the source, the date, the stage, the task, the limit and the settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harvest.storage.dask_tasks import DaskWorkerKilled, killed_workers, run_tasks

LIMIT = "400MiB"  # a worker's limit: its own start takes ~150 MB, the task grows to 2 GiB at most


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    # the scheduler gives up after the first worker death (3 more by default: 3 more restarts)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, memory_limit=LIMIT,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


def _functions() -> tuple[Callable[[int], int], Callable[[], int], Callable[[], None]]:
    """Closures, pickled by value: the workers need not import the tests."""

    def square(n: int) -> int:
        return n * n

    def grow() -> int:
        import time

        import numpy as np

        held = []
        for _ in range(32):  # 64 MiB at a time, up to 2 GiB, slowly enough for the nanny
            held.append(np.ones(8 * 2**20))
            time.sleep(0.1)
        return len(held)

    def fail() -> None:
        raise KeyError("the task's own error")

    return square, grow, fail


def test_results_come_in_the_calls_order(client: Any) -> None:
    square, _, _ = _functions()
    calls = [(f"part {n}", square, (n,)) for n in range(6)]
    assert run_tasks(client, calls, stage="validate", source="demo", day="2026-12-07") == [
        0, 1, 4, 9, 16, 25,
    ]  # fmt: skip


def test_a_task_error_comes_through_as_it_is(client: Any) -> None:
    _, _, fail = _functions()
    with pytest.raises(KeyError, match="the task's own error"):
        run_tasks(client, [("part 0", fail, ())], stage="validate", source="demo", day="x")


def test_a_task_past_the_memory_limit_names_where_and_what_to_do(client: Any) -> None:
    square, grow, _ = _functions()
    calls = [("near bucket 2", square, (2,)), ("near bucket 3", grow, ())]
    with pytest.raises(DaskWorkerKilled) as raised:
        run_tasks(
            client, calls, stage="clean", source="big_market", day=dt.date(2026, 12, 7),
            part_rows=100_000,
        )  # fmt: skip
    message = str(raised.value)
    assert message.startswith("clean source=big_market date=2026-12-07, Dask task near bucket 3: ")
    assert "memory limit 400.00 MiB per worker" in message
    assert "HARVEST_DASK_WORKER_MEMORY" in message
    assert "HARVEST_DASK_PART_ROWS (now 100,000)" in message
    assert raised.value.retryable is False
    # the nanny restarted the worker: the cluster runs the next stage's tasks
    assert run_tasks(client, [("part 0", square, (7,))], stage="load", source="s", day="d") == [49]


def test_a_collection_computed_in_killed_workers_names_the_step(client: Any) -> None:
    import dask

    _, grow, _ = _functions()
    with (
        pytest.raises(DaskWorkerKilled, match=r"^validate source=demo date=2026-12-07, Dask "
                      r"task the natural key's repeated values \(grow-"),
        killed_workers(client, "validate", "demo", "2026-12-07", None,
                       "the natural key's repeated values"),
    ):  # fmt: skip
        client.compute(dask.delayed(grow)(), sync=True)


def test_validation_on_workers_too_small_names_the_raw_part(tmp_path: Any) -> None:
    """The real path: HARVEST_DASK_WORKER_MEMORY reaches the LocalCluster of dask_client, and a
    part's task that cannot fit (importing Great Expectations alone passes 200 MiB) fails the
    validation naming the source, the date and the part."""
    from contextlib import ExitStack

    import dask

    from harvest.config.settings import PACKAGE_DIR, Settings
    from harvest.config.spec import load_spec
    from harvest.records import extract_records
    from harvest.validation.partitioned import validate_on_dask
    from tests.integration.test_validation_partition import DAY, detail

    spec = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    raw = extract_records([detail(spec.name, i) for i in range(20)], spec)
    settings = Settings.from_env(
        {"HARVEST_HOME": str(tmp_path), "HARVEST_DASK_WORKER_MEMORY": "200MiB",
         "HARVEST_DASK_PART_ROWS": "10"}
    )  # fmt: skip
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        ExitStack() as stack,
        pytest.raises(DaskWorkerKilled) as raised,
    ):
        validate_on_dask({"raw": raw}, spec, DAY, settings, stack, [])
    message = str(raised.value)
    assert message.startswith(f"validate source=demo date={DAY}, Dask task raw part "), message
    assert "memory limit 200.00 MiB per worker" in message
    assert "HARVEST_DASK_PART_ROWS (now 10)" in message
