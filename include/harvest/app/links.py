"""What the Partition page links to, with no Streamlit: the partition's files (the profiling
report, the Data Docs page, as recorded by the pipeline in :mod:`harvest.storage.artifacts`) and
its run in the Airflow UI with each task's log.

Airflow 3's UI addresses a run as ``<base>/dags/<dag_id>/runs/<run_id>`` and a task instance
(its log) as ``.../runs/<run_id>/tasks/<task_id>`` (``airflow.utils.helpers.
build_airflow_dagrun_url`` and ``TaskInstance.log_url`` build the same).
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harvest.partitions import Partition
from harvest.storage.artifacts import local_path, read_artifact, read_bytes

# The source DAG's tasks, in their order (dags/harvest_sources.py; a test keeps them equal)
STAGE_TASKS = ("scrape", "validate", "clean", "load")
_DAILY = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")
_LINKED = re.compile(
    r"""(<link\b[^>]*?href=|<script\b[^>]*?src=|<img\b[^>]*?src=)"([^"]+)"([^>]*>)"""
)


@dataclass(frozen=True)
class PartitionFiles:
    """The partition's recorded files: each record (``None`` when the pipeline made none) and
    the page to show (``None`` when the file cannot be read from here)."""

    profile: dict[str, Any] | None
    profile_html: str | None
    data_docs: dict[str, Any] | None
    data_docs_html: str | None


def partition_files(staging_url: str, source: str, day: dt.date) -> PartitionFiles:
    """The profiling report and the Data Docs page recorded for ``source`` and ``day``."""
    partition = Partition(source, day)
    profile = read_artifact(staging_url, partition, "profile")
    profile_html = None
    if profile and profile.get("uri"):
        data = read_bytes(str(profile["uri"]))
        profile_html = data.decode("utf-8") if data is not None else None
    docs = read_artifact(staging_url, partition, "data_docs")
    docs_html = None
    if docs and docs.get("path"):
        page = local_path(str(docs["path"]))
        if page is not None and page.is_file():
            docs_html = inline_page(page)
    return PartitionFiles(profile, profile_html, docs, docs_html)


def inline_page(page: Path) -> str:
    """The HTML page at ``page`` with the style sheets, scripts and images it loads from
    relative paths put inline (data URIs), so it shows on its own (in the app's frame, or
    downloaded); absolute URLs are left as they are."""
    html = page.read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        opening, target, rest = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:|^//|^#", target, re.IGNORECASE):
            return match.group(0)
        file = (page.parent / target.split("?")[0].split("#")[0]).resolve()
        if not file.is_file():
            return match.group(0)
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        return f'{opening}"data:{kind};base64,{data}"{rest}'

    return _LINKED.sub(inline, html)


def scheduled_run_id(schedule: str | None, day: dt.date) -> str | None:
    """The run id Airflow gives the scheduled run of ``day`` for a daily ``"M H * * *"``
    schedule (``scheduled__`` + the end of its data interval, the next day at H:M UTC);
    ``None`` for any other schedule (the run cannot be named without Airflow)."""
    match = _DAILY.match((schedule or "").strip())
    if match is None:
        return None
    minute, hour = int(match.group(1)), int(match.group(2))
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour, minute), dt.UTC)
    return f"scheduled__{end.isoformat()}"


def day_of_run(run_id: str, schedule: str | None, days: list[dt.date]) -> dt.date | None:
    """The partition (one of ``days``) Airflow run ``run_id`` made: the day whose scheduled
    run it is, else the date it names (``manual__2026-03-15T...``: a manual run without a
    logical date takes the day it was triggered); ``None`` when neither is in ``days``."""
    for day in days:
        if scheduled_run_id(schedule, day) == run_id:
            return day
    match = re.match(r"^[a-z_]+__(\d{4}-\d{2}-\d{2})", run_id)
    named = dt.date.fromisoformat(match.group(1)) if match else None
    return named if named in days else None


def airflow_run_links(airflow_url: str, dag_id: str, run_id: str) -> dict[str, str]:
    """``{"run": its page, <task_id>: that task's log}`` in the Airflow UI at ``airflow_url``
    for run ``run_id`` of ``dag_id`` (ids quoted as Airflow quotes them)."""
    run = f"{airflow_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id)}"
    return {"run": run, **{task: f"{run}/tasks/{task}" for task in STAGE_TASKS}}
