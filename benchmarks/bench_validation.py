"""Validation with Great Expectations vs the same checks in plain vectorised pandas.

Both sides start from the same synthetic extracted records (raw strings with the demo site's
mess: five price formats and "Price on request", m² / m2 / sq ft areas, missing fields, city
typos, outliers, duplicated listing ids) and end with the same valid frame and quarantine frame.
Both parse with ``parse_records`` in chunks of the same size, so the difference is the checks.
Timed: parsing + checks + quarantine selection, in memory; warehouse and staging writes are NOT
included. CPU time (``process_time``) is the figure to compare on a busy machine; wall time is
shown too. Each side runs in its own process so its peak memory (ru_maxrss) is its own.

    .venv/bin/python benchmarks/bench_validation.py              # 1,000,000 records
    .venv/bin/python benchmarks/bench_validation.py --rows 50000 # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))

DAY = "2026-11-26"
CITIES = ["Berlin", "München", "Hamburg", "Köln", "Frankfurt", "Leipzig"]
TYPOS = ["Berln", "Munchen", "Hambrug", "Koln", "Frankfrut", "Leipzg"]
DISTRICTS = ["Mitte", "Altona", "Schwabing", "Ehrenfeld", "Westend", "Plagwitz"]


def synthetic_records(n: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """``n`` extracted records (strings only), messy the way the demo site is."""
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
    ids = np.arange(n)
    dup = rng.random(n) < 0.001
    ids = np.where(dup, np.maximum(ids - 1, 0), ids)
    built = rng.integers(1900, 2025, n)
    built = np.where(rng.random(n) < 0.002, 1066, built)
    frame = pd.DataFrame(
        {
            "source": "demo",
            "logical_date": DAY,
            "url": [f"http://127.0.0.1:8000/listing/L-20261126-{i:06d}" for i in range(n)],
            "listing_id": [f"L-20261126-{i:06d}" for i in ids.tolist()],
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
            fail = pd.Series(False, index=typed.index)
            if checks.min is not None:
                fail |= (column < checks.min).fillna(False)
            if checks.max is not None:
                fail |= (column > checks.max).fillna(False)
            for check, mask in (
                ("range", fail),
                ("values", ~column.isin(checks.values) & column.notna() if checks.values else None),
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


def run_side(mode: str, rows: int, chunk_size: int) -> dict[str, float]:
    import pandas as pd  # noqa: F401  (loaded before the clock starts, on both sides)

    from harvest.config.spec import load_spec
    from harvest.records import parse_records

    spec = load_spec(ROOT / "include/harvest/sources/demo.yaml")
    if mode == "ge":
        from harvest.validation.run import validate_records  # GE import outside the clock
    raw = synthetic_records(rows)
    rss_data_mb = _rss_now_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    if mode == "parse":
        for i in range(0, len(raw), chunk_size):
            parse_records(raw.iloc[i : i + chunk_size].reset_index(drop=True), spec)
        valid_n = quarantined = 0
    elif mode == "ge":
        outcome = validate_records(raw, spec, DAY, chunk_size=chunk_size)
        valid_n, quarantined = len(outcome.valid), outcome.quarantined
    else:
        valid, quarantine, _ = pandas_validate(raw, spec, chunk_size)
        valid_n, quarantined = len(valid), int(quarantine["url"].nunique())
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=200_000)
    parser.add_argument("--side", choices=["ge", "pandas", "parse"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.rows, args.chunk_size)))
        return
    results = {}
    for side in ("parse", "pandas", "ge"):
        out = subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--chunk-size",
             str(args.chunk_size), "--side", side],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    per_million = 1_000_000 / args.rows
    parse_s = results["parse"]["cpu"]
    print(f"records: {args.rows:,}  chunk size: {args.chunk_size:,}  (no warehouse/staging writes)")
    print(
        f"{'side':<28}{'wall s':>8}{'cpu s':>8}{'cpu s/1M':>10}{'peak MB':>9}{'data MB':>9}"
        f"{'valid':>10}{'quar.':>9}"
    )
    labels = {
        "parse": "parse_records only",
        "pandas": "parse + pandas checks",
        "ge": "parse + Great Expectations",
    }
    for side, label in labels.items():
        r = results[side]
        print(
            f"{label:<28}{r['seconds']:>8.2f}{r['cpu']:>8.2f}{r['cpu'] * per_million:>10.2f}"
            f"{r['peak_mb']:>9.0f}{r['data_mb']:>9.0f}{r['valid']:>10,}{r['quarantined']:>9,}"
        )
    ge, pd_ = results["ge"]["cpu"], results["pandas"]["cpu"]
    print(f"ratio GE / pandas (CPU time), end to end: {ge / pd_:.2f}x")
    checks_ge, checks_pd = max(ge - parse_s, 1e-9), max(pd_ - parse_s, 1e-9)
    print(
        f"ratio GE / pandas (CPU time), checks only (minus parsing): {checks_ge / checks_pd:.1f}x"
    )
    print(f"peak memory (ru_maxrss) of the GE side: {results['ge']['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
