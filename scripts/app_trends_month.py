"""A month of the demo source with one injected drift, and what the app's Trends tests flag.

Runs ``--nights`` nights (30) of the demo listings source through every stage
(:func:`harvest.pipeline.run_partition`, the demo site in this process) into a fresh home;
from night ``--drift-from`` (21) on, the site leaves out a field value ``--drifted-missing``
(30 %) of the time instead of ``--missing`` (3 %): one drift, in the data the site shows. Then
the Trends page's tests (:func:`harvest.app.trends.trends`) run on the warehouse, and each
metric is printed with its verdict, p-values and change night.

    .venv/bin/python scripts/app_trends_month.py [--nights 30] [--drift-from 21] [--home DIR]
"""

from __future__ import annotations

# ruff: noqa: T201 - a script that prints its measurement
import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST = dt.date(2026, 4, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--drift-from", type=int, default=21, help="first drifted night (1-based)")
    parser.add_argument("--missing", type=float, default=0.03)
    parser.add_argument("--drifted-missing", type=float, default=0.3)
    parser.add_argument("--listings", type=int, default=30, help="listings per night")
    parser.add_argument("--home", type=Path, help="keep the run here (default: a temporary folder)")
    args = parser.parse_args(argv)

    from harvest.app import trends
    from harvest.config import Settings, load_spec
    from harvest.pipeline import run_partition
    from harvest.storage.warehouse import open_warehouse
    from harvest_demo import DemoSite, SiteConfig

    spec = load_spec(REPO / "include/harvest/sources/demo.yaml")
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch)
        settings = Settings.from_env({"HARVEST_HOME": str(home)})
        for night in range(1, args.nights + 1):
            day = FIRST + dt.timedelta(days=night - 1)
            missing = args.drifted_missing if night >= args.drift_from else args.missing
            config = SiteConfig(
                seed=5, listings_per_day=args.listings, page_size=10, js_fraction=0.0,
                missing_fraction=missing,
            )  # fmt: skip
            night_spec = spec.model_copy(update={"start_urls": [f"{{base_url}}/listings/{day}"]})
            with DemoSite(config) as site:
                when = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3), dt.UTC)
                reports = run_partition(  # run in its night: the site shows that day
                    night_spec, day, settings, base_url=site.base_url, now=when
                )
            print(
                f"night {night:2d} {day} missing {missing:.2f}: loaded {reports['load'].get('loaded')}"
            )
        with open_warehouse(settings.warehouse_url, read_only=True) as warehouse:
            _metrics, found = trends.trends(warehouse, spec, None)
    drift_day = FIRST + dt.timedelta(days=args.drift_from - 1)
    print(
        f"\ninjected: missing values {args.missing:.0%} -> {args.drifted_missing:.0%} from {drift_day}"
    )
    for d in found:
        verdict = "DRIFT" if d.flagged else ("steady" if d.judged else f"not judged ({d.why})")
        print(
            f"{d.metric:28s} {verdict:8s} trend p={d.trend_p if d.trend_p is not None else float('nan'):.2g} "
            f"change p={d.change_p if d.change_p is not None else float('nan'):.2g} change on {d.change_date}"
        )
    flagged = [d.metric for d in found if d.flagged]
    print(f"\nflagged {len(flagged)} of {len(found)} metrics: {', '.join(flagged) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
