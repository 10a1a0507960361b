"""One typed settings object, read from the environment, with embedded defaults.

With nothing set, everything lives under ``HARVEST_HOME`` (default ``./.harvest``): the raw store
is a folder of JSON Lines partitions, the warehouse a SQLite file, MLflow a local SQLite store and
there is no cache; frames handed from one task to the next (validated, cleaned partitions) are
Parquet files under ``staging_url`` (a shared volume or object store in production). Each backend is switched by a URL (``mongodb://``, ``postgresql://``,
``redis://``). In Airflow, the operators pass URLs taken from Airflow Connections instead
(see ``plugins/harvest_airflow/hooks.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harvest.errors import HarvestError
from harvest.text import yes_no

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES_DIR = PACKAGE_DIR / "sources"
DEFAULT_HTTP_CACHE_RETENTION_DAYS = 7
# Where `make venv` vendors the files Data Docs load from CDNs (scripts/vendor_data_docs.py)
DEFAULT_DATA_DOCS_ASSETS = Path(sys.prefix) / "share" / "harvest" / "data-docs-assets"


# 500k records is where the pandas validate stage passes ~0.75 GB (it peaks at 1.5 GB for 1M):
# above it a partition goes to Dask, whose workers hold one 100k-row part at a time
DEFAULT_DASK_THRESHOLD_ROWS = 500_000
LOG_FORMATS = ("text", "json")  # HARVEST_LOG_FORMAT; the first is the default


def spec_files(sources_dir: Path | str) -> Iterable[Path]:
    """The spec files of a sources folder (``*.yaml``, ``*.yml``), sorted; no model imported."""
    return sorted(Path(sources_dir).glob("*.y*ml"))


@dataclass(frozen=True)
class Settings:
    """Where Harvest keeps its data and which services it talks to."""

    home: Path
    sources_dir: Path
    raw_store_url: str
    warehouse_url: str
    cache_url: str | None
    staging_url: str
    mlflow_tracking_uri: str
    statsd_host: str = "localhost"
    statsd_port: int = 8125
    statsd_prefix: str = "harvest"
    statsd_on: bool = True
    supervisor_interval_minutes: int = 5
    deadline_alerts: bool = False  # Airflow Deadline Alerts on the source DAGs (experimental)
    user_agent: str = "HarvestBot/0.1 (+https://github.com/harvest-platform/harvest)"
    http_cache_retention_days: int = DEFAULT_HTTP_CACHE_RETENTION_DAYS
    # a re-run of a partition whose every page is in its HTTP cache is replayed from the cache
    # without starting Scrapy's engine (harvest.crawler.replay); False: always crawled by Scrapy
    replay_cache: bool = True
    shared_filesystem: bool = False
    # The CSS/JS Data Docs load from CDNs, vendored at install time (scripts/vendor_data_docs.py)
    data_docs_assets: Path | None = None
    # Where users open the Harvest app (make app) and the Airflow UI: the links between them
    app_url: str = "http://127.0.0.1:8501"
    airflow_url: str = "http://127.0.0.1:8080"
    # Partitions of more records than this are validated and loaded on Dask (0: never); the
    # scheduler of a Dask cluster (tcp://host:8786), else a LocalCluster in the worker
    dask_threshold_rows: int = DEFAULT_DASK_THRESHOLD_ROWS
    dask_scheduler: str | None = None
    dask_part_rows: int = 100_000  # records of one Dask partition: what one task holds
    # memory of each worker of the LocalCluster (Dask's sizes: "1.5GiB", "2GB"; it spills to disk
    # past 60-70%, pauses at 80% and is restarted at 95%); a cluster's workers set their own
    dask_worker_memory: str = "1.5GiB"
    # The profiling report of each cleaned partition (harvest.cleaning.profile): its bounds.
    # profile_max_rows = 0 turns it off.
    profile_max_rows: int = 5_000  # rows profiled: a uniform sample (fixed seed) above this
    profile_max_columns: int = 60  # columns profiled: the first ones in the frame's order
    profile_seconds: float = 120.0  # wall-clock budget; over it the report is left out (a warning)
    profile_plots: bool = True  # each column's distribution plot (most of the report's cost)
    # Component logs (harvest.logjson): "text" as always, or "json" lines for Logstash; where
    # the crawl child appends its JSON lines (None: home/logs)
    log_format: str = "text"
    log_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``HARVEST_*`` variables, falling back to the embedded defaults."""
        env = os.environ if env is None else env
        home = Path(env.get("HARVEST_HOME", ".harvest")).expanduser().resolve()
        return cls(
            home=home,
            sources_dir=Path(env.get("HARVEST_SOURCES_DIR", str(DEFAULT_SOURCES_DIR))),
            raw_store_url=env.get("HARVEST_RAW_STORE_URL") or f"file://{home / 'raw'}",
            warehouse_url=env.get("HARVEST_WAREHOUSE_URL") or f"sqlite:///{home / 'warehouse.db'}",
            cache_url=env.get("HARVEST_CACHE_URL") or None,
            staging_url=env.get("HARVEST_STAGING_URL") or f"file://{home / 'staging'}",
            mlflow_tracking_uri=env.get("HARVEST_MLFLOW_TRACKING_URI")
            or f"sqlite:///{home / 'mlflow.db'}",
            statsd_host=env.get("HARVEST_STATSD_HOST", "localhost"),
            statsd_port=int(env.get("HARVEST_STATSD_PORT", "8125")),
            statsd_prefix=env.get("HARVEST_STATSD_PREFIX", "harvest"),
            statsd_on=yes_no(env.get("HARVEST_STATSD_ON")) is not False,
            supervisor_interval_minutes=int(env.get("HARVEST_SUPERVISOR_INTERVAL_MINUTES", "5")),
            deadline_alerts=yes_no(env.get("HARVEST_DEADLINE_ALERTS")) is True,
            user_agent=env.get("HARVEST_USER_AGENT", cls.user_agent),
            http_cache_retention_days=_positive_int(
                env, "HARVEST_HTTPCACHE_RETENTION_DAYS", DEFAULT_HTTP_CACHE_RETENTION_DAYS
            ),
            replay_cache=yes_no(env.get("HARVEST_REPLAY_CACHE")) is not False,
            shared_filesystem=yes_no(env.get("HARVEST_SHARED_FILESYSTEM")) is True,
            data_docs_assets=Path(env["HARVEST_DATA_DOCS_ASSETS"])
            if env.get("HARVEST_DATA_DOCS_ASSETS")
            else DEFAULT_DATA_DOCS_ASSETS,
            app_url=(env.get("HARVEST_APP_URL") or cls.app_url).rstrip("/"),
            airflow_url=(env.get("HARVEST_AIRFLOW_URL") or cls.airflow_url).rstrip("/"),
            dask_threshold_rows=_whole_number(
                env, "HARVEST_DASK_THRESHOLD_ROWS", DEFAULT_DASK_THRESHOLD_ROWS
            ),
            dask_scheduler=env.get("HARVEST_DASK_SCHEDULER") or None,
            dask_part_rows=_positive_int(env, "HARVEST_DASK_PART_ROWS", cls.dask_part_rows),
            dask_worker_memory=env.get("HARVEST_DASK_WORKER_MEMORY") or cls.dask_worker_memory,
            profile_max_rows=_whole_number(env, "HARVEST_PROFILE_MAX_ROWS", cls.profile_max_rows),
            profile_max_columns=_positive_int(
                env, "HARVEST_PROFILE_MAX_COLUMNS", cls.profile_max_columns
            ),
            profile_seconds=float(env.get("HARVEST_PROFILE_SECONDS") or cls.profile_seconds),
            profile_plots=yes_no(env.get("HARVEST_PROFILE_PLOTS")) is not False,
            log_format=_one_of(env, "HARVEST_LOG_FORMAT", LOG_FORMATS),
            log_dir=Path(env["HARVEST_LOG_DIR"]).expanduser()
            if env.get("HARVEST_LOG_DIR")
            else None,
        )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def json_log_dir(self) -> Path:
        """Where a process without a stdout of its own (the crawl child) writes JSON log lines."""
        return self.log_dir or self.home / "logs"

    @property
    def http_cache_dir(self) -> Path:
        """The on-disk HTTP cache, used when no Redis cache is configured."""
        return self.home / "httpcache"


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected a whole number of at least 1")
    return value


def _one_of(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The variable's value in lower case, ``choices[0]`` when unset; ValueError otherwise."""
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name}={raw!r}: expected a whole number (0 or more)")
    return int(raw)


# Executors that run every task on the scheduler's machine; any other (CeleryExecutor,
# KubernetesExecutor, EdgeExecutor, AWS ECS...) may run a task's next step on another machine.
SINGLE_HOST_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})

# Local-file settings: (field, variable, Airflow connection or None, what to set instead)
_SHARED_STORES = (
    ("raw_store_url", "HARVEST_RAW_STORE_URL", "harvest_raw_store", "mongodb://host:27017/harvest"),
    (
        "staging_url",
        "HARVEST_STAGING_URL",
        None,
        "an object store every worker reaches, e.g. s3://bucket/harvest/staging (any fsspec URL)",
    ),
    (
        "warehouse_url",
        "HARVEST_WAREHOUSE_URL",
        "harvest_warehouse",
        "postgresql://user:password@host:5432/harvest",
    ),
    ("mlflow_tracking_uri", "HARVEST_MLFLOW_TRACKING_URI", None, "http://mlflow-server:5000"),
)


class StorageNotShared(HarvestError, ValueError):
    """A multi-machine executor with a store that lives in one machine's local files."""

    retryable = False


def distributed_executors(executor_setting: str) -> list[str]:
    """The executors of Airflow's ``[core] executor`` (``"CeleryExecutor"``, a comma list,
    ``alias:module.Class``) that may run tasks on other machines."""
    names = [part.strip().split(":")[-1].rsplit(".", 1)[-1] for part in executor_setting.split(",")]
    return [name for name in names if name and name not in SINGLE_HOST_EXECUTORS]


def is_local_file_url(url: str) -> bool:
    """``file://``, ``sqlite://`` or a plain path: only this machine sees it."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme in ("", "file", "sqlite") or scheme.startswith("sqlite+")


def check_shared_storage(settings: Settings, executor_setting: str) -> None:
    """Refuse local files as stores when tasks may run on several machines.

    A source's scrape, validate, clean and load may each run on a different worker: what one
    writes the next must read, so the raw store, staging, warehouse and MLflow store must be
    shared. With ``settings.shared_filesystem`` (``HARVEST_SHARED_FILESYSTEM=true``: every worker
    on one machine, or one network volume mounted at the same path everywhere) local files pass.

    :param executor_setting: Airflow's ``[core] executor`` value.
    :raises StorageNotShared: naming each local setting, its value and what to set instead.
    """
    executors = distributed_executors(executor_setting)
    if not executors or settings.shared_filesystem:
        return
    problems = []
    for name, variable, conn_id, instead in _SHARED_STORES:
        url = getattr(settings, name)
        if is_local_file_url(url):
            via = f" (or the Airflow connection {conn_id})" if conn_id else ""
            problems.append(f"{variable}={url} is a local file: set {variable}{via} to {instead}")
    if problems:
        raise StorageNotShared(
            f"[core] executor = {executor_setting} runs tasks on several workers, and a task "
            "reads what the task before wrote, maybe on another machine: "
            + "; ".join(problems)
            + ". If every worker shares this file system (one machine, or one network volume "
            "mounted at the same path on every worker), set HARVEST_SHARED_FILESYSTEM=true."
        )
