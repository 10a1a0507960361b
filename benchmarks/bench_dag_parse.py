"""DAG parse time: each file in ``dags/`` against Airflow's ``tutorial_taskflow_api.py``.

    python benchmarks/bench_dag_parse.py            # 7 processes x 5 parses per file
    python benchmarks/bench_dag_parse.py --quick    # 2 x 2: checks it works

Every file is parsed the way the DAG processor does it, ``DagBag(dag_folder=file)`` (Airflow 3.3
has no ``include_examples``: examples are a bundle of their own), in a fresh Python process that has already imported Airflow (the
import is not timed), has pre-imported the ``airflow.*`` modules the file imports (as the DAG
processor does, ``parsing_pre_import_modules``) and has parsed a trivial DAG once (Airflow's own
first-parse costs); that set-up is printed apart. Per process: the first parse of the file (cold: it also
imports what the file imports, e.g. ``harvest`` and the plugins, as a fresh DAG-processor child
would) and then repeated parses (warm: modules cached). Medians over ``--processes`` processes, the files taken in turn so that
machine noise hits them alike. Environment: a temporary ``AIRFLOW_HOME`` and ``HARVEST_HOME``,
the repo's ``airflow.cfg``, ``PYTHONPATH=include:plugins``. A file with import errors or no DAG
fails the benchmark. Ratios: each process parses every file once cold, so the file's cold parse
over the tutorial's in the same process round gives one ratio per round. Goal: every file's
cold parse <= 1.5 x the tutorial's (median of the rounds). Beside it, without a goal, the same
ratio of the cold parses' CPU time (``time.process_time``), steadier on a busy machine.

The files that read the specs through ``harvest_airflow.dag_specs`` find its cache filled (one
untimed parse of each file first, as the DAG processor's first parse after a spec change does);
each round also parses them once with the cache removed, printed apart (not the goal): what a
parse costs right after a spec or Harvest changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, load_average, median, ratio_line, spread

sys.path.insert(0, str(REPO / "plugins"))
from harvest_airflow.dag_specs import CACHE_NAME

DAGS = REPO / "dags"
RATIO_GOAL = 1.5  # a DAG file's cold parse against Airflow's tutorial DAG, same process set-up

WARMUP_DAG = """from airflow.sdk import DAG

with DAG("bench_warmup", schedule=None):
    pass
"""
WORKER = """
import json, sys, time
import airflow  # noqa: F401 - imported before timing, as in the DAG processor
from airflow.dag_processing.dagbag import DagBag

import importlib
from airflow.utils.file import iter_airflow_imports

path, repeat, warmup = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
for module in iter_airflow_imports(path):  # what the DAG processor pre-imports before forking
    importlib.import_module(module)
DagBag(dag_folder=warmup)  # Airflow's own first-parse costs, paid once per DAG processor
first_bag = time.perf_counter() - started
times, cpu = [], []
for _ in range(repeat):
    started, cpu_started = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder=path)
    times.append(time.perf_counter() - started)
    cpu.append(time.process_time() - cpu_started)
print(json.dumps({"times": times, "cpu": cpu, "first_bag": first_bag, "dags": sorted(bag.dags),
                  "errors": {str(k): str(v)[-500:] for k, v in bag.import_errors.items()}}))
"""


def tutorial_path() -> Path:
    import airflow

    return Path(airflow.__file__).resolve().parent / "example_dags/tutorial_taskflow_api.py"


def dag_files(wait_seconds: float) -> list[Path]:
    """The DAG files in ``dags/``, waiting up to ``wait_seconds`` for the first one to appear."""
    deadline = time.monotonic() + wait_seconds
    while True:
        files = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
        if files or time.monotonic() >= deadline:
            return files
        time.sleep(5)


def parse_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(tmp / "airflow"),
        AIRFLOW_CONFIG=str(REPO / "airflow.cfg"),
        HARVEST_REPO=str(REPO),
        HARVEST_HOME=str(tmp / "harvest"),
        PYTHONPATH=os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
    )
    return env


def uses_spec_cache(path: Path) -> bool:
    return "dag_specs" in path.read_text(encoding="utf-8")


def parse_in_fresh_process(
    path: Path, repeat: int, env: dict[str, str], warmup: Path, empty_cache: bool = False
) -> tuple[list[float], float, float]:
    """Seconds of each of ``repeat`` DagBag parses of ``path`` in one new process, of the
    warm-up parse of a trivial DAG before them, and CPU seconds of the first (cold) parse;
    ``empty_cache``: the spec cache removed first."""
    if empty_cache:
        (Path(env["HARVEST_HOME"]) / CACHE_NAME).unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(path), str(repeat), str(warmup)],
        env=env, cwd=env["AIRFLOW_HOME"], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"parsing {path} failed (exit code {proc.returncode}):\n{tail}")
    result = json.loads(lines[-1])
    if result["errors"] or not result["dags"]:
        raise RuntimeError(f"{path}: import errors {result['errors']} or no DAG {result['dags']}")
    return [float(t) for t in result["times"]], float(result["first_bag"]), float(result["cpu"][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check it works")
    parser.add_argument("--processes", type=int, help="fresh processes per file")
    parser.add_argument("--repeat", type=int, help="parses per process (first one cold)")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for dags/*.py")
    args = parser.parse_args()
    processes = args.processes or (2 if args.quick else 7)
    repeat = max(2, args.repeat or (2 if args.quick else 5))
    files = dag_files(0.0 if args.quick else args.wait)
    if not files:
        raise RuntimeError(f"no DAG files in {DAGS} after waiting {args.wait:g} s")
    tutorial = tutorial_path()
    if not tutorial.is_file():
        raise RuntimeError(f"Airflow's example DAG is not installed at {tutorial}")
    print(f"== DAG parse time: {len(files)} file(s) in dags/, {processes} processes x "
          f"{repeat} parses each, Airflow imported first; {load_average()}", flush=True)  # fmt: skip
    cached = [p for p in files if uses_spec_cache(p)]
    # (file, spec cache removed first): the tutorial, each file, each cached file without cache
    everything = [(tutorial, False), *((p, False) for p in files), *((p, True) for p in cached)]
    cold: dict[tuple[Path, bool], list[float]] = {entry: [] for entry in everything}
    warm: dict[tuple[Path, bool], list[float]] = {entry: [] for entry in everything}
    cold_cpu: dict[tuple[Path, bool], list[float]] = {entry: [] for entry in everything}
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as tmp:
        env = parse_env(Path(tmp))
        Path(env["AIRFLOW_HOME"]).mkdir()
        warmup = Path(tmp) / "bench_warmup_dag.py"
        warmup.write_text(WARMUP_DAG)
        first_bags: list[float] = []
        for path in files:  # untimed: fills the spec cache as the first parse after a change
            parse_in_fresh_process(path, 1, env, warmup)
        for n in range(processes):
            for path, empty in (
                everything[n % len(everything) :] + everything[: n % len(everything)]
            ):
                times, first_bag, cpu = parse_in_fresh_process(path, repeat, env, warmup, empty)
                if empty:  # the next file finds the cache filled again, as in the steady state
                    parse_in_fresh_process(path, 1, env, warmup)
                first_bags.append(first_bag)
                cold[path, empty].append(times[0])
                warm[path, empty].extend(times[1:])
                cold_cpu[path, empty].append(cpu)
    base_cold, base_warm = median(cold[tutorial, False]), median(warm[tutorial, False])
    print(f"  (set-up per process, not counted below: pre-import + first DagBag "
          f"{1000 * median(first_bags):.0f} ms median)")  # fmt: skip
    print(f"tutorial_taskflow_api.py: cold {1000 * base_cold:.1f} ms (spread "
          f"{spread([1000 * t for t in cold[tutorial, False]], '.1f')}), warm {1000 * base_warm:.1f} ms "
          f"per parse (median)")  # fmt: skip
    met = True
    for path, empty in everything[1:]:
        c, w = median(cold[path, empty]), median(warm[path, empty])
        ratios = [f / t for f, t in zip(cold[path, empty], cold[tutorial, False], strict=True)]
        name = f"{path.name}{' (spec cache empty, not the goal)' if empty else ''}"
        if not empty:
            met &= median(ratios) <= RATIO_GOAL
        print(f"{name}: cold {1000 * c:.1f} ms (spread "
              f"{spread([1000 * t for t in cold[path, empty]], '.1f')}), warm {1000 * w:.1f} ms "
              f"({w / base_warm:.1f}x tutorial) per parse (median)")  # fmt: skip
        print(ratio_line(f"{name} cold parse / tutorial's", ratios,
                         median(ratios) <= RATIO_GOAL, f"<= {RATIO_GOAL}", unit="x"))  # fmt: skip
        cpu_ratios = [f / t for f, t in zip(cold_cpu[path, empty], cold_cpu[tutorial, False],
                                            strict=True)]  # fmt: skip
        print(ratio_line(f"{name} cold parse CPU / tutorial's (steadier on a busy machine)",
                         cpu_ratios, None, "", unit="x"))  # fmt: skip
    print(f"all DAG files: goal {'met' if met else 'missed'}; {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"bench_dag_parse failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
