"""The supervisor's logic: SLA, freshness and data-quality checks over run and partition history,
the Airflow REST API client that reads that history, alert transitions, and statsd metrics.

Everything here is plain Python (no Airflow import): ``dags/harvest_supervisor.py`` wires it,
``plugins/harvest_airflow/notifiers.py`` delivers the alerts.
"""

from harvest.monitoring.alerts import Alert, transitions
from harvest.monitoring.history import PartitionResult, RunRecord
from harvest.monitoring.sla import CHECKS, CheckResult, SourceStatus, evaluate_source

__all__ = [
    "CHECKS",
    "Alert",
    "CheckResult",
    "PartitionResult",
    "RunRecord",
    "SourceStatus",
    "evaluate_source",
    "transitions",
]
