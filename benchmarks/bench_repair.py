"""Drift repair on the re-templated demo (issue 24), in one round: field coverage after one
applied proposal, and its cost.

The demo day's index and item pages are re-rendered with another template
(``tests/fixtures/retemplated_demo.py``: other classes, nesting and order, no ids, a pager
without ``rel``, values the same); the values stored for them are what the old pages showed,
parsed as the load stage does. With the old spec a crawl of the site reaches no item page, so
the night stores its start page only. Each round is the repair the scrape stage derives then
(:func:`harvest.learning.repair.derive_repair` without its raw store and warehouse reads): the
index level repaired from the start page and the previous day's item and page URLs, item pages
fetched through the proposed levels (:func:`harvest.learning.walk.walk_levels`, the fetch served
from the fixture site: no network), the fields checked and learned on them
(:func:`harvest.learning.repair.repair_fields`), and the ONE spec patch of levels and fields
written and loaded. The patched spec's crawl, extraction and parsing then run on every page.
Printed: the coverage per field after that one apply (the share of pages with a stored value
where the patched crawl reaches the page and reads that value; goal >= 95% on every field) and,
as a ratio, the repair's CPU time against one crawl walk and extraction pass of the same site
with a working spec (a night's extraction), rounds rotated. Every round's patch must give the
same coverage; the run fails when the one round leaves a field unrepaired.

    .venv/bin/python benchmarks/bench_repair.py            # 300 listings, 3 rounds
    .venv/bin/python benchmarks/bench_repair.py --quick    # 80 listings
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
from harvest.learning import KnownPage, spec_patch  # noqa: E402
from harvest.learning.level_repair import LevelHistory, proposed_levels  # noqa: E402
from harvest.learning.levels import LevelPage  # noqa: E402
from harvest.learning.repair import proposed, repair_fields  # noqa: E402
from harvest.learning.walk import walk_levels  # noqa: E402
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
    folder: Path,
) -> tuple[SourceSpec, set[str], int]:  # fmt: skip
    """The spec repaired in one round as the scrape stage's ``repair`` does: levels, item pages
    fetched through them, fields; the item URLs its crawl reaches, and the pages fetched."""
    spec = load_spec(spec_file)
    fetched, _ = crawl(spec, site, START)  # what the broken crawl fetched tonight
    tonight = {"index": [LevelPage(url, site[url]) for url in sorted(fetched)]}
    rows = {page.url: page.values for page in pages}
    walked = walk_levels(spec, tonight, history, rows, lambda url: (url, site[url]), GOAL)
    levels = proposed_levels(walked.levels, GOAL)
    if set(levels) != {("index", "links"), ("index", "next_page")}:
        raise SystemExit(f"bench_repair: level selectors proposed: {sorted(levels)}")
    chosen = proposed(repair_fields(spec, walked.items, GOAL), GOAL)
    missing = sorted(set(spec.detail.fields) - set(chosen))
    if missing:
        raise SystemExit(f"bench_repair: no selector proposed in one round for {missing}")
    _, patched = spec_patch(spec_file, chosen, levels)
    (folder / spec_file.name).write_text(patched, encoding="utf-8")
    repaired = load_spec(folder / spec_file.name)
    return repaired, crawl(repaired, site, START)[1], walked.fetched


def _shown(coverage: dict[str, float], digits: int) -> str:
    return ", ".join(f"{n} {v:.{digits}%}" for n, v in coverage.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    listings = 80 if args.quick else 300
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
    working, reached, fetched = repaired_spec(spec_file, pages, site, history, folder)  # warm-up
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
                repaired, got, _ = repaired_spec(spec_file, pages, site, history, folder)
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
        "index pages; the old spec's crawl reaches 0 item pages (the night stores its start page)"
    )
    print("  coverage with the old spec (its crawl):  " + _shown(before, 0))
    print("  ... on the item pages, had it reached them:  " + _shown(before_pages, 0))
    print(
        f"one round: {fetched} page(s) fetched through the proposed levels; one proposal "
        f"repairs detail_links {graph.links.text!r}, next_page "
        f"{graph.next_page.text if graph.next_page else None!r} and "
        f"{len(spec.detail.fields)} fields"
    )
    print(f"after applying it, the crawl reaches {len(reached)} of {len(pages)} item pages")
    print("coverage after one apply, per field:")
    print("  " + _shown(coverage, 1))
    print(
        goal_line(
            "lowest field coverage after one apply",
            min(coverage.values()) >= GOAL,
            f">= {GOAL:.0%} on every field",
            f"{min(coverage.values()):.1%}",
        )
    )
    print(
        ratio_line(
            f"one-round repair (2 level selectors, {len(spec.detail.fields)} fields, {fetched} "
            f"pages fetched) / one crawl walk and extraction pass of {len(pages)} pages (CPU)",
            ratios,
            None,
            "",
        )
    )
    print(
        f"CPU seconds, median of {args.rounds} rounds: the one-round repair "
        f"{median(seconds['repair']):.2f} (spread {spread(seconds['repair'])}), the extraction "
        f"pass {median(seconds['baseline']):.2f} (spread {spread(seconds['baseline'])})"
    )
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
