"""Run Airflow on one machine: its CLI, metadata DB, pool, and background processes.

Process and port tooling for ``make up``, ``make demo`` and the end-to-end tests, so they all
start Airflow the same way. Standard library only (it runs before Airflow is imported).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path

from harvest_local.environment import REPO

SCRAPING_POOL = ("scraping", 4, "Harvest crawls: at most this many sources crawl at once")


def airflow_cmd(*args: str) -> list[str]:
    """The ``airflow`` CLI of the running interpreter's environment."""
    return [str(Path(sys.executable).with_name("airflow")), *args]


def run_airflow(
    args: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: float = 600
) -> None:
    """Run one ``airflow`` CLI command, output appended to ``log_path``; raise with its tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n$ airflow {' '.join(args)}\n")
        log.flush()
        proc = subprocess.run(  # noqa: S603 - fixed command, no shell
            airflow_cmd(*args), env=dict(env), stdout=log, stderr=subprocess.STDOUT, timeout=timeout
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`airflow {' '.join(args)}` failed with exit code {proc.returncode}:\n"
            f"{tail(log_path)}\n(full log: {log_path})"
        )


def migrate_db(env: Mapping[str, str], log_path: Path) -> None:
    """Create or upgrade the metadata DB (idempotent); the pool is set again after it."""
    (Path(env["AIRFLOW_HOME"]) / POOL_MARKER).unlink(missing_ok=True)
    run_airflow(["db", "migrate"], env, log_path)


def migrate_db_if_needed(env: Mapping[str, str], log_path: Path) -> bool:
    """Migrate unless this Airflow version already migrated this metadata DB; True if it ran."""
    db = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite (airflow.cfg)")
    stamp = f"apache-airflow-core {version('apache-airflow-core')} {hashlib.sha1(db.encode(), usedforsecurity=False).hexdigest()[:12]}\n"
    marker = Path(env["AIRFLOW_HOME"]) / ".harvest-migrated"
    sqlite_file = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    fresh = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env and not sqlite_file.exists()
    if not fresh and marker.exists() and marker.read_text(encoding="utf-8") == stamp:
        return False
    migrate_db(env, log_path)
    marker.write_text(stamp, encoding="utf-8")
    return True


POOL_MARKER = ".harvest-pool"


def ensure_pool(env: Mapping[str, str], log_path: Path) -> None:
    """Create (or update) the ``scraping`` pool the scrape tasks run in, unless this metadata DB
    already has it as defined here (a marker beside it, removed by :func:`migrate_db`): each
    ``airflow pools set`` is a whole Airflow CLI start, 1 to 2 minutes on 2 busy cores, paid
    twice per ``make demo`` before this check."""
    name, slots, description = SCRAPING_POOL
    db = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite (airflow.cfg)")
    stamp = f"{db} {name} {slots} {description}\n"
    marker = Path(env["AIRFLOW_HOME"]) / POOL_MARKER
    sqlite_file = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    fresh = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env and not sqlite_file.exists()
    if not fresh and marker.exists() and marker.read_text(encoding="utf-8") == stamp:
        return
    run_airflow(["pools", "set", name, str(slots), description], env, log_path)
    marker.write_text(stamp, encoding="utf-8")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def start_process(
    cmd: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start a background process in its own process group, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - fixed command, no shell
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process_group(pid: int, timeout: float = 20) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL what is left after ``timeout``.

    Returns False when there was nothing to stop.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):  # reap it when it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def wait_for_http(
    url: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Wait until ``url`` answers with a non-5xx status; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            where = f"\n{tail(log_path)}\n(full log: {log_path})" if log_path else ""
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}{where}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def unreachable(url: str, timeout: float = 10) -> str | None:
    """Why ``url`` cannot be reached (refused, unknown host, no answer within ``timeout``
    seconds), or ``None`` when it answers with any HTTP status (a site that is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - the user's own source
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # a bad URL, a bad answer
        return str(exc) or type(exc).__name__


def tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a log file ("" when missing)."""
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def wait_for_healthy(
    url: str,
    components: Sequence[str],
    timeout: float,
    procs: Mapping[str, subprocess.Popen[bytes]],
    logs: Mapping[str, Path],
) -> None:
    """Wait until Airflow's health endpoint ``url`` (``/api/v2/monitor/health``) says every one of
    ``components`` (``scheduler``, ``dag_processor``, ``triggerer``) is healthy: each has sent a
    heartbeat. Raise ``RuntimeError`` (with its log's tail) when a process of ``procs`` exits
    first, ``TimeoutError`` naming those still unhealthy after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    unhealthy = list(components)
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited with {proc.returncode}:\n{tail(logs.get(name))}\n"
                    f"(full log: {logs.get(name)})"
                )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
                health = json.loads(response.read())
            unhealthy = [
                name for name in components if (health.get(name) or {}).get("status") != "healthy"
            ]
            if not unhealthy:
                return
        except (OSError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"{', '.join(unhealthy)} not healthy at {url} within {timeout:.0f} s")


def pending_runs(airflow_home: Path) -> list[tuple[str, str]]:
    """What a scheduler starting on the embedded metadata DB (SQLite under ``airflow_home``)
    runs at once besides each DAG's next scheduled interval: ``(dag_id, why)`` for every run
    left queued or running, and every DAG an asset event queued (the training DAGs after new
    data). Empty when there is no such DB."""
    import sqlite3

    db = airflow_home / "airflow.db"
    if not db.is_file():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        try:
            runs = conn.execute(
                "SELECT dag_id, run_id, state FROM dag_run WHERE state IN ('queued', 'running') "
                "ORDER BY dag_id, run_id"
            ).fetchall()
            queued = conn.execute(
                "SELECT target_dag_id, COUNT(*) FROM asset_dag_run_queue GROUP BY target_dag_id "
                "ORDER BY target_dag_id"
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []
    pending = [(dag_id, f"run {run_id} left {state}") for dag_id, run_id, state in runs]
    pending += [
        (dag_id, f"new data: {n} asset event(s) queued a run (it trains on the data loaded)")
        for dag_id, n in queued
    ]
    return pending
