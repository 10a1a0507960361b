"""Every benchmark runs at HEAD: ``benchmarks/bench_*.py --quick``, one test per script.

A benchmark nobody runs goes stale (``bench_load.py`` failed for weeks on a spec change), so
``make test`` runs each in its quick form, beside the rest of the suite (see the Makefile). The
figures of a quick run mean nothing (small sizes, a busy machine): a test only checks that the
script ran to the end, compared its sides (the scripts fail when the sides disagree) and printed
its ratios with their rounds or its goals. A new ``bench_*.py`` is picked up by itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((REPO / "benchmarks").glob("bench_*.py"))
# services a script needs; without them it would measure nothing (CI=true fails, else skip)
NEEDS = {
    "bench_load": "postgres_url",
    "bench_reload": "postgres_url",
    "bench_dask_pipeline": "postgres_url",
    "bench_js": "chromium",
}
PRINTED = re.compile(r"median of \d+ rounds?|medians? of \d+|goal (met|missed)")

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_benchmark_runs_quick(script: Path, request: pytest.FixtureRequest) -> None:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if script.stem in NEEDS:
        service = request.getfixturevalue(NEEDS[script.stem])
        if NEEDS[script.stem] == "postgres_url":
            env["HARVEST_TEST_POSTGRES_URL"] = service
    proc = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = f"{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{script.name} --quick exited {proc.returncode}:\n{output}"
    assert PRINTED.search(proc.stdout), f"{script.name} printed no ratio or goal:\n{output}"
