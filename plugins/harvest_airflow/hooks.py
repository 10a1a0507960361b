"""The Harvest hook: Harvest's settings with its stores taken from Airflow Connections.

Connection ids (create them in the UI, with ``airflow connections add`` or as
``AIRFLOW_CONN_<ID>`` variables); each operator takes them as ``*_conn_id`` arguments:

- ``warehouse_conn_id`` (default ``harvest_warehouse``) overrides ``Settings.warehouse_url``,
  e.g. ``postgresql://u:p@h/harvest`` or ``sqlite:////data/warehouse.db``;
- ``raw_store_conn_id`` (default ``harvest_raw_store``) overrides ``Settings.raw_store_url``,
  e.g. ``mongodb://h:27017/harvest`` or ``file:///data/raw``;
- ``cache_conn_id`` (default ``harvest_cache``) overrides ``Settings.cache_url``,
  e.g. ``redis://h:6379/0``;
- ``harvest_dask`` overrides ``Settings.dask_scheduler`` (the Dask scheduler that validates and
  loads partitions above ``dask_threshold_rows``), e.g. ``tcp://dask-scheduler:8786``.

A connection that is not defined leaves the setting from the environment (``HARVEST_*``) or its
embedded default. Read only at execute time (never while a DAG file is parsed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from harvest_airflow.errors import translate_errors

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from harvest.config import Settings
    from harvest.config.spec import LoginSpec

WAREHOUSE_CONN_ID = "harvest_warehouse"
RAW_STORE_CONN_ID = "harvest_raw_store"
CACHE_CONN_ID = "harvest_cache"
DASK_CONN_ID = "harvest_dask"

# Airflow shortens ``mongodb`` to its connection type ``mongo``; the client wants it back.
_SCHEMES = {"mongo": "mongodb"}


def normalise_uri(uri: str) -> str:
    """Undo what ``Connection.get_uri()`` does to a URI that the client libraries need back.

    Airflow writes ``mongodb`` as ``mongo`` and percent-encodes the path of ``file://`` and
    ``sqlite://`` URIs; user info and query are left alone. (PostgreSQL goes through the
    postgres provider's hook instead: :func:`postgres_url`.)
    """
    parts = urlsplit(uri)
    scheme = _SCHEMES.get(parts.scheme, parts.scheme)
    path = unquote(parts.path)
    if scheme in ("file", "sqlite") and not parts.netloc:
        return f"{scheme}://{path}"  # urlunsplit would drop the empty authority
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


def postgres_url(conn: Connection) -> str:
    """The SQLAlchemy URL of a ``postgres`` connection, built by the postgres provider's hook.

    The driver is psycopg2 (``postgresql://``), the one the warehouse's COPY uses, whatever the
    connection's ``sqlalchemy_scheme`` extra says. The connection's other extras (``sslmode``,
    ``options``...) become query parameters, as libpq reads them from a URI.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(connection=conn, sqlalchemy_scheme="postgresql")
    url = hook.sqlalchemy_url
    extras = {
        key: str(value)
        for key, value in conn.extra_dejson.items()
        if key not in PostgresHook.ignored_extra_options and key not in url.query
    }
    return url.update_query_dict(extras).render_as_string(hide_password=False)


class HarvestHook(BaseHook):
    """Harvest's :class:`~harvest.config.Settings` for a task, its stores from Airflow Connections.

    ``get_conn()`` returns ``Settings.from_env()`` (or ``base``) with ``warehouse_url``,
    ``raw_store_url`` and ``cache_url`` replaced by the URI of each connection that is defined.

    :param warehouse_conn_id: the warehouse (``postgres`` or ``sqlite`` connection).
    :param raw_store_conn_id: the raw store (``mongo`` or a ``file://`` URI).
    :param cache_conn_id: the HTTP cache (``redis``).
    :param base: settings to start from; default ``Settings.from_env()`` at ``get_conn()``.
    """

    conn_name_attr = "warehouse_conn_id"
    default_conn_name = WAREHOUSE_CONN_ID
    hook_name = "Harvest"

    def __init__(
        self,
        warehouse_conn_id: str = WAREHOUSE_CONN_ID,
        raw_store_conn_id: str = RAW_STORE_CONN_ID,
        cache_conn_id: str = CACHE_CONN_ID,
        *,
        base: Settings | None = None,
    ) -> None:
        super().__init__()
        self.warehouse_conn_id = warehouse_conn_id
        self.raw_store_conn_id = raw_store_conn_id
        self.cache_conn_id = cache_conn_id
        self.base = base

    def connection_ids(self) -> dict[str, str]:
        """The connection id that overrides each store setting (setting name -> conn id)."""
        return {
            "raw_store_url": self.raw_store_conn_id,
            "cache_url": self.cache_conn_id,
            "warehouse_url": self.warehouse_conn_id,
            "dask_scheduler": DASK_CONN_ID,
        }

    def connection_uri(self, conn_id: str) -> str | None:
        """The URI a Harvest client needs for connection ``conn_id``; ``None`` when undefined."""
        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException:
            return None
        if conn.conn_type == "postgres":
            return postgres_url(conn)
        return normalise_uri(conn.get_uri())

    def login_env(self, login: LoginSpec | None) -> dict[str, str]:
        """A spec's ``login.conn_id`` for the crawl process: the Connection's login and password
        as Airflow's own variable ``AIRFLOW_CONN_<ID>`` (:mod:`harvest.config.credentials`
        reads it); ``{}`` without one, or when it is not defined (the crawl then says so)."""
        from harvest.config.credentials import connection_json, connection_variable

        if login is None or login.conn_id is None:
            return {}
        try:
            conn = self.get_connection(login.conn_id)
        except AirflowNotFoundException:
            return {}
        secret = connection_json(conn.login or "", conn.password or "")
        return {connection_variable(login.conn_id): secret}

    @translate_errors
    def get_conn(self) -> Settings:
        """The settings with every defined connection applied (see the class docstring).

        :raises AirflowFailException: (no retry) when Airflow's executor runs tasks on several
            machines and a store is a local file (:func:`harvest.config.settings.check_shared_storage`).
        """
        from airflow.sdk.configuration import conf

        from harvest.config import Settings
        from harvest.config.settings import check_shared_storage

        settings = self.base or Settings.from_env()
        overrides: dict[str, object] = {}
        for field, conn_id in self.connection_ids().items():
            uri = self.connection_uri(conn_id)
            if uri:
                self.log.info("Using Airflow connection %s for %s", conn_id, field)
                overrides[field] = uri
        settings = settings.with_overrides(**overrides)
        check_shared_storage(settings, conf.get("core", "executor"))
        return settings
