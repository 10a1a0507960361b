"""Run Airflow on one machine: environment, shared keys, metadata DB, pool and processes.

Process, port and secret tooling for ``make up``, ``make demo``, ``make env`` and the end-to-end
tests, so they all start Airflow the same way; not an Airflow adapter (those are in
``plugins/harvest_airflow``). Standard library only (it runs before Airflow is imported).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
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

REPO = Path(__file__).resolve().parents[1]
SCRAPING_POOL = ("scraping", 4, "Harvest crawls: at most this many sources crawl at once")
SECRETS_FILE = "harvest_secrets.json"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
ADMIN_USER = "admin"


def local_env(
    harvest_home: Path | str | None = None,
    airflow_home: Path | str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment Airflow components need (what the Makefile exports, plus shared keys).

    ``harvest_home`` defaults to ``$HARVEST_HOME`` or ``<repo>/.harvest``; ``airflow_home`` to
    ``$AIRFLOW_HOME`` or ``<harvest_home>/airflow``.
    """
    env = dict(os.environ if base is None else base)
    home = Path(harvest_home or env.get("HARVEST_HOME") or REPO / ".harvest").resolve()
    af_home = Path(airflow_home or env.get("AIRFLOW_HOME") or home / "airflow").resolve()
    af_home.mkdir(parents=True, exist_ok=True)
    paths = [str(REPO / "include"), str(REPO / "plugins")]
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    env.update(
        HARVEST_REPO=str(REPO),
        HARVEST_HOME=str(home),
        AIRFLOW_HOME=str(af_home),
        AIRFLOW_CONFIG=str(REPO / "airflow.cfg"),
        PYTHONPATH=os.pathsep.join(paths + extra),
        # `airflow standalone` starts its components as `airflow ...` from PATH.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
    )
    for key, value in shared_keys(af_home).items():
        env.setdefault(key, value)
    return env


def shared_keys(airflow_home: Path) -> dict[str, str]:
    """Keys every Airflow component must share, generated once per install (never in the repo).

    Without one JWT secret the scheduler's task tokens fail at the API server; without one fernet
    key stored connections cannot be read back.
    """
    path = Path(airflow_home) / SECRETS_FILE
    if path.exists():
        keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    else:
        keys = {
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        }
        _write_private(path, json.dumps(keys, indent=2) + "\n")
    return keys


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def passwords_file(env: Mapping[str, str]) -> Path:
    """Where the simple auth manager keeps passwords (``[core] simple_auth_manager_passwords_file``)."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else Path(env["AIRFLOW_HOME"]) / PASSWORDS_FILE


def ensure_admin_password(env: Mapping[str, str], password: str | None = None) -> tuple[Path, str]:
    """Make sure the passwords file has the admin user; write ``password`` when given."""
    path = passwords_file(env)
    current: dict[str, str] = {}
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8") or "{}")
    if password is None and current.get(ADMIN_USER):
        return path, current[ADMIN_USER]
    current[ADMIN_USER] = password or secrets.token_urlsafe(12)
    _write_private(path, json.dumps(current) + "\n")
    return path, current[ADMIN_USER]


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


def tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a log file ("" when missing)."""
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


ENV_KEYS = ("HARVEST_REPO", "HARVEST_HOME", "AIRFLOW_HOME", "AIRFLOW_CONFIG", "PYTHONPATH")


def env_lines(env: Mapping[str, str] | None = None) -> list[str]:
    """``KEY=value`` lines of what an ``airflow`` command needs to join the local install
    (paths and the shared keys), for ``export $(make -s env)``."""
    full = local_env(base=env)
    keys = [*ENV_KEYS, *shared_keys(Path(full["AIRFLOW_HOME"]))]
    return [f"{key}={full[key]}" for key in keys]


if __name__ == "__main__":  # python scripts/harvest_local.py env
    if sys.argv[1:] != ["env"]:
        sys.exit("usage: python scripts/harvest_local.py env")
    sys.stdout.write("\n".join(env_lines()) + "\n")
