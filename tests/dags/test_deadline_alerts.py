"""Airflow Deadline Alerts on the source DAGs, behind ``HARVEST_DEADLINE_ALERTS``: off by
default; on, each source DAG carries one alert at its spec's ``sla.max_duration_minutes`` from
when the run was queued, serialised as the DAG processor does, whose callback alerts through
Harvest's notifier (log and a Slack webhook served locally); and ``dag.test()`` of such a DAG
runs without it (Airflow 3.3's ``dag.test()`` crashes on a DAG with ``deadline=``, reading the
``deadline_alert`` table with a dict for its id: apache/airflow#73428)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from harvest.config import load_spec
from tests.dags.test_harvest_supervisor import Webhook, webhook  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "dags" / "harvest_sources.py"


def source_dags(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    if setting is None:
        monkeypatch.delenv("HARVEST_DEADLINE_ALERTS", raising=False)
    else:
        monkeypatch.setenv("HARVEST_DEADLINE_ALERTS", setting)
    bag = DagBag(str(SOURCES))
    assert bag.import_errors == {}
    return bag.dags


def test_deadline_alerts_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    dags = source_dags(monkeypatch, None)
    assert dags and all(not dag.deadline for dag in dags.values())
    assert not source_dags(monkeypatch, "false")["harvest_demo"].deadline


def test_on_every_source_dag_has_its_max_duration_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference
    from airflow.serialization.serialized_objects import DagSerialization

    dags = source_dags(monkeypatch, "true")
    sources = [p for p in (REPO / "include/harvest/sources").glob("*.yaml")]
    assert sources
    for path in sources:
        spec = load_spec(path)
        dag = dags[spec.dag_id]
        assert len(dag.deadline) == 1, dag.deadline
        alert = dag.deadline[0]
        assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
        assert alert.interval == dt.timedelta(minutes=spec.sla.max_duration_minutes)
        assert isinstance(alert.callback, AsyncCallback)
        assert alert.callback.path == "harvest_airflow.notifiers.deadline_missed"
        assert alert.callback.kwargs == {
            "source": spec.name,
            "max_duration_minutes": spec.sla.max_duration_minutes,
        }
        serialized = DagSerialization.serialize_dag(dag)["deadline"]  # the DAG processor's step
        assert serialized[0]["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
        assert serialized[0]["name"] == f"{spec.dag_id}_max_duration"


def test_the_callback_alerts_through_harvests_notifier(
    webhook: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from harvest_airflow.notifiers import deadline_missed

    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_SLACK", webhook)
    monkeypatch.delenv("AIRFLOW_CONN_HARVEST_SMTP", raising=False)
    # the simple context Airflow 3.3's scheduler hands a triggerer callback
    context = {
        "dag_run": {"dag_id": "harvest_demo", "run_id": "scheduled__2026-03-14T02:00:00+00:00"},
        "deadline": {"id": "0192", "deadline_time": "2026-03-15T02:30:00+00:00"},
    }
    delivered = asyncio.run(deadline_missed("demo", 30, context=context))
    assert delivered == ["log", "slack"]
    text = Webhook.received[0]["text"]
    assert text.startswith("Source demo: run scheduled__2026-03-14T02:00:00+00:00 of harvest_demo")
    assert "30 min after it was queued" in text and "2026-03-15T02:30:00+00:00" in text
    assert text in caplog.text


@pytest.mark.airflow
def test_dag_test_runs_a_dag_built_with_deadline_alerts_without_them(
    airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ``dag.test()`` (tasks marked successful, not run: the deadline's crash is in
    creating the run) of ``harvest_demo`` built with the setting on."""
    dag = source_dags(monkeypatch, "true")["harvest_demo"]
    assert dag.deadline
    run = dag.test(logical_date=dt.datetime(2026, 3, 14, tzinfo=dt.UTC), mark_success_pattern=".*")
    assert str(run.state) == "success"
    assert not dag.deadline
