"""Run history of the source DAGs, read through Airflow's REST API v2 (never its database).

A JWT comes from ``POST /auth/token`` (the simple auth manager and FAB both serve it) with the
user and password of an Airflow Connection (resolved by the plugin); runs of many DAGs come in
pages from ``POST /api/v2/dags/~/dagRuns/list``. Every failure (unreachable, timeout, an HTTP
error, a reply that is not the expected JSON) is one :class:`AirflowApiError` naming the URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import httpx

from harvest.errors import HarvestError
from harvest.monitoring.history import RunRecord
from harvest.text import redact_url

PAGE_LIMIT = 100  # the API's default [api] maximum_page_limit


class AirflowApiError(HarvestError, RuntimeError):
    """The Airflow REST API could not be used; the message names the URL and the reason."""


class AirflowApi:
    """A small REST API v2 client: ``dag_runs`` and ``task_instances``.

    Give ``username``/``password`` (a token is fetched, and fetched again once on a 401) or a
    ready ``token``. ``timeout`` is in seconds per request.
    """

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token = token
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _fetch_token(self) -> str:
        if self.username is None or self.password is None:
            raise AirflowApiError(f"{redact_url(self.base_url)}: no token and no user/password")
        body = self._send(
            "POST", "/auth/token", {"username": self.username, "password": self.password}, None
        )
        token = body.get("access_token")
        if not isinstance(token, str):
            raise AirflowApiError(f"{redact_url(self.base_url)}/auth/token: no access_token")
        return token

    def _send(self, method: str, path: str, body: Any, token: str | None) -> dict[str, Any]:
        url = self.base_url + path
        where = f"Airflow API {method} {redact_url(url)}"
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._client.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise AirflowApiError(f"{where}: unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 401 and token is not None:
            raise _Unauthorised(where)
        if response.status_code >= 400:
            raise AirflowApiError(f"{where}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            data = response.json()
        except ValueError as exc:
            raise AirflowApiError(f"{where}: reply is not JSON: {response.text[:200]!r}") from exc
        if not isinstance(data, dict):
            raise AirflowApiError(f"{where}: expected a JSON object, got {type(data).__name__}")
        return data

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One authenticated call; a 401 with an old token fetches a new one and tries again."""
        if self._token is None:
            self._token = self._fetch_token()
        try:
            return self._send(method, path, body, self._token)
        except _Unauthorised as exc:
            if self.username is None:
                raise AirflowApiError(f"{exc}: HTTP 401 (token refused)") from None
            self._token = self._fetch_token()
            try:
                return self._send(method, path, body, self._token)
            except _Unauthorised as again:
                raise AirflowApiError(f"{again}: HTTP 401 with a fresh token") from None

    def dag_runs(self, dag_ids: Iterable[str], since: dt.datetime) -> dict[str, list[RunRecord]]:
        """Runs of ``dag_ids`` queued for ``since`` or later (``run_after``), by DAG id; a DAG
        with no run (or unknown to Airflow) gets an empty list."""
        wanted = sorted(set(dag_ids))
        runs: dict[str, list[RunRecord]] = {dag_id: [] for dag_id in wanted}
        offset = 0
        while wanted:
            body = {
                "dag_ids": wanted,
                "run_after_gte": since.isoformat(),
                "page_offset": offset,
                "page_limit": PAGE_LIMIT,
            }
            page = self.request("POST", "/api/v2/dags/~/dagRuns/list", body)
            items = page.get("dag_runs")
            if not isinstance(items, list):
                raise AirflowApiError(f"{self.base_url}: dagRuns/list reply has no dag_runs list")
            for item in items:
                try:
                    runs.setdefault(item["dag_id"], []).append(RunRecord.from_api(item))
                except (KeyError, ValueError) as exc:
                    raise AirflowApiError(f"dagRuns/list: unreadable run {item!r}: {exc}") from exc
            offset += len(items)
            if not items or offset >= int(page.get("total_entries", 0)):
                break
        return runs

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Task instances of one run (``task_id``, ``state``, ``start_date``, ``end_date``...)."""
        page = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        items = page.get("task_instances")
        if not isinstance(items, list):
            raise AirflowApiError(f"taskInstances of {dag_id} {run_id}: no task_instances list")
        return items


class _Unauthorised(AirflowApiError):
    """HTTP 401 with a token: the token expired or was refused."""
