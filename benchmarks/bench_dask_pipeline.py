"""One large partition through validate -> clean -> load: the pandas path against the Dask path.

Both sides start from the same raw partition: synthetic records (:func:`record_parts`: the
demo site's mess of ``bench_validation.synthetic_records`` -- price formats, units, typos,
missing fields, repeated listing ids -- with re-listings and copies) written once, before any
clock, by a process of its own as a crawl writes them: one item page per record in a file raw
store (:func:`write_raw_store`). Then the real stages, as the pipeline runs them:
``harvest.validation.validate`` (the raw partition read whole and validated in chunks of
``--part-rows`` on pandas; on Dask read and extracted part by part, never whole, then
validated one part per task), ``harvest.cleaning.clean`` (normalisation, de-duplication with
the demo's dedupe model, imputation) and ``harvest.loading.load`` into a fresh PostgreSQL
database of the side's own, with ``HARVEST_DASK_THRESHOLD_ROWS`` 0 (pandas) or 1 (Dask, on a
``LocalCluster`` of 2 worker processes of one thread that the side starts and its stages use
through ``HARVEST_DASK_SCHEDULER``). Each stage runs in a process of its own, as Airflow runs
each task (the earlier stages' reports passed in as the DAG passes them through XCom), so a
stage's peak is its own and not what an earlier stage left in the allocator; printed per side:
wall time per stage, CPU time with the workers', and the peak memory (VmHWM) of each stage's
process, of the process holding the cluster's scheduler and of each worker (the workers serve
every stage: their peak is the largest of the three). After its load each side also copies the
same rows with ``psql \\copy``
(CSV, into a plain table shaped like the processed one): the load's rows/s against it.

Every round checks that both sides quarantined as many records, dropped the same duplicates
per reason and loaded the same rows (a digest of the processed table), and fails naming the
difference when they do not. Above ``--pandas-max-rows`` (1,000,000) the pandas side is left
out (said in the output: at a million records it needs several GB); the Dask side's figures
are still printed.

    .venv/bin/python benchmarks/bench_dask_pipeline.py                    # 10,000,000, Dask, 1 round
    .venv/bin/python benchmarks/bench_dask_pipeline.py --records 1000000  # both sides, 3 rounds
    .venv/bin/python benchmarks/bench_dask_pipeline.py --quick            # 3,000, 1 round: it works
    # the raw store written once (about 10 min and 6 GB at 10M), then reused by later runs:
    .venv/bin/python benchmarks/bench_dask_pipeline.py --rounds 0 --raw-cache /data/raw10m
    .venv/bin/python benchmarks/bench_dask_pipeline.py --raw-cache /data/raw10m

The Dask workers get ``HARVEST_DASK_WORKER_MEMORY`` each (default 1.5 GiB), as the pipeline's own
``LocalCluster`` does; a task over it is killed and the run stops with ``DaskWorkerKilled``.

Goal: every process of the Dask side under 1 GB (``PEAK_GOAL_MB``) at 10M records.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import goal_line, load_average, median, ratio_line, rotated, spread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))
PEAK_GOAL_MB = 1000
SIDES = ["pandas", "dask"]
VOLATILE = ("_at",)


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM, not inherited by a worker's fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _processed(url: str) -> tuple[str, list[str], int, str]:
    """The processed table's name, its columns (times left out), rows and content digest."""
    import sqlalchemy as sa
    from _warehouse import digest

    engine = sa.create_engine(url)
    try:
        table = sa.Table("processed_demo", sa.MetaData(), autoload_with=engine)
        columns = [c.name for c in table.c if not c.name.endswith(VOLATILE)]
        rows, total = digest(engine, table.name, columns)
    finally:
        engine.dispose()
    return table.name, columns, rows, total


def _psql_copy(url: str, table: str, columns: list[str], work: Path) -> tuple[float, float]:
    """Seconds of ``psql \\copy`` of the processed rows (as CSV) into a plain table of its
    columns, and into one with the processed table's primary key and indexes too (what the
    load's COPY maintains)."""
    import sqlalchemy as sa

    psql_url = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
    csv_path = work / "processed.csv"
    names = ", ".join(f'"{c}"' for c in columns)

    def psql(command: str) -> None:
        subprocess.run(["psql", psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True)

    select = f"SELECT {names} FROM {table}"  # noqa: S608  # the benchmark's own names
    psql(f"\\copy ({select}) TO '{csv_path}' WITH (FORMAT csv)")
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        key = inspector.get_pk_constraint(table)["constrained_columns"]
        indexes = [i["column_names"] for i in inspector.get_indexes(table)]
    finally:
        engine.dispose()
    seconds = []
    for copy, keyed in (("bench_copy", False), ("bench_copy_keyed", True)):
        psql(f"CREATE TABLE {copy} AS {select} WITH NO DATA")
        if keyed:
            wanted = [c for c in key if c in columns]
            psql(f"ALTER TABLE {copy} ADD PRIMARY KEY ({', '.join(wanted)})")
            for n, on in enumerate(i for i in indexes if set(i) <= set(columns)):
                psql(f"CREATE INDEX {copy}_{n} ON {copy} ({', '.join(on)})")
        started = time.perf_counter()
        psql(f"\\copy {copy} ({names}) FROM '{csv_path}' WITH (FORMAT csv)")
        seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[1]


def record_parts(n: int, part_rows: int) -> Iterator[Any]:
    """``n`` extracted records in frames of ``part_rows`` (the last one shorter), made one part
    at a time so that no process holds them all: each part is ``synthetic_records`` (its own
    seed, its listings numbered on from the parts before, ids in the demo's format), 2% of it
    re-listed under a new id with the title reworded (near duplicates for the dedupe model)
    and 0.5% listed again the same (exact duplicates under another id: content-identical).
    The same ``n`` and ``part_rows`` give the same records."""
    import numpy as np
    import pandas as pd
    from bench_validation import listing_ids, synthetic_records

    for number, start in enumerate(range(0, n, part_rows)):
        rows = min(part_rows, n - start)
        relisted, again = rows // 50, rows // 200
        frame = synthetic_records(rows - relisted - again, seed=7 + number, start=start)
        rng = np.random.default_rng(11 + number)
        copies = frame.iloc[rng.choice(len(frame), relisted + again, replace=False)].copy()
        copies.loc[copies.index[:relisted], "title"] = (
            copies["title"].iloc[:relisted] + ", available now"
        )
        frame = pd.concat([frame, copies], ignore_index=True)
        copied = np.arange(start + len(frame) - len(copies), start + len(frame))
        ids = listing_ids(copied.tolist())
        tail = frame.index[len(frame) - len(copies) :]
        frame.loc[tail, "listing_id"] = pd.array(ids, dtype="string")
        frame.loc[tail, "url"] = pd.array(
            [f"http://127.0.0.1:8000/listing/{i}" for i in ids], dtype="string"
        )
        yield frame


def write_raw_store(n: int, part_rows: int, root: Path) -> None:
    """:func:`record_parts` as the raw store's item pages (one detail page per record, its
    fields the record's strings) in a :class:`FileRawStore` at ``root``, written as a crawl
    writes them (batches to a journal, then committed: one line per URL, in URL order)."""
    from bench_validation import DAY

    from harvest.storage.raw import FileRawStore, RawDocument

    store = FileRawStore(root, deferred=True)
    for part in record_parts(n, part_rows):
        names = [c for c in part.columns if c not in ("source", "logical_date", "url")]
        values = [part[c].astype(object).where(part[c].notna(), None).tolist() for c in names]
        store.upsert_many(
            RawDocument(
                source="demo",
                logical_date=DAY.isoformat(),
                url=str(url),
                status=200,
                fetched_at="2026-11-27T02:00:00+00:00",
                page_type="detail",
                fields=dict(zip(names, row, strict=True)),
            )
            for url, *row in zip(part["url"].tolist(), *values, strict=True)
        )
    store.commit("demo", DAY)
    store.close()


STAGES = ["validate", "clean", "load"]


def _settings(side: str, part_rows: int, work: Path, url: str, raw: Path, scheduler: str) -> Any:
    """The side's settings: its own ``HARVEST_HOME`` under ``work``, the raw store at ``raw``,
    the warehouse at ``url``, the Dask threshold 0 (pandas) or 1 (Dask, on ``scheduler``)."""
    from harvest.config.settings import Settings

    env = {
        "HARVEST_HOME": str(work / "home"),
        "HARVEST_RAW_STORE_URL": raw.as_uri(),
        "HARVEST_WAREHOUSE_URL": url,
        "HARVEST_DASK_THRESHOLD_ROWS": "0" if side == "pandas" else "1",
        "HARVEST_DASK_PART_ROWS": str(part_rows),
        "HARVEST_STATSD_ON": "false",
        "HARVEST_PROFILE_MAX_ROWS": "0",
    }
    if scheduler:
        env["HARVEST_DASK_SCHEDULER"] = scheduler
    return Settings.from_env(env)


def run_stage(
    stage: str, side: str, part_rows: int, work: Path, url: str, raw: Path, scheduler: str
) -> dict[str, Any]:
    """One stage of one side in this process, as an Airflow task runs it (a process of its own,
    the earlier stages' reports passed in, here through ``work/reports.json``); its wall and CPU
    time, this process's peak memory (VmHWM) and, for the load, the rows and the COPY's time."""
    from bench_validation import DAY

    from harvest import cleaning, loading, validation
    from harvest.config.settings import PACKAGE_DIR
    from harvest.config.spec import load_spec
    from harvest.partitions import Partition

    spec = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    settings = _settings(side, part_rows, work, url, raw, scheduler)
    partition = Partition.of(spec.name, DAY)
    reports_file = work / "reports.json"
    reports = json.loads(reports_file.read_text()) if reports_file.exists() else {}
    figures: dict[str, Any] = {"imports_mb": _peak_mb()}
    started, cpu = time.perf_counter(), time.process_time()
    if stage == "validate":
        done = validation.validate(
            spec, partition, settings, chunk_size=part_rows, data_docs=False
        ).to_dict()
    elif stage == "clean":
        validated_uri = reports["validate"]["validated_uri"]
        done = cleaning.clean(spec, partition, settings, validated_uri=validated_uri).to_dict()
    else:
        loaded = loading.load(
            spec, partition, settings, validation=reports["validate"], cleaning=reports["clean"],
            clean=cleaning.reclean,
        )  # fmt: skip
        done = loaded.to_dict()
        figures["loaded"], figures["write_seconds"] = int(loaded.loaded), float(loaded.seconds)
    figures["seconds"] = time.perf_counter() - started
    figures["cpu"] = time.process_time() - cpu
    figures["peak_mb"] = _peak_mb()
    reports_file.write_text(json.dumps({**reports, stage: done}, default=str))
    return figures


def run_side(
    side: str, rows: int, part_rows: int, work: Path, url: str, raw: Path
) -> dict[str, Any]:
    """One side: each stage in a process of its own (:func:`run_stage`, as Airflow runs each
    task), on the Dask side all on one ``LocalCluster`` this process starts (its scheduler in
    this process, measured too); the side's figures."""
    from contextlib import ExitStack

    seconds: dict[str, float] = {}
    figures: dict[str, Any] = {"workers_peak_mb": [], "workers_cpu": 0.0}
    peaks: dict[str, float] = {}
    started, cpu, stages_cpu = time.perf_counter(), time.process_time(), 0.0
    stage_figures: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        client, scheduler = None, ""
        if side == "dask":
            from distributed import Client, LocalCluster

            from harvest.storage.dask_frames import LOCAL_WORKERS

            cluster = stack.enter_context(
                LocalCluster(  # as harvest.storage.dask_frames.dask_client starts it
                    n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                    memory_limit=worker_memory(), dashboard_address=None,
                    env={"DASK_DATAFRAME__CONVERT_STRING": "False"},
                )
            )  # fmt: skip
            client = stack.enter_context(Client(cluster))
            scheduler = cluster.scheduler_address
            seconds["cluster"] = time.perf_counter() - started
        for stage in STAGES:
            command = [sys.executable, __file__, "--side", side, "--stage", stage]
            command += ["--work", str(work), "--part-rows", str(part_rows), "--url", url]
            command += ["--raw", str(raw), "--scheduler", scheduler]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
            proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-5000:], sep="\n", file=sys.stderr)
                raise SystemExit(f"bench_dask_pipeline: the {side} side's {stage} failed")
            done = json.loads(proc.stdout.strip().splitlines()[-1])
            stage_figures[stage] = done
            seconds[stage], peaks[stage] = done["seconds"], done["peak_mb"]
            stages_cpu += done["cpu"]
        if client is not None:
            usage = client.run(lambda: (_peak_mb(), time.process_time()))
            figures["workers_peak_mb"] = [peak for peak, _ in usage.values()]
            figures["workers_cpu"] = sum(cpu_s for _, cpu_s in usage.values())
    seconds["total"] = time.perf_counter() - started
    peaks["scheduler"] = _peak_mb() if side == "dask" else 0.0
    figures["cpu"] = time.process_time() - cpu + stages_cpu + figures["workers_cpu"]
    figures["peak_mb"] = max(peaks.values())
    figures["stage_peak_mb"] = peaks
    table, columns, processed_rows, total = _processed(url)
    figures["copy_seconds"], figures["copy_keyed_seconds"] = _psql_copy(url, table, columns, work)
    figures["seconds"] = seconds
    figures["loaded"] = int(stage_figures["load"]["loaded"])
    figures["write_seconds"] = float(stage_figures["load"]["write_seconds"])
    reports = json.loads((work / "reports.json").read_text())
    validated, cleaned = reports["validate"], reports["clean"]
    figures["digest"] = {
        "scraped": validated["scraped"],
        "valid": validated["valid"],
        "quarantined": validated["quarantined"],
        "duplicates": cleaned["duplicates"],
        "dropped": cleaned["dropped"],
        "imputed": cleaned["imputed"],
        "processed": [processed_rows, total],
    }
    return figures


def _round(side: str, args: argparse.Namespace, raw: Path) -> dict[str, Any]:
    from _warehouse import scratch_database

    with (
        tempfile.TemporaryDirectory(prefix="bench-dask-pipeline-") as work,
        scratch_database() as url,
    ):
        command = [sys.executable, __file__, "--side", side, "--work", work]
        command += ["--rows", str(args.rows), "--part-rows", str(args.part_rows)]
        command += ["--url", url.render_as_string(hide_password=False), "--raw", str(raw)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-5000:], sep="\n")
        raise SystemExit(f"bench_dask_pipeline: the {side} side failed")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _side_lines(side: str, results: list[dict[str, Any]]) -> None:
    stages = [
        s for s in ("cluster", "validate", "clean", "load", "total") if s in results[0]["seconds"]
    ]
    parts = []
    for stage in stages:
        values = [r["seconds"][stage] for r in results]
        parts.append(f"{stage} {median(values):.1f} s ({spread(values, '.1f')})")
    print(f"{side}: " + ", ".join(parts))
    peaks = [r["peak_mb"] for r in results]
    line = f"{side}: process peak {median(peaks):.0f} MB ({spread(peaks, '.0f')})"
    line += (
        " ("
        + ", ".join(
            f"{stage} {median([r['stage_peak_mb'][stage] for r in results]):.0f}"
            for stage in ("validate", "clean", "load", "scheduler")
            if results[0]["stage_peak_mb"].get(stage)
        )
        + " MB)"
    )
    if results[0]["workers_peak_mb"]:
        workers = [max(r["workers_peak_mb"]) for r in results]
        line += f", largest worker {median(workers):.0f} MB ({spread(workers, '.0f')})"
    print(line)
    for stage, key in (("load stage", "load"), ("its COPY", "write")):
        rate = [
            r["loaded"] / (r["seconds"][key] if key == "load" else r["write_seconds"])
            for r in results
        ]
        line = f"{side}: {stage} {median(rate):,.0f} rows/s ({spread(rate, ',.0f')})"
        for what, name in (("copy_seconds", "plain"), ("copy_keyed_seconds", "keyed")):
            copy_rate = [r["loaded"] / r[what] for r in results]
            ratios = [a / b for a, b in zip(rate, copy_rate, strict=True)]
            line += (
                f"; / psql \\copy into a {name} table ({median(copy_rate):,.0f} rows/s, "
                f"{spread(copy_rate, ',.0f')}) {median(ratios):.2f}x ({spread(ratios, '.2f')})"
            )
        print(line)


def worker_memory() -> str:
    """Each Dask worker's memory limit: ``HARVEST_DASK_WORKER_MEMORY`` as the pipeline's own
    ``LocalCluster`` reads it (``Settings.dask_worker_memory``, default 1.5 GiB)."""
    from harvest.config.settings import Settings

    return Settings.from_env(dict(os.environ)).dask_worker_memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", "--rows", dest="rows", type=int, default=10_000_000)
    parser.add_argument("--part-rows", type=int, default=50_000)
    parser.add_argument(
        "--rounds",
        type=int,
        help="default: 3 where both sides run, 1 where Dask runs alone; 0: only write the raw "
        "store (with --raw-cache, for later runs)",
    )
    parser.add_argument("--pandas-max-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--quick", action="store_true", help="3,000 records, parts of 1,000, 1 round"
    )
    parser.add_argument("--side", choices=[*SIDES, "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--scheduler", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--raw-cache",
        help="a folder for the raw store: written there once (marked complete by a file "
        "'complete-<records>-<part rows>'), reused by later runs of the same size",
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.part_rows, args.rounds = 3_000, 1_000, 1
    if args.side == "raw":
        write_raw_store(args.rows, args.part_rows, Path(args.raw))
        return 0
    if args.side and args.stage:
        figures = run_stage(
            args.stage,
            args.side,
            args.part_rows,
            Path(args.work),
            args.url,
            Path(args.raw),
            args.scheduler,
        )
        print(json.dumps(figures, default=str))
        return 0
    if args.side:
        figures = run_side(
            args.side, args.rows, args.part_rows, Path(args.work), args.url, Path(args.raw)
        )
        print(json.dumps(figures, default=str))
        return 0

    sides = SIDES if args.rows <= args.pandas_max_rows else ["dask"]
    if args.rounds is None:
        args.rounds = 3 if len(sides) == 2 else 1
    print(
        f"bench_dask_pipeline: {args.rows:,} records, parts of {args.part_rows:,}, "
        f"{args.rounds} rounds; Dask workers of {worker_memory()} "
        f"(HARVEST_DASK_WORKER_MEMORY); {load_average()}"
    )
    if len(sides) == 1:
        print(
            f"pandas side left out: {args.rows:,} records > --pandas-max-rows {args.pandas_max_rows:,}"
        )
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    raw_dir = (
        None if args.raw_cache else tempfile.TemporaryDirectory(prefix="bench-dask-pipeline-raw-")
    )
    raw = Path(args.raw_cache or raw_dir.name)  # type: ignore[union-attr]
    complete = raw / f"complete-{args.rows}-{args.part_rows}"
    if complete.exists():
        print(f"raw store reused from {raw}")
    else:
        if args.raw_cache and raw.exists() and any(raw.iterdir()):
            raise SystemExit(f"bench_dask_pipeline: --raw-cache {raw} holds something else")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
        command = [sys.executable, __file__, "--side", "raw", "--raw", str(raw)]
        command += ["--rows", str(args.rows), "--part-rows", str(args.part_rows)]
        subprocess.run(command, env=env, check=True)  # once, in its own process: not in the peaks
        complete.touch()
    if args.rounds == 0:
        print(f"raw store written to {raw}; no rounds run (--rounds 0)")
        return 0
    for round_index in range(args.rounds):
        for side in rotated(sides, round_index):
            results[side].append(_round(side, args, raw))
        digests = {side: results[side][-1]["digest"] for side in sides}
        if len(sides) == 2 and digests["pandas"] != digests["dask"]:
            want, got = digests["pandas"], digests["dask"]
            diff = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
            raise SystemExit(
                f"bench_dask_pipeline: the sides disagree in round {round_index + 1}: {diff}"
            )
    if raw_dir is not None:
        raw_dir.cleanup()
    print(f"after the rounds: {load_average()}")
    for side in sides:
        _side_lines(side, results[side])
    if len(sides) == 2:
        pandas, dask = results["pandas"], results["dask"]
        pairs = list(zip(pandas, dask, strict=True))
        for stage in ("validate", "clean", "load", "total"):
            values = [d["seconds"][stage] / p["seconds"][stage] for p, d in pairs]
            print(ratio_line(f"wall time of {stage}, Dask / pandas", values, None, ""))
        print(
            ratio_line(
                "CPU time (with workers), Dask / pandas",
                [d["cpu"] / p["cpu"] for p, d in pairs],
                None,
                "",
            )
        )
        print(ratio_line(
            "peak memory of the largest process, Dask / pandas",
            [max(d["peak_mb"], *d["workers_peak_mb"]) / p["peak_mb"] for p, d in pairs], None, "",
        ))  # fmt: skip
    dask = results["dask"]
    largest = median([max(d["peak_mb"], *d["workers_peak_mb"]) for d in dask])
    goal = f"< {PEAK_GOAL_MB} MB"
    print(goal_line("largest Dask-side process", largest < PEAK_GOAL_MB, goal, f"{largest:.0f} MB"))
    digest = dask[-1]["digest"]
    agreed = "both sides agree every round" if len(sides) == 2 else "Dask side only"
    print(
        f"{digest['valid']:,} valid, {digest['quarantined']:,} quarantined, "
        f"{digest['duplicates']:,} duplicates {digest['dropped']}, {dask[-1]['loaded']:,} loaded: {agreed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
