"""`make up` / `make down` / `make status` / `make logs`: the local platform on embedded defaults.

Starts the demo site on :8000, then Airflow's components one after the other (LocalExecutor,
SQLite): the api-server on :8080 first and, once it answers, the scheduler, dag-processor and
triggerer, and waits until Airflow's health endpoint says each is healthy. So no task starts
before the API server it reports to listens (``airflow standalone`` starts all four at once:
the first tasks failed with ``Connection refused`` and lived on their retries). Before the
scheduler starts it says what the scheduler will run at once besides each DAG's latest interval
(runs left queued, training runs queued by new data). Process ids are kept in
``.harvest/up.json``, logs in ``.harvest/logs/airflow-<component>.log``.

    python scripts/up.py [--stop | --status | --logs]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import harvest_local as local

API_PORT = 8080
DEMO_PORT = 8000
HEALTH_URL = f"http://127.0.0.1:{API_PORT}/api/v2/monitor/health"
# Started in this order, each after the one before is up; the health endpoint's name for each.
AFTER_API = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _pid_file(env: dict[str, str]) -> Path:
    return Path(env["HARVEST_HOME"]) / "up.json"


def _logs(env: dict[str, str]) -> dict[str, Path]:
    logs = Path(env["HARVEST_HOME"]) / "logs"
    names = ["demo_site", "api-server", *AFTER_API]
    return {
        name: logs / (f"{name}.log" if name == "demo_site" else f"airflow-{name}.log")
        for name in names
    }


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _pids(env: dict[str, str]) -> dict[str, int]:
    pid_file = _pid_file(env)
    return json.loads(pid_file.read_text(encoding="utf-8")) if pid_file.exists() else {}


def stop(env: dict[str, str]) -> int:
    pids = _pids(env)
    if not pids:
        say("Nothing to stop (no .harvest/up.json).")
        return 0
    for name, pid in reversed(list(pids.items())):  # the scheduler before the api-server
        stopped = local.stop_process_group(pid, timeout=30)
        say(f"  {name}: {'stopped' if stopped else 'was not running'} (pid {pid})")
    _pid_file(env).unlink()
    return 0


def up(env: dict[str, str]) -> int:
    if any(_alive(pid) for pid in _pids(env).values()):
        say(f"Already running ({_pid_file(env)}); `make status` says how, `make down` stops it.")
        return 1
    _pid_file(env).unlink(missing_ok=True)
    for port, what in ((API_PORT, "Airflow's API server"), (DEMO_PORT, "the demo site")):
        if local.port_in_use(port):
            say(f"error: port {port} (for {what}) is already in use; stop whatever listens there.")
            return 1

    logs = _logs(env)
    setup_log = logs["api-server"].with_name("up-setup.log")
    say("Preparing Airflow's metadata DB (SQLite) and the scraping pool ...")
    if local.migrate_db_if_needed(env, setup_log):
        say("  metadata DB created/upgraded")
    local.ensure_pool(env, setup_log)
    password_file, _ = local.ensure_admin_password(env)

    procs: dict[str, subprocess.Popen[bytes]] = {}
    pids: dict[str, int] = {}

    def start(name: str, cmd: list[str]) -> None:
        procs[name] = local.start_process(cmd, env, logs[name])
        pids[name] = procs[name].pid
        _pid_file(env).write_text(json.dumps(pids) + "\n", encoding="utf-8")

    try:
        start(
            "demo_site",
            [
                sys.executable,
                "-m",
                "harvest_demo",
                "serve",
                "--port",
                str(DEMO_PORT),
                *catalogue_day_options(),
            ],
        )
        start("api-server", local.airflow_cmd("api-server", "--port", str(API_PORT)))
        say("Starting the demo site and Airflow's api-server (1-2 minutes on a laptop) ...")
        local.wait_for_http(
            f"http://127.0.0.1:{DEMO_PORT}/", 60, procs["demo_site"], logs["demo_site"]
        )
        local.wait_for_http(HEALTH_URL, 240, procs["api-server"], logs["api-server"])
        say(f"  api-server answers on http://127.0.0.1:{API_PORT}")
        say_pending(env)
        for name in AFTER_API:
            start(name, local.airflow_cmd(name))
        say(f"Starting the {', '.join(AFTER_API)} and waiting until each is healthy ...")
        local.wait_for_healthy(HEALTH_URL, list(AFTER_API.values()), 240, procs, logs)
    except (RuntimeError, TimeoutError) as exc:
        say(f"error: {exc}")
        stop(env)
        return 1
    say()
    say(f"Airflow     http://127.0.0.1:{API_PORT}   (user: {local.ADMIN_USER})")
    say(f"  password  in {password_file}")
    say(f"Demo site   http://127.0.0.1:{DEMO_PORT}")
    say(f"Logs        {logs['api-server'].parent}/airflow-*.log (`make logs` shows their ends)")
    say("Status      make status        Stop with   make down")
    return 0


def catalogue_day_options() -> list[str]:
    """The demo site's options that make its catalogue show, at any time, the day the catalogue
    source's latest scheduled run processes (``--nightly-at`` its cron's time): date D holds
    catalogue day D whether ``make up``'s scheduler or ``make demo`` loads it. Empty (the site
    shows today) when that schedule is not one time a day."""
    from harvest.config.settings import Settings
    from harvest.config.spec import SpecError, load_spec

    try:
        schedule = load_spec(Settings.from_env().sources_dir / "catalogue.yaml").schedule or ""
    except (OSError, SpecError):
        return []
    minute, hour, *rest = [*schedule.split(), "", ""][:5]
    if not (minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]):
        return []
    return ["--nightly-at", f"{int(hour):02d}:{int(minute):02d}"]


def say_pending(env: dict[str, str]) -> None:
    """Say what the scheduler will start at once besides each DAG's latest interval."""
    pending = local.pending_runs(Path(env["AIRFLOW_HOME"]))
    if not pending:
        say("  nothing left queued: the scheduler starts each unpaused DAG's latest interval")
        return
    say("  the scheduler will also start (pause a DAG in the UI to hold it):")
    for dag_id, why in pending:
        say(f"    {dag_id:<26}{why}")


def status(env: dict[str, str]) -> int:
    """Which processes run, what Airflow's health endpoint says, the latest runs per DAG."""
    pids = _pids(env)
    if not pids:
        say("Not running (no .harvest/up.json); `make up` starts it.")
    for name, pid in pids.items():
        say(f"  {name:<14} {'running' if _alive(pid) else 'STOPPED'} (pid {pid})")
    try:
        with urllib.request.urlopen(HEALTH_URL, timeout=5) as response:
            health = json.loads(response.read())
        for name, details in health.items():
            say(f"  {name:<14} {(details or {}).get('status')}")
    except OSError as exc:
        say(f"  health         {HEALTH_URL} does not answer ({exc})")
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if db.is_file():
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT dag_id, run_id, state, start_date, end_date FROM dag_run d WHERE id = "
                "(SELECT MAX(id) FROM dag_run WHERE dag_id = d.dag_id) ORDER BY dag_id"
            ).fetchall()
            retried = conn.execute(
                "SELECT COUNT(*) FROM task_instance WHERE try_number > 1 OR state = 'failed'"
            ).fetchone()[0]
        say("Latest run of each DAG:")
        for dag_id, run_id, state, start, end in rows:
            say(f"  {dag_id:<26}{state:<9}{run_id}  {start or ''} -> {end or ''}")
        say(f"Task instances failed or retried: {retried}")
    for pending_dag, why in local.pending_runs(Path(env["AIRFLOW_HOME"])):
        if why.startswith("new data"):  # runs left queued/running are in the table above
            say(f"Queued by new data: {pending_dag}")
    return 0


def show_logs(env: dict[str, str], lines: int = 15) -> int:
    for path in _logs(env).values():
        if path.exists():
            say(f"== {path}")
            say(local.tail(path, lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stop", action="store_true", help="stop what `make up` started")
    which.add_argument("--status", action="store_true", help="what runs and how healthy it is")
    which.add_argument("--logs", action="store_true", help="the end of each component's log")
    args = parser.parse_args(argv)
    env = local.local_env()
    if args.stop:
        return stop(env)
    if args.status:
        return status(env)
    if args.logs:
        return show_logs(env)
    return up(env)


if __name__ == "__main__":
    sys.exit(main())
