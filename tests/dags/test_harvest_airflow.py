"""The Airflow adapters without a scheduler: the hook's connection URIs and settings, the
operators' arguments and the local runtime helpers (``include/harvest_local``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harvest_local as local
from harvest.config import Settings
from harvest_airflow.hooks import HarvestHook


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://u:p%40x@h:27017/harvest?authSource=admin",
        "redis://h:6379/0",
        "postgresql://u:p@h:5432/wh",  # Airflow stores it as postgres://
        "postgresql://u:p%40x@h:5432/wh?sslmode=require",  # extras become the query again
        "file:///tmp/raw",  # Airflow percent-encodes the path
        "sqlite:////tmp/x.db",
    ],
)
def test_connection_uri_round_trip(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A URI given as a Connection comes back as the client needs it (PostgreSQL through the
    postgres provider's hook, the psycopg2 driver the warehouse's COPY uses)."""
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_TEST", uri)
    assert HarvestHook().connection_uri("harvest_test") == uri
    assert HarvestHook().connection_uri("harvest_not_defined") is None


def test_a_login_connection_is_handed_to_the_crawl_as_airflows_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spec's login.conn_id, read by the scrape task, reaches the crawl process in the form
    harvest.config.credentials reads (JSON, the password as it is)."""
    from harvest.config.credentials import credentials
    from harvest.config.spec import LoginSpec

    monkeypatch.setenv("AIRFLOW_CONN_SHOP_LOGIN", "http://ada:p%40ss%20word@shop.example")
    env = HarvestHook().login_env(LoginSpec(url="/login", conn_id="shop_login"))
    assert list(env) == ["AIRFLOW_CONN_SHOP_LOGIN"] and env["AIRFLOW_CONN_SHOP_LOGIN"].startswith(
        "{"
    )
    got = credentials(LoginSpec(url="/login", conn_id="shop_login"), "shop", env)
    assert (got.username, got.password) == ("ada", "p@ss word")
    assert HarvestHook().login_env(LoginSpec(url="/login", conn_id="not_defined")) == {}
    assert HarvestHook().login_env(None) == {}


def test_connections_override_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_CACHE", "redis://cache:6379/3")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", "postgresql://u:secret@db:5432/harvest")
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_RAW_STORE", raising=False)
    settings = HarvestHook().get_conn()
    assert settings.cache_url == "redis://cache:6379/3"
    assert settings.warehouse_url == "postgresql://u:secret@db:5432/harvest"
    assert settings.raw_store_url == Settings.from_env().raw_store_url  # no connection: env


def test_hook_takes_other_connection_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_WAREHOUSE", "sqlite:////data/other.db")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", "postgresql://u:p@db/harvest")
    hook = HarvestHook(warehouse_conn_id="other_warehouse", cache_conn_id="no_cache")
    assert (HarvestHook.conn_name_attr, HarvestHook.default_conn_name) == (
        "warehouse_conn_id",
        "harvest_warehouse",
    )
    settings = hook.get_conn()
    assert settings.warehouse_url == "sqlite:////data/other.db"
    assert settings.cache_url == Settings.from_env().cache_url


def test_a_multi_worker_executor_refuses_local_file_stores(
    harvest_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CeleryExecutor a task may read what another machine wrote: the embedded file
    stores fail the task (no retry) naming each setting and what to set instead."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(AirflowFailException) as caught:
        HarvestHook().get_conn()
    message = str(caught.value)
    assert "[core] executor = CeleryExecutor runs tasks on several workers" in message
    for setting, instead in (
        ("HARVEST_RAW_STORE_URL", "mongodb://"),
        ("HARVEST_STAGING_URL", "s3://"),
        ("HARVEST_WAREHOUSE_URL", "postgresql://"),
        ("HARVEST_MLFLOW_TRACKING_URI", "http://"),
    ):
        assert f"{setting}=" in message and instead in message, (setting, message)
    assert str(harvest_env / "raw") in message
    assert "HARVEST_SHARED_FILESYSTEM=true" in message

    monkeypatch.setenv("HARVEST_SHARED_FILESYSTEM", "true")  # one machine, one volume
    assert HarvestHook().get_conn().shared_filesystem is True


def test_shared_stores_pass_with_a_multi_worker_executor(
    harvest_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "KubernetesExecutor")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_RAW_STORE", "mongodb://mongo:27017/harvest")
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", "postgresql://u:p@db:5432/harvest")
    monkeypatch.setenv("HARVEST_STAGING_URL", "s3://bucket/harvest/staging")
    monkeypatch.setenv("HARVEST_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = HarvestHook().get_conn()
    assert settings.raw_store_url == "mongodb://mongo:27017/harvest"
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_WAREHOUSE")
    with pytest.raises(Exception, match=r"HARVEST_WAREHOUSE_URL=sqlite:///.*harvest_warehouse"):
        HarvestHook().get_conn()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")  # one machine: files are fine
    assert HarvestHook().get_conn().warehouse_url.startswith("sqlite:///")


def test_scrape_operator_init_only_stores_arguments() -> None:
    from harvest_airflow.operators import ScrapeOperator

    op = ScrapeOperator(task_id="scrape", source="nowhere", sources_dir="/does/not/exist")
    assert op.source == "nowhere"
    assert op.logical_date is None  # the run's own partition (tests/dags/test_run_partitions.py)
    assert (op.warehouse_conn_id, op.raw_store_conn_id, op.cache_conn_id) == (
        "harvest_warehouse",
        "harvest_raw_store",
        "harvest_cache",
    )
    assert [outlet.uri for outlet in op.outlets] == ["x-harvest://raw/nowhere"]
    # templated fields are stored as given, rendered only at run time
    templated = ScrapeOperator(task_id="s", source="x", logical_date="{{ ds }}")
    assert templated.logical_date == "{{ ds }}"
    assert "source" not in ScrapeOperator.template_fields  # it names the outlet Asset


def test_stage_operators_init_only_store_arguments() -> None:
    from harvest_airflow.operators import CleanOperator, LoadOperator, ValidateOperator

    validate = ValidateOperator(task_id="validate", source="nowhere", sources_dir="/nope")
    validation = {"validated_uri": "file:///x.parquet"}
    cleaning = {"cleaned_uri": "file:///y.parquet"}
    clean = CleanOperator(task_id="clean", source="nowhere", validation=validation)
    load = LoadOperator(task_id="load", source="nowhere", validation=validation, cleaning=cleaning)
    assert (validate.source, validate.logical_date) == ("nowhere", None)
    assert clean.validation is validation
    assert (load.validation, load.cleaning) == (validation, cleaning)
    assert [outlet.uri for outlet in load.outlets] == ["x-harvest://processed/nowhere"]
    assert validate.outlets == [] and clean.outlets == []
    assert {"logical_date", "validation"} <= set(clean.template_fields)
    assert {"logical_date", "validation", "cleaning"} <= set(load.template_fields)


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


def test_the_local_run_library_finds_the_checkout_and_runs_as_a_module(tmp_path: Path) -> None:
    """harvest_local lives in include/: REPO is the checkout (airflow.cfg, dags, plugins), and
    `python -m harvest_local env` (what `make env` runs) prints the same lines as env_lines."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    assert repo == local.REPO
    assert (local.REPO / "airflow.cfg").is_file() and (local.REPO / "dags").is_dir()
    base = {"HARVEST_HOME": str(tmp_path / "h"), "PATH": "/usr/bin"}
    lines = dict(line.split("=", 1) for line in local.env_lines(base))
    assert lines["HARVEST_REPO"] == str(repo)
    assert lines["AIRFLOW_CONFIG"] == str(repo / "airflow.cfg")
    assert lines["PYTHONPATH"].split(":")[:2] == [str(repo / "include"), str(repo / "plugins")]
    run = subprocess.run(
        [sys.executable, "-m", "harvest_local", "env"],
        env={**base, "PYTHONPATH": str(repo / "include")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert run.stdout.splitlines() == local.env_lines(base)
    wrong = subprocess.run(
        [sys.executable, "-m", "harvest_local", "nope"],
        env={**base, "PYTHONPATH": str(repo / "include")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode != 0 and "usage: python -m harvest_local env" in wrong.stderr


def test_the_plugin_links_the_airflow_ui_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The menu entry and each DAG's link are external views Airflow's API accepts, pointing
    at HARVEST_APP_URL; the app reads ``dag_id`` to choose that DAG's source."""
    import importlib

    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    monkeypatch.setenv("HARVEST_APP_URL", "https://harvest.example.org/")
    import harvest_plugin

    plugin = importlib.reload(harvest_plugin).HarvestPlugin
    views = {
        v["destination"]: ExternalViewResponse.model_validate(v) for v in plugin.external_views
    }
    assert views["nav"].href == "https://harvest.example.org"
    assert views["dag"].href == "https://harvest.example.org/?dag_id={DAG_ID}"
    # each run opens its partition (the app's page partition.py, url path "partition")
    assert views["dag_run"].href == (
        "https://harvest.example.org/partition?dag_id={DAG_ID}&run_id={RUN_ID}"
    )
