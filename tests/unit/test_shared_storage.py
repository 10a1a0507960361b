"""Which executors run tasks on several machines, and which store URLs only one machine sees."""

from __future__ import annotations

import pytest

from harvest.config import Settings
from harvest.config.settings import (
    StorageNotShared,
    check_shared_storage,
    distributed_executors,
    is_local_file_url,
)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("LocalExecutor", []),
        ("CeleryExecutor", ["CeleryExecutor"]),
        ("LocalExecutor,KubernetesExecutor", ["KubernetesExecutor"]),
        ("airflow.providers.celery.executors.celery_executor.CeleryExecutor", ["CeleryExecutor"]),
        (
            "ecs:airflow.providers.amazon.aws.executors.ecs.ecs_executor.AwsEcsExecutor",
            ["AwsEcsExecutor"],
        ),
        (" SequentialExecutor ", []),
    ],
)
def test_distributed_executors(setting: str, expected: list[str]) -> None:
    assert distributed_executors(setting) == expected


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("file:///data/raw", True),
        ("/data/staging", True),
        ("sqlite:////data/warehouse.db", True),
        ("sqlite+pysqlite:///w.db", True),
        ("mongodb://mongo:27017/harvest", False),
        ("postgresql://u:p@db/harvest", False),
        ("s3://bucket/staging", False),
        ("http://mlflow:5000", False),
    ],
)
def test_is_local_file_url(url: str, local: bool) -> None:
    assert is_local_file_url(url) is local


def test_only_the_local_stores_are_named(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "HARVEST_HOME": str(tmp_path),
            "HARVEST_RAW_STORE_URL": "mongodb://mongo/harvest",
            "HARVEST_WAREHOUSE_URL": "postgresql://db/harvest",
            "HARVEST_MLFLOW_TRACKING_URI": "http://mlflow:5000",
        }
    )
    with pytest.raises(StorageNotShared) as caught:
        check_shared_storage(settings, "CeleryExecutor")
    message = str(caught.value)
    assert f"HARVEST_STAGING_URL=file://{tmp_path}/staging is a local file" in message
    for other in ("HARVEST_RAW_STORE_URL", "HARVEST_WAREHOUSE_URL", "HARVEST_MLFLOW_TRACKING_URI"):
        assert other not in message
    check_shared_storage(settings, "LocalExecutor")
    check_shared_storage(
        Settings.from_env({"HARVEST_HOME": str(tmp_path), "HARVEST_SHARED_FILESYSTEM": "yes"}),
        "CeleryExecutor",
    )
