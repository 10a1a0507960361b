"""Drift repair on the re-templated demo (issue 24): field coverage after repair, and its cost.

The demo day's index and item pages are re-rendered with another template
(``tests/fixtures/retemplated_demo.py``: other classes, nesting and order, no ids, a pager
without ``rel``, values the same); the values stored for them are what the old pages showed,
parsed as the load stage does. With the old spec a crawl of the site reaches no item page.
Each round repairs the index level first (:func:`harvest.learning.repair.repair_levels`, from
the start page the broken crawl fetched and the previous day's item and page URLs), crawls
the site with those selectors, learns the fields from the first ``--learn`` item pages reached
(:func:`harvest.learning.learn_fields`), patches the spec (:func:`harvest.learning.spec_patch`)
and runs the patched spec's crawl, extraction and parsing on every page. Printed: the
coverage per field (the share of pages with a stored value where the patched spec's crawl
reaches the page and reads that value; goal >= 95% on every field) and, as a ratio, the learning's CPU time against the
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
from harvest.learning.level_repair import (  # noqa: E402
    LevelHistory,
    proposed_levels,
    repair_levels,
)
from harvest.learning.levels import LevelPage  # noqa: E402
from harvest_demo import SiteConfig  # noqa: E402
from harvest_demo.generator import day_listings  # noqa: E402
from harvest_demo.pages import shown_fields  # noqa: E402
from tests.fixtures.retemplated_demo import (  # noqa: E402
    crawl,
    field_coverage,
    render_retemplated,
    retemplated_site,
    stored_values,
)

DAY = dt.date(2026, 11, 26)
GOAL = 0.95
BASE = "http://127.0.0.1:8000"
START = f"{BASE}/listings/{DAY}"


def pages_of(spec: SourceSpec, listings: int) -> tuple[list[KnownPage], object]:
    day = list(day_listings(SiteConfig(listings_per_day=listings), DAY))
    urls = [f"{BASE}/listing/{listing.listing_id}" for listing in day]
    stored = stored_values(spec, [shown_fields(listing) for listing in day], urls, DAY)
    pages = [
        KnownPage(url, render_retemplated(listing), stored.iloc[i].to_dict())
        for i, (url, listing) in enumerate(zip(urls, day, strict=True))
    ]
    return pages, stored


def the_night_before(listings: int) -> LevelHistory:
    """The URLs the index level led to the day before: its item pages and its next pages."""
    config, before = SiteConfig(listings_per_day=listings), DAY - dt.timedelta(days=1)
    items = {f"{BASE}/listing/{listing.listing_id}" for listing in day_listings(config, before)}
    pages = {f"{BASE}/listings/{before}?page={n}" for n in range(2, config.pages_per_day + 1)}
    return LevelHistory({"index": items}, {"index": pages})


def repaired_spec(
    spec_file: Path, pages: list[KnownPage], site: dict[str, str], history: LevelHistory,
    learn: int, folder: Path,
) -> tuple[SourceSpec, set[str]]:  # fmt: skip
    """The spec repaired as ``harvest repair`` does: levels, then fields; and the item URLs
    its crawl reaches."""
    spec = load_spec(spec_file)
    fetched, _ = crawl(spec, site, START)  # what the broken crawl fetched tonight
    tonight = {"index": [LevelPage(url, site[url]) for url in sorted(fetched)]}
    levels = proposed_levels(repair_levels(spec, tonight, history, GOAL), GOAL)
    if set(levels) != {("index", "links"), ("index", "next_page")}:
        raise SystemExit(f"bench_repair: level selectors proposed: {sorted(levels)}")
    _, patched = spec_patch(spec_file, {}, levels)
    (folder / spec_file.name).write_text(patched, encoding="utf-8")
    _, reached = crawl(load_spec(folder / spec_file.name), site, START)
    chosen = proposal(learn_fields(spec, [p for p in pages if p.url in reached][:learn]))
    missing = sorted(set(spec.detail.fields) - set(chosen))
    if missing:
        raise SystemExit(f"bench_repair: no selector proposed for {', '.join(missing)}")
    _, patched = spec_patch(spec_file, chosen, levels)
    (folder / spec_file.name).write_text(patched, encoding="utf-8")
    repaired = load_spec(folder / spec_file.name)
    return repaired, crawl(repaired, site, START)[1]


def _shown(coverage: dict[str, float], digits: int) -> str:
    return ", ".join(f"{n} {v:.{digits}%}" for n, v in coverage.items())


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
    site = retemplated_site(SiteConfig(listings_per_day=listings), DAY, BASE)
    history = the_night_before(listings)
    folder = Path(tempfile.mkdtemp(prefix="bench_repair_"))
    for path in DEFAULT_SOURCES_DIR.iterdir():
        shutil.copy(path, folder / path.name)
    _, reached = crawl(spec, site, START)  # the old spec on the new site
    before = field_coverage(spec, pages, stored, DAY, reached)
    before_pages = field_coverage(spec, pages, stored, DAY)  # ... had its crawl reached them
    working, reached = repaired_spec(spec_file, pages, site, history, learn, folder)  # warm-up
    coverage = field_coverage(working, pages, stored, DAY, reached)
    ratios: list[float] = []
    seconds: dict[str, list[float]] = {"baseline": [], "repair": []}
    for index in range(args.rounds):
        times: dict[str, float] = {}
        for side in rotated(["baseline", "repair"], index):
            start = time.process_time()
            if side == "baseline":  # a night's crawl walk and extraction with a working spec
                field_coverage(working, pages, stored, DAY, crawl(working, site, START)[1])
            else:
                repaired, got = repaired_spec(spec_file, pages, site, history, learn, folder)
            times[side] = time.process_time() - start
            seconds[side].append(times[side])
        after = field_coverage(repaired, pages, stored, DAY, got)
        if after != coverage:
            raise SystemExit(f"bench_repair: rounds disagree: {coverage} != {after}")
        ratios.append(times["repair"] / times["baseline"])
    shutil.rmtree(folder)
    graph = working.graph[0]
    print(
        f"{len(pages)} re-templated item pages on {SiteConfig(listings_per_day=listings).pages_per_day} "
        f"index pages, fields learned from {learn}; the old spec's crawl reaches 0 item pages"
    )
    print("  coverage with the old spec (its crawl):  " + _shown(before, 0))
    print("  ... on the item pages, had it reached them:  " + _shown(before_pages, 0))
    print(
        f"levels repaired: detail_links {graph.links.text!r}, next_page "
        f"{graph.next_page.text if graph.next_page else None!r}; the crawl reaches "
        f"{len(reached)} of {len(pages)} item pages"
    )
    print("coverage after repair, per field:")
    print("  " + _shown(coverage, 1))
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
            f"repairing 2 level selectors and {len(spec.detail.fields)} fields / one crawl walk "
            f"and extraction pass of {len(pages)} pages (CPU)",
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
