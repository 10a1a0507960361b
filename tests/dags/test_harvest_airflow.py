"""The Airflow adapters without a scheduler: connection URIs, settings resolution, the operator's
arguments and the local runtime helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvest.config import Settings
from harvest_airflow import local
from harvest_airflow.connections import normalise_uri, resolve_settings


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://u:p%40x@h:27017/harvest?authSource=admin",
        "redis://h:6379/0",
        "postgresql://u:p@h:5432/wh",  # Airflow stores it as postgres://
        "file:///tmp/raw",  # Airflow percent-encodes the path
        "sqlite:////tmp/x.db",
    ],
)
def test_connection_uri_round_trip(uri: str) -> None:
    from airflow.sdk import Connection

    conn = Connection.from_uri(uri, conn_id="harvest_test")
    assert normalise_uri(conn.get_uri()) == uri


def test_connections_override_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_CACHE", "redis://cache:6379/3")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", "postgresql://u:secret@db:5432/harvest")
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_RAW_STORE", raising=False)
    settings = resolve_settings()
    assert settings.cache_url == "redis://cache:6379/3"
    assert settings.warehouse_url == "postgresql://u:secret@db:5432/harvest"
    assert settings.raw_store_url == Settings.from_env().raw_store_url  # no connection: env


def test_scrape_operator_init_only_stores_arguments() -> None:
    from harvest_airflow.operators import ScrapeOperator

    op = ScrapeOperator(task_id="scrape", source="nowhere", sources_dir="/does/not/exist")
    assert op.source == "nowhere"
    assert op.logical_date == "{{ ds }}"
    assert [outlet.uri for outlet in op.outlets] == ["harvest://raw/nowhere"]


def test_stage_operators_init_only_store_arguments() -> None:
    from harvest_airflow.operators import CleanOperator, LoadOperator, ValidateOperator

    validate = ValidateOperator(task_id="validate", source="nowhere", sources_dir="/nope")
    clean = CleanOperator(task_id="clean", source="nowhere", validated_uri="file:///x.parquet")
    load = LoadOperator(task_id="load", source="nowhere", cleaned_uri="file:///y.parquet")
    assert (validate.source, validate.logical_date) == ("nowhere", "{{ ds }}")
    assert clean.validated_uri == "file:///x.parquet"
    assert load.cleaned_uri == "file:///y.parquet"
    assert (load.validate_task_id, load.clean_task_id) == ("validate", "clean")
    assert [outlet.uri for outlet in load.outlets] == ["harvest://processed/nowhere"]
    assert validate.outlets == [] and clean.outlets == []


def test_shared_keys_are_generated_once(tmp_path: Path) -> None:
    first = local.shared_keys(tmp_path)
    assert set(first) == {
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
    }
    assert local.shared_keys(tmp_path) == first
    assert (tmp_path / local.SECRETS_FILE).stat().st_mode & 0o077 == 0


def test_admin_password_file(tmp_path: Path) -> None:
    env = {"AIRFLOW_HOME": str(tmp_path)}
    path, _ = local.ensure_admin_password(env, "known")
    assert json.loads(path.read_text()) == {"admin": "known"}
    assert local.ensure_admin_password(env) == (path, "known")


def test_make_env_carries_the_paths_and_the_shared_keys(tmp_path: Path) -> None:
    base = {"HARVEST_HOME": str(tmp_path / "h"), "PATH": "/usr/bin"}
    lines = dict(line.split("=", 1) for line in local.env_lines(base))
    keys = local.shared_keys(tmp_path / "h" / "airflow")
    assert lines["AIRFLOW_HOME"] == str((tmp_path / "h" / "airflow").resolve())
    assert lines["AIRFLOW_CONFIG"].endswith("airflow.cfg")
    # an airflow command run by hand must use the same keys as the running components
    assert {k: lines[k] for k in keys} == keys
    assert local.env_lines(base) == local.env_lines(base)  # generated once, then reused
