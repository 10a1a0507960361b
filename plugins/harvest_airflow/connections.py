"""Harvest settings resolved from Airflow Connections, falling back to the environment.

Connection ids (create them in the UI, with ``airflow connections add`` or as
``AIRFLOW_CONN_<ID>`` variables):

====================  =======================================  ==========================
conn id               overrides                                example URI
====================  =======================================  ==========================
harvest_raw_store     ``Settings.raw_store_url``               ``mongodb://h:27017/harvest``
harvest_cache         ``Settings.cache_url``                   ``redis://h:6379/0``
harvest_warehouse     ``Settings.warehouse_url``               ``postgresql://u:p@h/harvest``
====================  =======================================  ==========================

Read only at execute time (never while a DAG file is parsed).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

from harvest.config import Settings

log = logging.getLogger(__name__)

CONNECTION_IDS: dict[str, str] = {
    "raw_store_url": "harvest_raw_store",
    "cache_url": "harvest_cache",
    "warehouse_url": "harvest_warehouse",
}

# Airflow shortens some schemes to its connection types; the clients Harvest uses want these.
_SCHEMES = {"postgres": "postgresql", "mongo": "mongodb"}


def normalise_uri(uri: str) -> str:
    """Undo what ``Connection.get_uri()`` does to a URI that the client libraries need back.

    Airflow writes ``postgresql`` as ``postgres`` and percent-encodes the path of ``file://`` and
    ``sqlite://`` URIs; user info and query are left alone.
    """
    parts = urlsplit(uri)
    scheme = _SCHEMES.get(parts.scheme, parts.scheme)
    path = unquote(parts.path)
    if scheme in ("file", "sqlite") and not parts.netloc:
        return f"{scheme}://{path}"  # urlunsplit would drop the empty authority
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


def connection_uri(conn_id: str) -> str | None:
    """The URI of an Airflow Connection, or ``None`` when it is not defined."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    return normalise_uri(conn.get_uri())


def resolve_settings(base: Settings | None = None) -> Settings:
    """Harvest settings for a task: ``Settings.from_env()`` overridden by any defined Connection."""
    settings = base or Settings.from_env()
    overrides: dict[str, object] = {}
    for field, conn_id in CONNECTION_IDS.items():
        uri = connection_uri(conn_id)
        if uri:
            log.info("Using Airflow connection %s for %s", conn_id, field)
            overrides[field] = uri
    return settings.with_overrides(**overrides)
