"""Run Airflow on one machine: environment, shared keys, metadata DB, pool and processes.

The local-run library of ``make up``, ``make demo``, ``make env`` and the end-to-end tests, so
they all start Airflow the same way; not an Airflow adapter (those are in
``plugins/harvest_airflow``) and no part of the product (``harvest`` never imports it). Standard
library only: it runs before Airflow is imported. ``python -m harvest_local env`` prints the
``KEY=value`` lines an ``airflow`` command needs to join the local install.
"""

from harvest_local.environment import (
    ADMIN_USER,
    ENV_KEYS,
    PASSWORDS_FILE,
    REPO,
    SECRETS_FILE,
    ensure_admin_password,
    env_lines,
    local_env,
    passwords_file,
    shared_keys,
)
from harvest_local.processes import (
    POOL_MARKER,
    SCRAPING_POOL,
    airflow_cmd,
    ensure_pool,
    free_port,
    migrate_db,
    migrate_db_if_needed,
    pending_runs,
    port_in_use,
    run_airflow,
    start_process,
    stop_process_group,
    tail,
    unreachable,
    wait_for_healthy,
    wait_for_http,
)

__all__ = [
    "ADMIN_USER",
    "ENV_KEYS",
    "PASSWORDS_FILE",
    "POOL_MARKER",
    "REPO",
    "SCRAPING_POOL",
    "SECRETS_FILE",
    "airflow_cmd",
    "ensure_admin_password",
    "ensure_pool",
    "env_lines",
    "free_port",
    "local_env",
    "migrate_db",
    "migrate_db_if_needed",
    "passwords_file",
    "pending_runs",
    "port_in_use",
    "run_airflow",
    "shared_keys",
    "start_process",
    "stop_process_group",
    "tail",
    "unreachable",
    "wait_for_healthy",
    "wait_for_http",
]
