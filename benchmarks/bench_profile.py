"""The profiling report's cost (harvest.cleaning.profile) against the cleaning of the same
partition (harvest.cleaning.clean_partition without its report).

One validated partition of the demo source's shape (bench_validation's synthetic records, parsed
and validated by GX, staged as the validate stage stages it) per size; each round, in rotated
order: the clean stage alone (normalise, de-duplicate against an empty history, impute, write
the staged frames), the report with its plots (the default), and the report without them
(``HARVEST_PROFILE_PLOTS=false``). Printed per size: each report's time over the cleaning time
(median of the rounds and spread). Every round checks that cleaning gives the same frame, and
that each report was built within its bounds, on the rows the bound says (all of them, or a
sample of ``HARVEST_PROFILE_MAX_ROWS``), and is recorded for the partition.

    .venv/bin/python benchmarks/bench_profile.py            # 2,000 and 100,000 records, 3 rounds
    .venv/bin/python benchmarks/bench_profile.py --quick    # 300 records, 3 rounds: checks it works
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import demo_spec, load_average, make_settings, ratio_line, rotated, spread
from bench_validation import synthetic_records

DAY = dt.date(2026, 11, 26)


def _stage_validated(n: int, settings: Any, spec: Any) -> int:
    """Stage ``n`` synthetic records, validated, as the validate stage stages them."""
    from harvest.partitions import Partition
    from harvest.storage.staging import StagedDataset, write_frame
    from harvest.validation.run import validate_records

    outcome = validate_records(synthetic_records(n), spec, DAY)
    write_frame(
        outcome.valid,
        Partition(spec.name, DAY).staged_uri(settings.staging_url, StagedDataset.VALIDATED),
    )
    return len(outcome.valid)


def _clean(settings: Any, spec: Any) -> tuple[float, Any]:
    from harvest.cleaning.stage import clean_partition
    from harvest.storage.staging import read_frame

    started = time.perf_counter()
    report = clean_partition(spec, DAY, settings, profile=False)
    elapsed = time.perf_counter() - started
    return elapsed, read_frame(report.cleaned_uri)


def _profile(frame: Any, settings: Any, spec: Any) -> tuple[float, Any]:
    from harvest.cleaning.profile import profile_partition
    from harvest.partitions import Partition
    from harvest.storage.artifacts import read_artifact

    started = time.perf_counter()
    report = profile_partition(frame, Partition(spec.name, DAY), settings)
    elapsed = time.perf_counter() - started
    expected_rows = min(len(frame), settings.profile_max_rows)
    if report.status != "built" or report.rows_profiled != expected_rows:
        raise SystemExit(f"profiling report not as bounded: {report}")
    recorded = read_artifact(settings.staging_url, Partition(spec.name, DAY), "profile")
    if recorded is None or recorded["uri"] != report.uri:
        raise SystemExit(f"profiling report not recorded: {recorded}")
    return elapsed, report


def run_size(n: int, rounds: int, home: Path) -> None:
    spec = demo_spec()
    plain = make_settings(home)
    settings = {"plots": plain, "no plots": plain.with_overrides(profile_plots=False)}
    valid = _stage_validated(n, plain, spec)
    import skrub  # noqa: F401  (imported once, outside every clock, as a long-lived worker has it)

    _clean(plain, spec)  # warm-up (imports, GX, the first Parquet write)
    times: dict[str, list[float]] = {"clean": [], "plots": [], "no plots": []}
    first = None
    for r in range(rounds):
        cleaned = None
        for side in rotated(["clean", "plots", "no plots"], r):
            if side == "clean":
                elapsed, cleaned_now = _clean(plain, spec)
                if first is None:
                    first = cleaned_now
                elif not cleaned_now.equals(first):
                    raise SystemExit("cleaning gave another frame in a later round")
                cleaned = cleaned_now
            else:
                frame = cleaned if cleaned is not None else first
                if frame is None:
                    frame = _clean(plain, spec)[1]
                elapsed, _report = _profile(frame, settings[side], spec)
            times[side].append(elapsed)
    rows = len(first) if first is not None else 0
    bound = min(rows, plain.profile_max_rows)
    print(
        f"{n:,} records ({valid:,} valid, {rows:,} cleaned, {bound:,} profiled, "
        f"{first.shape[1] if first is not None else 0} columns): clean {spread(times['clean'])} s"
    )
    for side in ("plots", "no plots"):
        ratios = [p / c for p, c in zip(times[side], times["clean"], strict=True)]
        print(f"  report ({side}) {spread(times[side])} s")
        print("  " + ratio_line(f"report ({side}) / clean", ratios, None, ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 records: checks it works")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [300] if args.quick else [2_000, 100_000]
    print(f"bench_profile: {load_average()}")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-profile-") as home:
            run_size(n, max(3, args.rounds), Path(home))


if __name__ == "__main__":
    main()
