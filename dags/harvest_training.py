"""One training DAG per source with a ``target``: ``harvest_train_<source>``.

Data-aware: each runs when the source's load emits its processed-data Asset
(``x-harvest://processed/<source>``), not on a clock. Wiring only; the work is in
``harvest_airflow.training`` and ``harvest.training``, imported inside the tasks; the specs'
facts come from ``harvest_airflow.dag_specs`` (cached between parses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG

# From its module, not ``airflow.sdk`` (which loads it lazily): the DAG processor imports the
# ``airflow.*`` modules a DAG file names before it forks the parse process
# (``[dag_processor] parsing_pre_import_modules``), so the TaskFlow decorators (about 10 ms:
# ``airflow.providers.standard``'s PythonOperator, ``packaging``) are no longer imported by each
# parse of this file
from airflow.sdk.definitions.decorators import task

from harvest.config import Settings
from harvest_airflow.assets import processed_asset
from harvest_airflow.dag_specs import DagSpec, dag_specs

DEFAULT_ARGS = {
    "retries": 2,
    # retry_delay: Airflow's [core] default_task_retry_delay (airflow.cfg: 2 minutes).
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "execution_timeout": dt.timedelta(hours=2),
}


def _doc_md(spec: DagSpec) -> str:
    return (
        f"### Training of source `{spec.name}` (target `{spec.target}`)\n\n"
        f"Runs when `x-harvest://processed/{spec.name}` gets a new partition.\n\n"
        "1. **plan**: the latest processed date (names the Optuna studies) and the number of "
        "tuning workers (several on PostgreSQL, one on SQLite). Skips when nothing is loaded.\n"
        "2. **tune** (mapped): each worker runs its share of the LightGBM, XGBoost and (with the "
        "`dl` extra) Keras network studies.\n"
        "3. **train**: fit the best candidate, log it to MLflow with SHAP plots, register it and "
        f"move `harvest_{spec.name}@champion` only if it beats the naive baseline and the "
        "champion on the same holdout rows (paired bootstrap interval of the RMSE difference "
        "below zero). Too few rows skip; a constant or missing target, a window too small to "
        "measure fails without retries.\n"
        f"4. **score**: the champion scores the latest partition into `predictions_{spec.name}`."
    )


def build_training_dag(spec: DagSpec) -> DAG:
    """plan >> tune (mapped) >> train >> score for one source."""
    with DAG(
        dag_id=f"harvest_train_{spec.name}",
        description=f"Train, register and score a model of {spec.name}.{spec.target}",
        schedule=[processed_asset(spec.name)],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "owner": spec.owner},
        tags={"harvest", "training", *spec.tags},
        doc_md=_doc_md(spec),
    ) as dag:
        source = spec.name

        @task
        def plan() -> dict[str, Any]:
            """Latest processed date and tuning workers."""
            from harvest_airflow.training import plan_training

            return plan_training(source)

        @task
        def workers(planned: dict[str, Any]) -> list[int]:
            """The worker indices to map the tuning over."""
            return list(planned["workers"])

        @task
        def tune(worker: int, planned: dict[str, Any]) -> dict[str, Any]:
            """This worker's share of the Optuna studies."""
            from harvest_airflow.training import tune_worker

            return tune_worker(source, planned["until"], worker)

        @task
        def train(planned: dict[str, Any], _tuned: Any) -> dict[str, Any]:
            """Fit, track, register, promote when better."""
            from harvest_airflow.training import train as train_model

            return train_model(source, planned["until"])

        @task
        def score(planned: dict[str, Any], _trained: dict[str, Any]) -> dict[str, Any]:
            """Score the latest partition with the champion."""
            from harvest_airflow.training import score as score_partition

            return score_partition(source, planned["until"])

        # TaskFlow hands XComArgs to the calls below; Airflow resolves them to the typed values
        planned: Any = plan()
        tuned: Any = tune.partial(planned=planned).expand(worker=workers(planned))
        trained: Any = train(planned, tuned)
        score(planned, trained)
    return dag


globals().update(
    {
        f"harvest_train_{spec.name}": build_training_dag(spec)
        for spec in dag_specs(Settings.from_env()).specs.values()
        if spec.target
    }
)
