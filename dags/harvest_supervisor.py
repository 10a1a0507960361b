"""``harvest_supervisor`` checks every source DAG against its spec's SLA every few minutes.

For each `harvest_<source>` DAG it reads the run history through Airflow's REST API v2
(Connection `harvest_airflow_api`; never the metadata database) and the partition results from
the warehouse, and checks: finish-by time, maximum run duration (a run still going counts),
data freshness, consecutive failures, validation pass rate, quarantine rate, field coverage,
the correct-data warnings, and whether each champion's holdout error trends up over its newest
trainings (read from MLflow; Mann-Kendall test). The results go to statsd as
`harvest.sla.<check>.<source>` and friends (see `deploy/statsd/statsd-mappings.yml`); each miss is notified once (the log, plus
Slack / e-mail when the Connections `harvest_slack` / `harvest_smtp` exist), and once more when
it clears. The alerted misses are kept in the Variable `harvest_supervisor_state`.

Interval: `HARVEST_SUPERVISOR_INTERVAL_MINUTES` (default 5). When Airflow's API or the
warehouse cannot be read, `harvest.supervisor.up` goes to 0 and the run fails with the reason.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, get_current_context

# From its module: the DAG processor pre-imports it before forking the parse (see harvest_training.py)
from airflow.sdk.definitions.decorators import task

from harvest.config import Settings

INTERVAL = dt.timedelta(minutes=Settings.from_env().supervisor_interval_minutes)


@dag(
    dag_id="harvest_supervisor",
    schedule=INTERVAL,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["harvest", "supervisor"],
    doc_md=__doc__,
    default_args={
        "owner": "harvest",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": INTERVAL,
        "execution_timeout": INTERVAL,
    },
)
def harvest_supervisor() -> None:
    @task
    def supervise() -> dict[str, object]:
        """Evaluate every source, push metrics, notify misses and recoveries once."""
        from harvest_airflow.supervisor import run_supervisor

        return run_supervisor(get_current_context())

    supervise()


harvest_supervisor()
