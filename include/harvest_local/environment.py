"""The environment of a local Airflow: paths, the keys its components share, the admin password.

What the Makefile exports (``HARVEST_REPO``, ``HARVEST_HOME``, ``AIRFLOW_HOME``,
``AIRFLOW_CONFIG``, ``PYTHONPATH``) plus the secrets every component of one install must share,
generated once under ``AIRFLOW_HOME`` (never in the repo). Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

# include/harvest_local/environment.py -> the checkout (airflow.cfg, dags/, plugins/)
REPO = Path(__file__).resolve().parents[2]
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
    filters = [f for f in env.get("PYTHONWARNINGS", "").split(",") if f]
    env["PYTHONWARNINGS"] = ",".join([*filters, *(f for f in QUIET if f not in filters)])
    for key, value in shared_keys(af_home).items():
        env.setdefault(key, value)
    return env


# Warnings filters (PYTHONWARNINGS, after the user's own): Airflow's CLI module for `airflow dags
# ...` warns on every such command that graphviz is not installed (only `airflow dags show` draws
# with it).
QUIET = ("ignore::UserWarning:airflow.cli.commands.dag_command",)


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


ENV_KEYS = (
    "HARVEST_REPO",
    "HARVEST_HOME",
    "AIRFLOW_HOME",
    "AIRFLOW_CONFIG",
    "PYTHONPATH",
    "PYTHONWARNINGS",
)


def env_lines(env: Mapping[str, str] | None = None) -> list[str]:
    """``KEY=value`` lines of what an ``airflow`` command needs to join the local install
    (paths and the shared keys), for ``export $(make -s env)``."""
    full = local_env(base=env)
    keys = [*ENV_KEYS, *shared_keys(Path(full["AIRFLOW_HOME"]))]
    return [f"{key}={full[key]}" for key in keys]
