"""The supervisor task's Airflow side: the REST API credentials from a Connection, the alert
state in a Variable, alerts through :class:`HarvestAlertNotifier`. The checks themselves are
``harvest.monitoring.supervise``.

Connection ``harvest_airflow_api``: ``http://user:password@host:8080`` (the api-server's base
URL with a user allowed to read DAG runs; its JWT comes from ``/auth/token``). Without it,
``http://localhost:8080`` with the ``admin`` password that ``airflow standalone`` generated
(the simple auth manager's passwords file), for ``make up``.

Variable ``harvest_supervisor_state``: the misses already alerted (JSON, see
``harvest.monitoring.alerts``); delete it to alert every open miss again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from harvest.config import Settings
from harvest.config.spec import SourceSpec, load_specs
from harvest.monitoring.airflow_api import AirflowApi
from harvest.monitoring.metrics import client_for
from harvest.monitoring.model_trend import (
    TrainingError,
    TrainingHistory,
    TrainingHistoryUnavailable,
)
from harvest.monitoring.supervise import SupervisorRun, supervise, warehouse_partitions
from harvest.storage.warehouse import WarehouseError, open_warehouse
from harvest_airflow.errors import translate_errors
from harvest_airflow.hooks import HarvestHook
from harvest_airflow.notifiers import HarvestAlertNotifier
from harvest_airflow.training import MLFLOW_CONN_ID

log = logging.getLogger(__name__)

API_CONN_ID = "harvest_airflow_api"
STATE_VARIABLE = "harvest_supervisor_state"
DEFAULT_API_URL = "http://localhost:8080"
LOCAL_ADMIN = "admin"  # the admin `make up` creates with the simple auth manager


def api_from_connection(conn_id: str = API_CONN_ID) -> AirflowApi:
    """An API client from the Connection's URI (user and password in it), else the local
    standalone's URL and generated admin password."""
    uri = HarvestHook().connection_uri(conn_id)
    if uri is None:
        from airflow.configuration import conf

        log.info("no connection %s: using %s as %s", conn_id, DEFAULT_API_URL, LOCAL_ADMIN)
        try:
            path = conf.get("core", "simple_auth_manager_passwords_file")
            passwords = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, KeyError, ValueError) as exc:
            log.error("no connection %s and no local admin password (%s)", conn_id, exc)
            passwords = {}
        # without a password the API client fails, and the supervisor reports it as its error
        return AirflowApi(DEFAULT_API_URL, LOCAL_ADMIN, passwords.get(LOCAL_ADMIN))
    parts = urlsplit(uri)
    netloc = parts.hostname or "localhost"
    if parts.port:
        netloc += f":{parts.port}"
    scheme = "https" if parts.scheme == "https" else "http"
    base = urlunsplit((scheme, netloc, parts.path, "", ""))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return AirflowApi(base, user, password)


def mlflow_trainings(tracking_uri: str) -> TrainingHistory:
    """The supervisor's view of each source's trainings, read from the MLflow tracking store
    (never the Airflow metadata database): the champion's holdout error per training."""
    from harvest.training.history import champion_errors
    from harvest.training.tracking import TrackingUnavailable

    def read(spec: SourceSpec, last: int) -> list[TrainingError]:
        try:
            rows = champion_errors(tracking_uri, spec.name, last)
        except TrackingUnavailable as exc:
            raise TrainingHistoryUnavailable(str(exc)) from exc
        return [TrainingError(run_id, rmse, promoted) for run_id, rmse, promoted in rows]

    return read


def read_state() -> dict[str, dict[str, str]]:
    from airflow.sdk import Variable

    state: dict[str, dict[str, str]] = Variable.get(
        STATE_VARIABLE, default={}, deserialize_json=True
    )
    return state


def write_state(state: dict[str, dict[str, str]]) -> None:
    from airflow.sdk import Variable

    Variable.set(STATE_VARIABLE, state, serialize_json=True)


def pending_repairs(home: Any) -> Callable[[str], str | None]:
    """A source's pending repair proposal in one line (``None``: none), for its alerts."""
    from harvest.learning.proposals import pending_proposal

    def line(source: str) -> str | None:
        proposal = pending_proposal(home, source)
        return proposal.line() if proposal is not None else None

    return line


@translate_errors
def run_supervisor(
    context: Any,
    now: dt.datetime | None = None,
    *,
    api: AirflowApi | None = None,
    state_store: tuple[Callable[[], Any], Callable[[Any], None]] = (read_state, write_state),
) -> dict[str, Any]:
    """One supervisor run inside a task: evaluate, send metrics, notify each alert once, keep
    the state. Returns a summary for XCom; raises ``RuntimeError`` (after metrics, log and
    state) when Airflow's API or the warehouse could not be read, so the run shows as failed."""
    settings = HarvestHook(base=Settings.from_env()).get_conn()
    specs = load_specs(settings.sources_dir)
    for path, error in specs.errors.items():
        log.warning("spec %s not supervised: %s", path, error)
    tracking_uri = HarvestHook().connection_uri(MLFLOW_CONN_ID) or settings.mlflow_tracking_uri
    get_state, set_state = state_store
    warehouse = open_warehouse(settings)
    try:  # a fresh warehouse has no tables yet; reading it then is an error per source
        warehouse.migrate(specs.specs.values())
    except WarehouseError as exc:
        log.error("warehouse not migrated (%s): %s", warehouse.where, exc)
    client = api or api_from_connection()
    try:
        result: SupervisorRun = supervise(
            list(specs.specs.values()),
            client,
            warehouse_partitions(warehouse),
            get_state(),
            now or dt.datetime.now(dt.UTC),
            client_for(settings),
            trainings=mlflow_trainings(tracking_uri),
            repairs=pending_repairs(settings.home),
        )
    finally:
        client.close()
        warehouse.close()
    for alert in result.alerts:
        HarvestAlertNotifier(message=alert.text, subject=alert.text[:120]).notify(context)
    set_state(result.state)
    for status in result.statuses:
        missed = ", ".join(check.check for check in status.missed) or "none"
        log.info("source %s: missed %s", status.source, missed)
    summary = {
        "sources": len(result.statuses),
        "missed": {s.source: [c.check for c in s.missed] for s in result.statuses if s.missed},
        "alerts": [alert.text for alert in result.alerts],
        "errors": result.errors,
        "seconds": round(result.duration_seconds, 3),
    }
    if not result.ok:
        raise RuntimeError(f"supervisor could not read everything: {json.dumps(result.errors)}")
    return summary
