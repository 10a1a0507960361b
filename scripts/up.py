"""`make up` / `make down`: the local platform on embedded defaults.

Starts the demo site on :8000 and ``airflow standalone`` (api-server on :8080, scheduler,
dag-processor, triggerer; LocalExecutor, SQLite) in the background. Process ids are kept in
``.harvest/up.json``, logs in ``.harvest/logs``. ``--stop`` stops both.

    python scripts/up.py [--stop]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import harvest_local as local

API_PORT = 8080
DEMO_PORT = 8000


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _pid_file(env: dict[str, str]) -> Path:
    return Path(env["HARVEST_HOME"]) / "up.json"


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(env: dict[str, str]) -> int:
    pid_file = _pid_file(env)
    if not pid_file.exists():
        say("Nothing to stop (no .harvest/up.json).")
        return 0
    pids: dict[str, int] = json.loads(pid_file.read_text(encoding="utf-8"))
    for name, pid in pids.items():
        stopped = local.stop_process_group(pid, timeout=30)
        say(f"  {name}: {'stopped' if stopped else 'was not running'} (pid {pid})")
    pid_file.unlink()
    return 0


def up(env: dict[str, str]) -> int:
    pid_file = _pid_file(env)
    if pid_file.exists():
        pids = json.loads(pid_file.read_text(encoding="utf-8"))
        if any(_alive(pid) for pid in pids.values()):
            say(f"Already running ({pid_file}); `make down` stops it.")
            return 1
        pid_file.unlink()
    for port, what in ((API_PORT, "Airflow's API server"), (DEMO_PORT, "the demo site")):
        if local.port_in_use(port):
            say(f"error: port {port} (for {what}) is already in use; stop whatever listens there.")
            return 1

    logs = Path(env["HARVEST_HOME"]) / "logs"
    setup_log = logs / "up-setup.log"
    say("Preparing Airflow's metadata DB (SQLite) and the scraping pool ...")
    if local.migrate_db_if_needed(env, setup_log):
        say("  metadata DB created/upgraded")
    local.ensure_pool(env, setup_log)
    password_file, _ = local.ensure_admin_password(env)

    site_log, airflow_log = logs / "demo_site.log", logs / "airflow-standalone.log"
    site = local.start_process(
        [sys.executable, "-m", "harvest_demo", "serve", "--port", str(DEMO_PORT)],
        env,
        site_log,
    )
    airflow = local.start_process(local.airflow_cmd("standalone"), env, airflow_log)
    pid_file.write_text(
        json.dumps({"demo_site": site.pid, "airflow": airflow.pid}) + "\n", encoding="utf-8"
    )
    say("Starting the demo site and Airflow standalone (1-3 minutes on a laptop) ...")
    try:
        local.wait_for_http(f"http://127.0.0.1:{DEMO_PORT}/", 60, site, site_log)
        local.wait_for_http(
            f"http://127.0.0.1:{API_PORT}/api/v2/monitor/health", 240, airflow, airflow_log
        )
    except (RuntimeError, TimeoutError) as exc:
        say(f"error: {exc}")
        stop(env)
        return 1
    say()
    say(f"Airflow     http://127.0.0.1:{API_PORT}   (user: {local.ADMIN_USER})")
    say(f"  password  in {password_file}")
    say(f"Demo site   http://127.0.0.1:{DEMO_PORT}")
    say(f"Logs        {airflow_log}, {site_log}")
    say("Stop with   make down")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop", action="store_true", help="stop what `make up` started")
    args = parser.parse_args(argv)
    env = local.local_env()
    return stop(env) if args.stop else up(env)


if __name__ == "__main__":
    sys.exit(main())
