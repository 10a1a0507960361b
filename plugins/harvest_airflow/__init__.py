"""Airflow adapters for Harvest: operators, connection lookup and the local runtime helpers.

Only ``dags/`` and this package import Airflow; the product logic stays in ``harvest``.
"""
