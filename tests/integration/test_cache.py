"""The Redis results cache: real Redis, and Redis going away mid-run."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
import sqlalchemy as sa

from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import load_spec
from harvest.storage.read_cache import NullReadCache, ReadCache, RedisReadCache, cache_key
from harvest.storage.warehouse import open_warehouse
from tests.conftest import missing_service

pytestmark = pytest.mark.redis

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
D1 = dt.date(2026, 1, 5)


def listings(day: dt.date, n: int) -> pd.DataFrame:
    """``n`` demo records with keys and URLs only (the cache does not care about the rest)."""
    ids = [f"L-{day:%Y%m%d}-{i:04d}" for i in range(n)]
    data: dict[str, object] = {"url": [f"http://x/{i}" for i in ids]}
    for name, field in SPEC.detail.fields.items():
        data.update(dict.fromkeys(field.columns(name), [None] * n))
    return pd.DataFrame(data).assign(listing_id=ids)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Counter:
    def __init__(self, value: object) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def test_from_url() -> None:
    assert isinstance(ReadCache.from_url(None), NullReadCache)
    assert isinstance(ReadCache.from_url("redis://127.0.0.1:6379/15"), RedisReadCache)
    with pytest.raises(ValueError, match="memcached"):
        ReadCache.from_url("memcached://h")


def test_get_or_compute_computes_once_then_serves_from_redis(clean_redis: str) -> None:
    cache = ReadCache.from_url(clean_redis)
    frame = pd.DataFrame({"n": pd.array([1, None], "Int64"), "d": [D1, None]})
    compute = Counter(frame)
    first = cache.get_or_compute("harvest:demo:history:-:-:x", 60, compute)
    second = cache.get_or_compute("harvest:demo:history:-:-:x", 60, compute)
    assert compute.calls == 1
    pd.testing.assert_frame_equal(first, second)
    ttl = redis.Redis.from_url(clean_redis).ttl("harvest:demo:history:-:-:x")
    assert 0 < ttl <= 60
    counts = Counter([3, 4])
    assert cache.get_or_compute("harvest:demo:row_counts:-:-:2", 60, counts) == [3, 4]
    assert cache.get_or_compute("harvest:demo:row_counts:-:-:2", 60, counts) == [3, 4]
    assert counts.calls == 1


def test_invalidate_partition_drops_the_keys_that_include_the_date(clean_redis: str) -> None:
    cache = ReadCache.from_url(clean_redis)
    day = dt.timedelta(days=1)
    keys = {
        "summary": cache_key("demo", "summary", D1, D1),
        "history_over": cache_key("demo", "history", D1 - 30 * day, D1, "abc"),
        "history_after": cache_key("demo", "history", D1 + day, D1 + 5 * day, "abc"),
        "history_before": cache_key("demo", "history", D1 - 9 * day, D1 - day, "abc"),
        "counts_after": cache_key("demo", "row_counts", None, D1 + 3 * day, "7"),
        "counts_before": cache_key("demo", "row_counts", None, D1 - day, "7"),
        "other_source": cache_key("other", "summary", D1, D1),
    }
    for key in keys.values():
        cache.get_or_compute(key, 60, lambda: 1)
    assert cache.invalidate_partition("demo", D1) == 3
    left = set(redis.Redis.from_url(clean_redis, decode_responses=True).keys("*"))
    assert left == {keys[k] for k in ("history_after", "history_before", "counts_before",
                                      "other_source")}  # fmt: skip


def test_warehouse_reads_are_cached_and_loads_invalidate_them(
    clean_redis: str, tmp_path: Path
) -> None:
    warehouse = open_warehouse(
        f"sqlite:///{tmp_path / 'w.db'}", cache=ReadCache.from_url(clean_redis)
    )
    warehouse.migrate([SPEC])
    warehouse.load_partition(SPEC, D1, listings(D1, 6))
    queries: list[str] = []
    sa.event.listen(warehouse.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    first = warehouse.read_history("demo", D1, D1)
    n = len(queries)
    second = warehouse.read_history("demo", D1, D1)
    assert len(queries) == n  # served from Redis
    pd.testing.assert_frame_equal(first, second)
    assert warehouse.recent_row_counts("demo", D1 + dt.timedelta(days=1), 3) == [6]

    warehouse.load_partition(SPEC, D1, listings(D1, 4))
    assert len(warehouse.read_history("demo", D1, D1)) == 4
    assert warehouse.recent_row_counts("demo", D1 + dt.timedelta(days=1), 3) == [4]
    warehouse.close()


def test_open_warehouse_wires_the_settings_cache_for_every_caller(
    clean_redis: str, tmp_path: Path
) -> None:
    """Stages, the CLI, the supervisor and training all open the warehouse with
    ``open_warehouse(settings)``: the read cache is ``settings.cache_url``'s for each of them."""
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path), "HARVEST_CACHE_URL": clean_redis})
    with open_warehouse(settings, SPEC, D1) as warehouse:
        assert isinstance(warehouse.cache, RedisReadCache)
        warehouse.load_partition(SPEC, D1, listings(D1, 3))
        assert len(warehouse.read_history("demo", D1, D1)) == 3
    keys = redis.Redis.from_url(clean_redis, decode_responses=True).keys("harvest:demo:history:*")
    assert len(keys) == 1
    with open_warehouse(settings) as reader:  # no spec: opened, not migrated
        assert isinstance(reader.cache, RedisReadCache)
        assert len(reader.read_history("demo", D1, D1)) == 3
    with open_warehouse(settings.warehouse_url) as bare:  # a bare URL: no cache
        assert isinstance(bare.cache, NullReadCache)


def test_redis_at_a_closed_port_gives_the_same_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ReadCache.from_url(f"redis://127.0.0.1:{free_port()}/0")
    warehouse = open_warehouse(f"sqlite:///{tmp_path / 'w.db'}", cache=cache)
    warehouse.migrate([SPEC])
    with caplog.at_level(logging.WARNING, logger="harvest.storage.read_cache"):
        started = time.monotonic()
        warehouse.load_partition(SPEC, D1, listings(D1, 6))
        for _ in range(3):
            assert len(warehouse.read_history("demo", D1, D1)) == 6
        assert time.monotonic() - started < 5
    assert len([r for r in caplog.records if "unavailable" in r.message]) == 1
    warehouse.close()


@pytest.fixture
def temp_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if not binary:
        missing_service("redis-server is not installed (needed to start and stop a Redis)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_redis_going_down_mid_run_falls_through_to_computing(
    temp_redis: tuple[str, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    url, process = temp_redis
    cache = RedisReadCache(url, retry_after_seconds=0.2)
    compute = Counter({"rows": 10})
    assert cache.get_or_compute("harvest:demo:summary:-:-", 60, compute) == {"rows": 10}
    assert cache.get_or_compute("harvest:demo:summary:-:-", 60, compute) == {"rows": 10}
    assert compute.calls == 1

    process.terminate()
    process.wait(10)
    with caplog.at_level(logging.WARNING, logger="harvest.storage.read_cache"):
        for _ in range(3):
            assert cache.get_or_compute("harvest:demo:summary:-:-", 60, compute) == {"rows": 10}
            assert cache.invalidate_partition("demo", D1) == 0
            time.sleep(0.25)
    assert compute.calls == 4
    assert len([r for r in caplog.records if "unavailable" in r.message]) == 1
