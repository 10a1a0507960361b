"""The lock installs and Harvest works on the other supported Pythons (3.12, 3.13).

The whole suite runs on the Python of ``.venv`` (3.11 in CI); this runs
``scripts/check_python_versions.py`` for each other version found on the machine: a fresh venv
from ``requirements-dev.lock``, the harvest package, an import of every pinned package, the
source specs and the DAG integrity test (``tests/dags/test_dag_integrity.py``) on that
interpreter; ``make check-pythons`` runs the whole of ``tests/dags``.

A version with no interpreter here is skipped with the reason, in CI too: an interpreter is not
a service CI can start, and ``scripts/find_python.sh`` says what it looked for.
``HARVEST_CHECK_PYTHONS`` picks the versions: by default only the newest, 3.13, which keeps
``make test`` (and CI) about two minutes longer rather than four; ``make check-pythons`` checks
3.12 and 3.13, and ``HARVEST_CHECK_PYTHONS="3.12 3.13"`` runs both here (empty: none).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_python_versions.py"
VERSIONS = ("3.12", "3.13")
INTEGRITY = "tests/dags/test_dag_integrity.py"
SELECTED = os.environ.get("HARVEST_CHECK_PYTHONS", "3.13").split()


@pytest.mark.pythons
@pytest.mark.timeout(1800)  # a cold uv cache downloads ~280 wheels, then imports and tests/dags
@pytest.mark.parametrize("version", VERSIONS)
def test_lock_installs_and_dags_pass_on(version: str) -> None:
    if version not in SELECTED:
        pytest.skip(
            f"HARVEST_CHECK_PYTHONS={' '.join(SELECTED)!r} leaves out {version} "
            "(`make check-pythons` checks it)"
        )
    find = subprocess.run(
        [str(REPO / "scripts" / "find_python.sh"), version], capture_output=True, text=True
    )
    if find.returncode != 0:
        pytest.skip(f"no CPython {version} on this machine: {find.stderr.splitlines()[0]}")
    check = subprocess.run(
        # DAG integrity only (every DAG parses, house rules): the whole of tests/dags runs real
        # dag.test() crawls, minutes on 2 cores, and adds nothing version-specific
        [sys.executable, str(SCRIPT), version, "--require", "--pytest", INTEGRITY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    report = check.stdout[-6000:] + check.stderr[-3000:]
    assert check.returncode == 0, f"{SCRIPT.name} {version} failed:\n{report}"
    summary = check.stdout.split("Python versions checked", 1)[-1]
    assert f"{version}: passed" in summary, report
    assert "pytest: ok" in summary and " passed" in summary, report
