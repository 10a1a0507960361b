"""Validation with Great Expectations vs the same checks in plain vectorised pandas.

Both sides start from the same synthetic extracted records (raw strings with the demo site's
mess: five price formats and "Price on request", m² / m2 / sq ft areas, missing fields, city
typos, outliers, duplicated listing ids) and end with the same valid frame and quarantine frame.
Both parse with ``parse_records`` in chunks of the same size, so the difference is the checks.
Timed: parsing + checks + quarantine selection, in memory; warehouse and staging writes are NOT
included. CPU time (``process_time``) is the figure to compare on a busy machine; wall time is
shown too. Each side runs in its own process so its peak memory (ru_maxrss) is its own.

    .venv/bin/python benchmarks/bench_validation.py            # 1,000,000 records, 3 rounds
    .venv/bin/python benchmarks/bench_validation.py --quick    # 50,000 records: checks it works

Rounds run the three sides (parsing only, parsing + pandas checks, parsing + GX) in rotated
order; every round checks that GX and pandas kept the same records and quarantined the same
(url, field, check) triples, and fails naming the difference when they do not. Goal: peak
memory under 2 GB at a million records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import goal_line, load_average, median, ratio_line, rotated, spread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))
PEAK_GOAL_MB = 2000  # at a million records

DAY = dt.date(2026, 11, 26)
CITIES = ["Berlin", "München", "Hamburg", "Köln", "Frankfurt", "Leipzig"]
TYPOS = ["Berln", "Munchen", "Hambrug", "Koln", "Frankfrut", "Leipzg"]
DISTRICTS = ["Mitte", "Altona", "Schwabing", "Ehrenfeld", "Westend", "Plagwitz"]


def listing_ids(numbers: Any) -> list[str]:
    """The demo's listing ids of ``numbers`` (ints): ``L-<date>-<six digits>``, the date one day
    later per million, so every id keeps the demo's format above a million records."""
    return [f"L-{20261126 + v // 1_000_000}-{v % 1_000_000:06d}" for v in numbers]


def synthetic_records(n: int, seed: int = 7, start: int = 0):  # type: ignore[no-untyped-def]
    """``n`` extracted records (strings only), messy the way the demo site is; their listings
    numbered from ``start`` (:func:`listing_ids`)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    price = rng.integers(300, 4000, n)
    outlier = rng.random(n) < 0.01
    price = np.where(outlier & (rng.random(n) < 0.5), price * 10, price)
    fmt = rng.integers(0, 4, n)
    on_request = rng.random(n) < 0.02

    def price_text(p: int, f: int, req: bool) -> str:
        if req:
            return "Price on request"
        if f == 0:
            return f"€{p:,} / month".replace(",", ".")
        if f == 1:
            return f"{p} EUR"
        if f == 2:
            return f"EUR {p:,}.00"
        return f"{p:,} €".replace(",", " ")

    area = rng.integers(18, 160, n)
    area = np.where(outlier & (rng.random(n) < 0.5), 1, area)
    area_fmt = rng.integers(0, 3, n)
    area_text = [
        f"{a} m²" if f == 0 else f"{a} m2" if f == 1 else f"{round(a * 10.7639)} sq ft"
        for a, f in zip(area.tolist(), area_fmt.tolist(), strict=True)
    ]
    city_idx = rng.integers(0, len(CITIES), n)
    typo = rng.random(n) < 0.02
    city = np.where(typo, np.array(TYPOS)[city_idx], np.array(CITIES)[city_idx])
    ids = np.arange(start, start + n)
    dup = rng.random(n) < 0.001
    ids = np.where(dup, np.maximum(ids - 1, start), ids)
    built = rng.integers(1900, 2025, n)
    built = np.where(rng.random(n) < 0.002, 1066, built)
    frame = pd.DataFrame(
        {
            "source": "demo",
            "logical_date": DAY,
            "url": [
                f"http://127.0.0.1:8000/listing/{i}" for i in listing_ids(range(start, start + n))
            ],
            "listing_id": listing_ids(ids.tolist()),
            "title": [f"Bright {r}-room flat" for r in rng.integers(1, 6, n).tolist()],
            "price": [
                price_text(p, f, r)
                for p, f, r in zip(price.tolist(), fmt.tolist(), on_request.tolist(), strict=True)
            ],
            "area": area_text,
            "rooms": rng.integers(1, 7, n).astype(str),
            "floor": rng.integers(-1, 12, n).astype(str),
            "city": city,
            "district": np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), n)],
            "balcony": np.where(rng.random(n) < 0.5, "yes", "no"),
            "built_year": built.astype(str),
            "available_from": np.where(rng.random(n) < 0.5, "2026-12-01", "01.01.2027"),
        }
    )
    for column in ("area", "rooms", "floor", "district", "balcony", "built_year", "available_from"):
        frame.loc[rng.random(n) < 0.03, column] = None
    return frame.astype("string")


def pandas_validate(raw, spec, chunk_size: int):  # type: ignore[no-untyped-def]
    """The suite's checks written directly in pandas: same valid frame and quarantine rows."""
    import numpy as np
    import pandas as pd

    from harvest.canonical import canonical_series  # what validation's value checks see
    from harvest.records import parse_records

    fields = spec.detail.fields
    key = spec.detail.key
    valid_parts, bad_parts, keys = [], [], []
    nulls = dict.fromkeys(fields, 0)
    for start in range(0, len(raw), chunk_size):
        chunk = raw.iloc[start : start + chunk_size].reset_index(drop=True)
        parsed = parse_records(chunk, spec)
        typed = parsed.frame
        bad = [parsed.issues.assign(severity="warning")]
        for name, field in fields.items():
            column = typed[name]
            nulls[name] += int(column.isna().sum())
            checks = field.checks
            ranged = typed[checks.column or name]  # e.g. price_eur for the price field
            fail = pd.Series(False, index=typed.index)
            if checks.min is not None:
                fail |= (ranged < checks.min).fillna(False)
            if checks.max is not None:
                fail |= (ranged > checks.max).fillna(False)
            allowed = canonical_series(column, checks.values) if checks.values else column
            for check, mask in (
                ("range", fail),
                (
                    "values",
                    ~allowed.isin(checks.values) & allowed.notna() if checks.values else None,
                ),
                (
                    "regex",
                    ~column.str.match(checks.regex).fillna(True).astype(bool)
                    if checks.regex
                    else None,
                ),
            ):
                if mask is None or not mask.any():
                    continue
                rows = typed.loc[mask, ["source", "logical_date", "url"]]
                bad.append(
                    rows.assign(
                        field=name,
                        check=check,
                        value=chunk.loc[mask, name],
                        reason=name + " " + column[mask].astype("string") + f" failed {check}",
                        severity=checks.severity,
                    )
                )
        frame = pd.concat(bad, ignore_index=True)
        bad_parts.append(frame)
        valid_parts.append(typed[~typed["url"].isin(frame["url"])])
        keys.append(typed[["source", "logical_date", "url", key]])
    allkeys = pd.concat(keys, ignore_index=True)
    dup = allkeys[key].duplicated(keep=False) & allkeys[key].notna()
    bad_parts.append(
        allkeys[dup].assign(
            field=key, check="unique", value=allkeys.loc[dup, key], reason="duplicate", severity="x"
        )
    )
    quarantine = pd.concat(bad_parts, ignore_index=True).drop_duplicates(["url", "field", "check"])
    valid = pd.concat(valid_parts, ignore_index=True)
    valid = valid[~valid["url"].isin(quarantine["url"])]
    n = len(raw)
    batch_ok = n >= spec.validation.min_rows and all(
        nulls[f] / n <= (fl.checks.max_null_rate if fl.checks.max_null_rate is not None else 1.0)
        for f, fl in fields.items()
    )
    rate_ok = quarantine["url"].nunique() / n <= spec.validation.max_quarantine_rate
    return valid, quarantine, bool(batch_ok and rate_ok and np.True_)


def outcome_sets(valid_urls: Any, quarantine: Any) -> dict[str, list[str]]:
    """What a side decided, comparable across sides: the valid records' URLs and the
    quarantined (url, field, check) triples, sorted."""
    triples = quarantine[["url", "field", "check"]].astype("string").drop_duplicates()
    return {
        "valid": sorted(str(u) for u in valid_urls),
        "quarantine": sorted("|".join(map(str, t)) for t in triples.itertuples(index=False)),
    }


def run_side(mode: str, rows: int, chunk_size: int, out: str | None = None) -> dict[str, Any]:
    import pandas as pd  # noqa: F401  (loaded before the clock starts, on both sides)

    from harvest.config.spec import load_spec
    from harvest.records import parse_records

    spec = load_spec(ROOT / "include/harvest/sources/demo.yaml")
    if mode == "ge":
        from harvest.validation.run import validate_records  # GE import outside the clock
    raw = synthetic_records(rows)
    rss_data_mb = _rss_now_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    decided: dict[str, list[str]] = {}
    if mode == "parse":
        for i in range(0, len(raw), chunk_size):
            parse_records(raw.iloc[i : i + chunk_size].reset_index(drop=True), spec)
        valid_n = quarantined = 0
    elif mode == "ge":
        outcome = validate_records(raw, spec, DAY, chunk_size=chunk_size)
        valid_n, quarantined = len(outcome.valid), int(outcome.quarantine["url"].nunique())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        decided = outcome_sets(outcome.valid["url"], outcome.quarantine)
    else:
        valid, quarantine, _ = pandas_validate(raw, spec, chunk_size)
        valid_n, quarantined = len(valid), int(quarantine["url"].nunique())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        decided = outcome_sets(valid["url"], quarantine)
    if mode == "parse":
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if out:
        Path(out).write_text(json.dumps(decided))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_mb,
        "data_mb": rss_data_mb,
        "valid": valid_n,
        "quarantined": quarantined,
    }


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def same_decisions(ge_file: Path, pandas_file: Path) -> None:
    """Both sides kept the same records and quarantined the same (url, field, check)."""
    ge, pd_ = json.loads(ge_file.read_text()), json.loads(pandas_file.read_text())
    for part in ("valid", "quarantine"):
        if ge[part] != pd_[part]:
            only_ge = sorted(set(ge[part]) - set(pd_[part]))[:5]
            only_pd = sorted(set(pd_[part]) - set(ge[part]))[:5]
            raise RuntimeError(
                f"Great Expectations and the pandas baseline disagree on {part}: "
                f"{len(ge[part]):,} vs {len(pd_[part]):,}; only GE e.g. {only_ge}, "
                f"only pandas e.g. {only_pd}: update pandas_validate() to the suite"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50k records: checks it works")
    parser.add_argument("--rows", type=int, help="records (default 1M)")
    parser.add_argument(
        "--rounds", type=int, help="rotated rounds of the three sides (3; --quick 1)"
    )
    parser.add_argument("--chunk-size", type=int, default=200_000)
    parser.add_argument("--side", choices=["ge", "pandas", "parse"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.side:
        print(json.dumps(run_side(args.side, rows, args.chunk_size, args.out)))
        return
    print(f"== validation: {rows:,} records, chunk size {args.chunk_size:,}, {args.rounds} rounds "
          f"in rotated order, each side its own process (no warehouse/staging writes); "
          f"{load_average()}", flush=True)  # fmt: skip
    sides = ["parse", "pandas", "ge"]
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        for n in range(args.rounds):
            for side in rotated(sides, n):
                out = Path(tmp) / f"{side}.json"
                proc = subprocess.run(
                    [sys.executable, __file__, "--rows", str(rows), "--chunk-size",
                     str(args.chunk_size), "--side", side, "--out", str(out)],
                    check=False, capture_output=True, text=True,
                )  # fmt: skip
                if proc.returncode != 0:
                    raise RuntimeError(f"side {side} failed:\n{proc.stderr[-2000:]}")
                results[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            same_decisions(Path(tmp) / "ge.json", Path(tmp) / "pandas.json")
            print(f"  round {n + 1}: " + ", ".join(
                f"{side} {results[side][-1]['cpu']:.2f} s CPU" for side in sides
            ) + "; GE and pandas kept and quarantined the same records")  # fmt: skip
    per_million = 1_000_000 / rows
    labels = {
        "parse": "parse_records only",
        "pandas": "parse + pandas checks",
        "ge": "parse + Great Expectations",
    }
    print(f"{'side (medians)':<28}{'wall s':>8}{'cpu s':>8}{'cpu spread':>14}{'cpu s/1M':>10}"
          f"{'peak MB':>9}{'data MB':>9}{'valid':>10}{'quar.':>9}")  # fmt: skip
    for side, label in labels.items():
        rs = results[side]
        cpus = [r["cpu"] for r in rs]
        print(f"{label:<28}{median([r['seconds'] for r in rs]):>8.2f}{median(cpus):>8.2f}"
              f"{spread(cpus):>14}{median(cpus) * per_million:>10.2f}"
              f"{median([r['peak_mb'] for r in rs]):>9.0f}{median([r['data_mb'] for r in rs]):>9.0f}"
              f"{rs[-1]['valid']:>10,}{rs[-1]['quarantined']:>9,}")  # fmt: skip
    cpu = {side: [r["cpu"] for r in results[side]] for side in sides}
    end_to_end = [g / p for g, p in zip(cpu["ge"], cpu["pandas"], strict=True)]
    checks_only = [
        max(g - x, 1e-9) / max(p - x, 1e-9)
        for g, p, x in zip(cpu["ge"], cpu["pandas"], cpu["parse"], strict=True)
    ]
    print(ratio_line("GE / pandas (CPU time), end to end", end_to_end, None, "", unit="x"))
    print(ratio_line("GE / pandas (CPU time), checks only (minus parsing)", checks_only, None, "",
                     fmt=".1f", unit="x"))  # fmt: skip
    peak = max(r["peak_mb"] for r in results["ge"])
    line = goal_line("peak memory (ru_maxrss) of the GE side", peak < PEAK_GOAL_MB,
                     f"< {PEAK_GOAL_MB:,} MB at 1M records", f"{peak:,.0f} MB")  # fmt: skip
    print(line if rows >= 1_000_000 else f"{line} (not judged below 1M records)")
    print(load_average())


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        print(f"bench_validation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
