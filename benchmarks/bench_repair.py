"""Drift repair on the re-templated demo (issue 24): field coverage after repair, and its cost.

The demo day's item pages are re-rendered with another template
(``tests/fixtures/retemplated_demo.py``: other classes, nesting and order, no ids, values the
same); the values stored for them are what the old pages showed, parsed as the load stage does.
Each round learns the demo spec's fields from the first ``--learn`` pages
(:func:`harvest.learning.learn_fields`), patches the spec (:func:`harvest.learning.spec_patch`)
and runs the patched spec through Harvest's extraction and parsing on every page. Printed: the
coverage per field (the share of pages with a stored value where the patched spec reads that
value; goal >= 95% on every field) and, as a ratio, the learning's CPU time against the
baseline of one extraction-and-parse pass of the same pages with a working spec (the cost of
a night's extraction), rounds rotated. Every round's repaired spec must give the same coverage
as the first; the run fails when learning proposes no selector for a field.

    .venv/bin/python benchmarks/bench_repair.py            # 300 listings, learn from 60, 3 rounds
    .venv/bin/python benchmarks/bench_repair.py --quick    # 80 listings, learn from 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "include"), str(ROOT)]

from _common import goal_line, load_average, median, ratio_line, rotated, spread  # noqa: E402

from harvest.config.settings import DEFAULT_SOURCES_DIR  # noqa: E402
from harvest.config.spec import SourceSpec, load_spec  # noqa: E402
from harvest.learning import KnownPage, learn_fields, proposal, spec_patch  # noqa: E402
from harvest_demo import SiteConfig  # noqa: E402
from harvest_demo.generator import day_listings  # noqa: E402
from harvest_demo.pages import shown_fields  # noqa: E402
from tests.fixtures.retemplated_demo import (  # noqa: E402
    field_coverage,
    render_retemplated,
    stored_values,
)

DAY = dt.date(2026, 11, 26)
GOAL = 0.95


def pages_of(spec: SourceSpec, listings: int) -> tuple[list[KnownPage], object]:
    day = list(day_listings(SiteConfig(listings_per_day=listings), DAY))
    urls = [f"http://127.0.0.1:8000/listing/{listing.listing_id}" for listing in day]
    stored = stored_values(spec, [shown_fields(listing) for listing in day], urls, DAY)
    pages = [
        KnownPage(url, render_retemplated(listing), stored.iloc[i].to_dict())
        for i, (url, listing) in enumerate(zip(urls, day, strict=True))
    ]
    return pages, stored


def repaired_spec(spec_file: Path, pages: list[KnownPage], folder: Path) -> SourceSpec:
    spec = load_spec(spec_file)
    chosen = proposal(learn_fields(spec, pages))
    missing = sorted(set(spec.detail.fields) - set(chosen))
    if missing:
        raise SystemExit(f"bench_repair: no selector proposed for {', '.join(missing)}")
    _, patched = spec_patch(spec_file, chosen)
    (folder / spec_file.name).write_text(patched, encoding="utf-8")
    return load_spec(folder / spec_file.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    listings, learn = (80, 30) if args.quick else (300, 60)
    print(load_average())
    spec_file = DEFAULT_SOURCES_DIR / "demo.yaml"
    spec = load_spec(spec_file)
    pages, stored = pages_of(spec, listings)
    folder = Path(tempfile.mkdtemp(prefix="bench_repair_"))
    for path in DEFAULT_SOURCES_DIR.iterdir():
        shutil.copy(path, folder / path.name)
    before = field_coverage(spec, pages, stored, DAY)  # the old spec on the new pages
    working = repaired_spec(spec_file, pages[:learn], folder)  # untimed: warms the parsers
    coverage = field_coverage(working, pages, stored, DAY)
    ratios: list[float] = []
    seconds: dict[str, list[float]] = {"baseline": [], "repair": []}
    for index in range(args.rounds):
        times: dict[str, float] = {}
        for side in rotated(["baseline", "repair"], index):
            start = time.process_time()
            if side == "baseline":
                field_coverage(
                    working, pages, stored, DAY
                )  # a night's extraction with a working spec
            else:
                repaired = repaired_spec(spec_file, pages[:learn], folder)
            times[side] = time.process_time() - start
            seconds[side].append(times[side])
        after = field_coverage(repaired, pages, stored, DAY)
        if after != coverage:
            raise SystemExit(f"bench_repair: rounds disagree: {coverage} != {after}")
        ratios.append(times["repair"] / times["baseline"])
    shutil.rmtree(folder)
    print(f"{len(pages)} re-templated pages, learned from {learn}; the old spec's coverage:")
    print("  " + ", ".join(f"{n} {v:.0%}" for n, v in before.items()))
    print("coverage after repair, per field:")
    print("  " + ", ".join(f"{n} {v:.1%}" for n, v in coverage.items()))
    print(
        goal_line(
            "lowest field coverage after repair",
            min(coverage.values()) >= GOAL,
            f">= {GOAL:.0%} on every field",
            f"{min(coverage.values()):.1%}",
        )
    )
    print(
        ratio_line(
            f"learning {len(spec.detail.fields)} fields from {learn} pages / one extraction "
            f"pass of {len(pages)} pages (CPU)",
            ratios,
            None,
            "",
        )
    )
    print(
        f"CPU seconds, median of {args.rounds} rounds: learning and patching "
        f"{median(seconds['repair']):.2f} (spread {spread(seconds['repair'])}), the extraction "
        f"pass {median(seconds['baseline']):.2f} (spread {spread(seconds['baseline'])})"
    )
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
