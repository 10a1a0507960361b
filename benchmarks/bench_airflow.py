"""Airflow's overhead on one partition: ``make demo``'s ``dag.test()`` against ``harvest run``.

    python benchmarks/bench_airflow.py            # 300 listings (the demo day), 3 rounds
    python benchmarks/bench_airflow.py --quick    # 60 listings, 1 round: checks it works

The same partition (source ``demo``, one date, the demo spec's own crawl settings) goes through
all four stages two ways, each a fresh process timed from start to exit, with a fresh
``HARVEST_HOME`` (embedded defaults: file raw store, file HTTP cache, SQLite warehouse):

* ``harvest run``: ``python -m harvest run --source demo --date D --base-url URL``, the baseline;
* Airflow: ``python scripts/demo.py --date D --base-url URL`` (what ``make demo`` runs for a
  date: the ``harvest_demo`` DAG through ``dag.test()``, its tasks in the process, XComs and
  task states in Airflow's SQLite metadata DB). The metadata DB is migrated and the pool set
  once before timing (a first ``make demo`` pays that once per install).

Both crawl the same demo site, served by its own process and warmed by an untimed run first;
rounds alternate in rotated order; both sides must leave the same rows in ``processed_demo``
(count and a hash of the contents, ``loaded_at`` aside). Prints the median wall and CPU time
(the process and its children: the crawl child included) of each with spread, and the ratios
Airflow / ``harvest run`` (median of the rounds' ratios). Goal: wall time <= 1.3 x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    REPO,
    SiteProcess,
    _child_env,
    load_average,
    median,
    ratio_line,
    rotated,
    spread,
)

DAY = dt.date(2026, 3, 1)
GOAL = 1.3


def warehouse_digest(home: Path) -> tuple[int, str]:
    """(rows, sha256 of the sorted rows) of ``processed_demo`` in ``home``'s SQLite warehouse,
    ``loaded_at`` left out."""
    with sqlite3.connect(home / "warehouse.db") as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(processed_demo)")]
        wanted = ", ".join(f'"{c}"' for c in columns if c != "loaded_at")
        rows = sorted(repr(r) for r in conn.execute(f"SELECT {wanted} FROM processed_demo"))  # noqa: S608
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one command."""
    before = os.times()
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=1800, check=False, cwd=REPO)  # fmt: skip
    wall = time.monotonic() - started
    after = os.times()
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {proc.returncode}:\n{tail}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def run_side(
    side: str, base_url: str, airflow_home: Path, work: Path
) -> tuple[float, float, tuple[int, str]]:
    """One partition by ``side`` (``cli`` | ``airflow``) under a fresh home: (wall, CPU, digest)."""
    home = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=work))
    env = _child_env()
    env.update(
        HARVEST_HOME=str(home),
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW_CONFIG=str(REPO / "airflow.cfg"),
        HARVEST_REPO=str(REPO),
        PYTHONPATH=os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in ("HARVEST_WAREHOUSE_URL", "HARVEST_RAW_STORE_URL", "HARVEST_CACHE_URL"):
        env.pop(name, None)  # embedded defaults on both sides
    if side == "cli":
        command = [sys.executable, "-m", "harvest", "run", "--source", "demo",
                   "--date", DAY.isoformat(), "--base-url", base_url]  # fmt: skip
    else:
        command = [sys.executable, str(REPO / "scripts/demo.py"), "--source", "demo",
                   "--date", DAY.isoformat(), "--base-url", base_url]  # fmt: skip
    wall, cpu = timed(command, env, home / f"{side}.log")
    return wall, cpu, warehouse_digest(home)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 listings, 1 round")
    parser.add_argument("--listings", type=int, help="listings on the day (default 300)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3)")
    args = parser.parse_args()
    listings = args.listings or (60 if args.quick else 300)
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"== Airflow overhead, one partition: {listings} listings (no JavaScript pages), "
          f"{rounds} rounds in rotated order; {load_average()}", flush=True)  # fmt: skip
    sides = {"cli": "harvest run", "airflow": "Airflow (make demo, dag.test)"}
    wall: dict[str, list[float]] = {s: [] for s in sides}
    cpu: dict[str, list[float]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp, SiteProcess(listings) as site:
        work = Path(tmp)
        airflow_home = work / "airflow"
        # untimed: migrates the metadata DB, sets the pool, warms the site and the disk cache
        expected = run_side("airflow", site.base_url, airflow_home, work)[2]
        if expected[0] == 0:
            raise RuntimeError("the warm-up run loaded no rows")
        for n in range(rounds):
            for side in rotated(list(sides), n):
                w, c, got = run_side(side, site.base_url, airflow_home, work)
                if got != expected:
                    raise RuntimeError(
                        f"{sides[side]} left {got} in processed_demo, expected {expected}"
                    )
                wall[side].append(w)
                cpu[side].append(c)
            print(f"  round {n + 1}: " + ", ".join(
                f"{sides[s]} {wall[s][-1]:.1f} s wall / {cpu[s][-1]:.1f} s CPU" for s in sides
            ) + f"; {expected[0]} rows each")  # fmt: skip
    for side, label in sides.items():
        print(f"{label:<32} wall {median(wall[side]):6.1f} s (spread {spread(wall[side], '.1f')}), "
              f"CPU {median(cpu[side]):6.1f} s (spread {spread(cpu[side], '.1f')})")  # fmt: skip
    walls = [a / b for a, b in zip(wall["airflow"], wall["cli"], strict=True)]
    cpus = [a / b for a, b in zip(cpu["airflow"], cpu["cli"], strict=True)]
    print(ratio_line("Airflow / harvest run, wall time", walls, median(walls) <= GOAL,
                     f"<= {GOAL}", unit="x"))  # fmt: skip
    print(ratio_line("Airflow / harvest run, CPU time", cpus, None, "", unit="x"))
    print(load_average())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_airflow failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
