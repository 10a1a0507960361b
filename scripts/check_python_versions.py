"""`make check-pythons`: install the lock on the other supported Pythons and prove it works there.

Harvest supports CPython 3.11, 3.12 and 3.13 with one universal lock (``requirements-dev.lock``,
resolved with ``uv pip compile --universal``). CI runs every test on 3.11 (``make test``); this
script checks each other version found on the machine, in its own venv ``.venvs/py3.X``:

1. ``uv venv`` with the interpreter ``scripts/find_python.sh 3.X`` finds (PATH, pyenv, uv);
2. ``uv pip sync requirements-dev.lock``: the exact lock, every wheel for that version;
3. ``uv pip install --no-deps -e .``: the harvest package accepts that version;
4. imports every runtime package pinned in ``requirements.txt`` (the module each one provides,
   listed in ``IMPORTS``; a pin without an entry there fails the check);
5. ``python -m harvest specs``: every bundled source spec validates;
6. pytest on ``tests/dags`` (every DAG file parses with no import error and keeps the house
   rules), or the paths given with ``--pytest``.

    python scripts/check_python_versions.py [3.12 3.13] [--require] [--pytest "tests/dags tests/unit"]

Prints one line per step and a summary; exits 0 when every version found passed, 1 when one
failed or (with ``--require``) was not found. A version not found is reported and skipped.
Standard library only: it runs under whichever Python launches it (``make`` uses ``.venv``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OTHER_VERSIONS = ("3.12", "3.13")
LOCK = REPO / "requirements-dev.lock"
STEP_TIMEOUT_S = 1200

# The module each pinned runtime distribution (requirements.txt) is checked by: its top-level
# package, or for Airflow providers the hook, executor or log handler Harvest configures.
IMPORTS = {
    "msgspec": "msgspec",
    "apache-airflow": "airflow.dag_processing.dagbag",
    "apache-airflow-providers-postgres": "airflow.providers.postgres.hooks.postgres",
    "apache-airflow-providers-mongo": "airflow.providers.mongo.hooks.mongo",
    "apache-airflow-providers-redis": "airflow.providers.redis.hooks.redis",
    "apache-airflow-providers-standard": "airflow.providers.standard.operators.python",
    "apache-airflow-providers-elasticsearch": "airflow.providers.elasticsearch.log.es_task_handler",
    "apache-airflow-providers-celery": "airflow.providers.celery.executors.celery_executor",
    "apache-airflow-providers-fab": "airflow.providers.fab.auth_manager.fab_auth_manager",
    "celery": "celery",
    "scrapy": "scrapy",
    "spidermon": "spidermon.contrib.scrapy.monitors",
    "selenium": "selenium.webdriver",
    "pymongo": "pymongo",
    "sqlalchemy": "sqlalchemy",
    "psycopg2-binary": "psycopg2",
    "redis": "redis",
    "pandas": "pandas",
    "great-expectations": "great_expectations",
    "feature-engine": "feature_engine",
    "category-encoders": "category_encoders",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "optuna": "optuna",
    "optuna-integration": "optuna_integration",
    "mlflow": "mlflow",
    "shap": "shap",
    "lime": "lime.lime_tabular",
    "statsd": "statsd",
    "sentry-sdk": "sentry_sdk",
    "pydantic": "pydantic",
    "pyyaml": "yaml",
    "rapidfuzz": "rapidfuzz",
    "price-parser": "price_parser",
    "dateparser": "dateparser",
    "croniter": "croniter",
    "httpx": "httpx",
    "dedupe": "dedupe",
    "btrees": "BTrees.OOBTree",
    "dask": "dask.dataframe",
    "distributed": "distributed",
    "python-json-logger": "pythonjsonlogger.json",
    "jmespath": "jmespath",
    "extruct": "extruct",
    "streamlit": "streamlit",
    "plotly": "plotly",
    "statsmodels": "statsmodels.api",
    "skrub": "skrub",
    "rich": "rich.progress",
}

# Run inside the checked venv: import each module, report every failure (not only the first).
IMPORT_PROGRAM = """
import importlib, sys, traceback
failed = 0
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except Exception:
        failed += 1
        sys.stderr.write(f"import {module} failed:\\n{traceback.format_exc()}\\n")
sys.stdout.write(f"{len(sys.argv) - 1 - failed} of {len(sys.argv) - 1} imported\\n")
sys.exit(1 if failed else 0)
"""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Result:
    """One version's outcome: ``status`` is ``passed``, ``failed`` or ``not found``."""

    version: str
    status: str = "not found"
    python: str = ""
    full_version: str = ""
    steps: list[str] = field(default_factory=list)


def pinned_distributions(requirements: Path = REPO / "requirements.txt") -> list[str]:
    """The distribution names pinned in ``requirements``, lower-case, extras dropped."""
    names = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0].lower())
    return names


def modules_to_import() -> list[str]:
    """``IMPORTS``' module for every pin in requirements.txt; ValueError names a pin without one."""
    missing = [name for name in pinned_distributions() if name not in IMPORTS]
    if missing:
        raise ValueError(
            f"requirements.txt pins {', '.join(missing)} but scripts/check_python_versions.py "
            "IMPORTS has no module to import for it: add one"
        )
    return [IMPORTS[name] for name in pinned_distributions()]


def find_python(version: str) -> str | None:
    """The interpreter ``scripts/find_python.sh`` finds for ``version`` (3.X), or None."""
    proc = subprocess.run(  # noqa: S603 - fixed command, no shell
        [str(REPO / "scripts" / "find_python.sh"), version],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None


def find_uv() -> str:
    """uv beside this interpreter (``.venv/bin/uv``, what ``make venv`` installs), else on PATH."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit(
            f"error: uv not found beside {sys.executable} nor on PATH: run `make venv`"
        )
    return uv


def check_env(venv: Path) -> dict[str, str]:
    """What the Makefile exports, with Harvest's and Airflow's homes inside the checked venv."""
    home = venv / "harvest"
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        HARVEST_REPO=str(REPO),
        HARVEST_HOME=str(home),
        AIRFLOW_HOME=str(home / "airflow"),
        AIRFLOW_CONFIG=str(REPO / "airflow.cfg"),
        PYTHONPATH=os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)]),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_step(result: Result, name: str, command: list[str], env: dict[str, str]) -> bool:
    """Run one step in the repo; record ``name: ok|FAILED (N s) <last line>``; show a failure's tail."""
    shown = [f"<{len(c.splitlines())}-line program>" if "\n" in c else c for c in command]
    say(f"[{result.version}] {name}: {shlex.join(shown)}")
    started = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603 - commands built here, no shell
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        stdout, output, ok = proc.stdout, proc.stdout + proc.stderr, proc.returncode == 0
    except subprocess.TimeoutExpired as exc:
        stdout = output = f"timed out after {exc.timeout:.0f} s"
        ok = False
    lines = output.strip().splitlines()
    # The step's own last word is on stdout (pytest's summary, "31 of 31 imported"); libraries
    # log to stderr.
    last = (stdout.strip().splitlines() or lines or [""])[-1]
    result.steps.append(
        f"{name}: {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.0f} s) {last}"
    )
    say(f"[{result.version}]   {result.steps[-1]}")
    if not ok:
        say("\n".join(lines[-40:]))
    return ok


def check_version(version: str, pytest_args: list[str], uv: str) -> Result:
    """Build ``.venvs/py<version>`` from the lock and run the checks; see the module docstring."""
    result = Result(version)
    python = find_python(version)
    if python is None:
        result.steps.append("no usable interpreter (scripts/find_python.sh " + version + ")")
        return result
    result.python = python
    venv = REPO / ".venvs" / f"py{version}"
    vpython = str(venv / "bin" / "python")
    env = check_env(venv)
    steps = [
        ("venv", [uv, "venv", "--quiet", "--clear", "--python", python, str(venv)]),
        ("sync", [uv, "pip", "sync", "--quiet", "--python", vpython, str(LOCK)]),
        ("harvest", [uv, "pip", "install", "--quiet", "--python", vpython, "--no-deps", "-e", "."]),
        ("imports", [vpython, "-c", IMPORT_PROGRAM, *modules_to_import()]),
        ("specs", [vpython, "-m", "harvest", "specs"]),
        ("pytest", [vpython, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]),
    ]
    result.status = "passed"
    for name, command in steps:
        if not run_step(result, name, command, env):
            result.status = "failed"
            break
        if name == "venv":
            result.full_version = subprocess.run(  # noqa: S603 - the venv's own python
                [vpython, "-c", "import platform; print(platform.python_version())"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "versions", nargs="*", default=list(OTHER_VERSIONS), help="Python versions (3.X) to check"
    )
    parser.add_argument("--require", action="store_true", help="fail when a version is not found")
    parser.add_argument(
        "--pytest",
        default="tests/dags",
        help="pytest arguments run in each venv (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    uv = find_uv()
    results = [check_version(v, shlex.split(args.pytest), uv) for v in args.versions]

    say()
    say("Python versions checked (lock: requirements-dev.lock):")
    for r in results:
        where = f" {r.full_version} {r.python}" if r.python else ""
        say(f"  {r.version}: {r.status}{where}")
        for step in r.steps:
            say(f"      {step}")
    failed = [r for r in results if r.status == "failed"]
    absent = [r for r in results if r.status == "not found"]
    return 1 if failed or (args.require and absent) else 0


if __name__ == "__main__":
    sys.exit(main())
