"""The credentials of a spec's ``login:``: from an Airflow Connection or the environment, read
when the crawl logs in, never from the spec, never logged, never stored.

An Airflow Connection reaches the crawl process as Airflow's own environment form,
``AIRFLOW_CONN_<CONN_ID>`` (a URI ``scheme://login:password@host`` or Airflow's JSON
``{"conn_type": ..., "login": ..., "password": ...}``): defined so by the deployment, or passed
by the scrape task, which reads the Connection at execute time
(``harvest_airflow.operators.ScrapeOperator``). ``env: SHOP`` reads ``SHOP_USERNAME`` and
``SHOP_PASSWORD``. Imports nothing of Airflow's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from harvest.config.spec.forms import LoginSpec
from harvest.errors import HarvestError


class LoginFailed(HarvestError, RuntimeError):
    """A login that could not be made: no credentials, no login form, or the site refused
    them. The message names the source, the login URL and where the credentials came from."""

    retryable = False


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    where: str  # "the Airflow Connection 'shop'", "the environment (SHOP_USERNAME, ...)"

    def __repr__(self) -> str:  # never the password in a log or a traceback
        return f"Credentials(username={self.username!r}, password='***', where={self.where!r})"


def connection_variable(conn_id: str) -> str:
    """Airflow's environment variable of the Connection ``conn_id``."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection_json(login: str, password: str) -> str:
    """A Connection as Airflow's JSON environment form (what the scrape task hands on)."""
    return json.dumps({"conn_type": "http", "login": login, "password": password})


def credentials(
    login: LoginSpec, source: str, environ: Mapping[str, str] | None = None
) -> Credentials:
    """The user name and password of ``login``; :class:`LoginFailed` says which variable or
    Connection is missing, and how to give it."""
    environ = os.environ if environ is None else environ
    if login.conn_id is not None:
        variable = connection_variable(login.conn_id)
        where = f"the Airflow Connection {login.conn_id!r}"
        raw = environ.get(variable)
        if not raw:
            raise LoginFailed(
                f"source {source!r}: login needs {where}, which the crawl does not have: "
                f"create it in Airflow (the scrape task hands it to the crawl) or set {variable}"
            )
        user, password = _parse_connection(raw)
    else:
        names = f"{login.env}_USERNAME", f"{login.env}_PASSWORD"
        where = f"the environment ({', '.join(names)})"
        user, password = environ.get(names[0], ""), environ.get(names[1], "")
    if not user or not password:
        raise LoginFailed(f"source {source!r}: login needs a user name and a password in {where}")
    return Credentials(user, password, where)


def _parse_connection(raw: str) -> tuple[str, str]:
    raw = raw.strip()
    if raw.startswith("{"):
        data = json.loads(raw)
        return str(data.get("login") or ""), str(data.get("password") or "")
    parts = urlsplit(raw)
    return unquote(parts.username or ""), unquote(parts.password or "")
