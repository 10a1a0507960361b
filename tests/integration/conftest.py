"""The warehouse fixtures for every integration module: ``warehouse`` runs a test on SQLite and
on PostgreSQL (a database of the module's own)."""

from tests.integration.test_warehouse import (  # noqa: F401 - fixtures
    pg_database,
    pg_warehouse,
    sqlite_warehouse,
    warehouse,
)
