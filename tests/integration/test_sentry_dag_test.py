"""Airflow's Sentry integration as compose configures it (``[sentry] sentry_on`` always, the DSN
from the environment), in a real ``dag.test()`` run of a task made to fail.

With a DSN the failure reaches the Sentry endpoint this test serves (exception type, DAG, task
and the Harvest version tag of ``harvest_airflow.sentry_tags``); with an empty DSN, as
``deploy/env.example`` ships, nothing is sent and the run fails as it would without Sentry.
Each run is its own process: Airflow chooses its Sentry implementation when it is imported.
The source tag of a Harvest task is checked on a real scrape in tests/e2e/test_production_e2e.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.sentry_receiver import SentryReceiver, event_tags
from tests.unit.test_deploy_compose import python_report

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

PROBE_DAG = """
import datetime as dt
from airflow.sdk import DAG, task

with DAG("harvest_sentry_probe", start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), schedule=None):

    @task(retries=0)
    def explode():
        raise ValueError("probe failure for Sentry")

    explode()
"""

RUN = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags["harvest_sentry_probe"].test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("REPORT " + json.dumps({"run": str(run.state), "tasks": states}))
"""


def run_probe(tmp_path: Path, airflow_home: str, dsn: str) -> dict[str, Any]:
    dag_file = tmp_path / "probe_dag.py"
    dag_file.write_text(PROBE_DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__SENTRY", "SENTRY"))}
    env.update(
        AIRFLOW_HOME=airflow_home,
        # dag.test() serializes DAGs of the dags-folder bundle: make the probe's folder that.
        AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path),
        AIRFLOW__SENTRY__SENTRY_ON="True",
        AIRFLOW__SENTRY__SENTRY_DSN=dsn,
        AIRFLOW__SENTRY__RELEASE="harvest@probe",
    )
    return python_report(RUN, [str(dag_file)], env)


def test_a_failed_task_sends_one_event(tmp_path: Path, airflow_db: str) -> None:
    with SentryReceiver() as sentry:
        report = run_probe(tmp_path, airflow_db, sentry.dsn)
        event = sentry.wait_for_event(30, dag_id="harvest_sentry_probe", task_id="explode")
    assert report == {"run": "failed", "tasks": {"explode": "failed"}}
    assert event is not None, f"no event ({sentry.requests} requests, {sentry.errors})"
    exception = event["exception"]["values"][-1]
    assert (exception["type"], exception["value"]) == ("ValueError", "probe failure for Sentry")
    tags = event_tags(event)
    assert tags["harvest_version"] == "0.1.0" and "source" not in tags
    assert event["release"] == "harvest@probe"


def test_without_a_dsn_nothing_is_sent_and_the_run_fails_as_usual(
    tmp_path: Path, airflow_db: str
) -> None:
    with SentryReceiver() as sentry:
        report = run_probe(tmp_path, airflow_db, "")
    assert report == {"run": "failed", "tasks": {"explode": "failed"}}
    assert sentry.requests == 0
