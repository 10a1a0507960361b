"""Airflow's ``[core] hostname_callable`` for the Celery end-to-end test's workers.

A task instance's ``hostname`` is what this callable returns on the worker that ran it; two
workers on one machine would both report the machine's name, so each worker of the test gets its
own (``HARVEST_E2E_WORKER_HOSTNAME``), as two containers or machines would have.
"""

from __future__ import annotations

import os


def hostname() -> str:
    """The worker's name given by the test (``HARVEST_E2E_WORKER_HOSTNAME``)."""
    return os.environ["HARVEST_E2E_WORKER_HOSTNAME"]
