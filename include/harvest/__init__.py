"""Harvest: web sources into trained, explained and monitored models, every night.

Plain Python with no Airflow import: every stage is a function a test, a notebook or the CLI
(``python -m harvest``) can call directly. ``dags/`` and ``plugins/`` wire it into Airflow.
"""

__version__ = "0.1.0"
