"""``harvest init`` on the demo site's list page (issue 24): the drafted spec's coverage of the
bundled spec's values, and what drafting costs.

The demo site runs in its own process (10% of its item pages need JavaScript; with Chromium and
chromedriver installed ``init`` renders them, else it runs with ``--no-browser`` and says so).
Each round drafts a spec from list page 1 (:func:`harvest.scraping.draft.draft_from_url`:
robots.txt, the list page, ``--sample`` item pages, the renders, the learning), timed in wall
seconds against the baseline of fetching the same pages and extracting them with the bundled
spec (what one ``harvest preview`` per page costs), rounds rotated. Every round must draft the
same spec. Then the drafted spec and the bundled one extract every item page of the first two
list pages, each reading the pages as its own ``javascript`` has them fetched (a drafted spec
whose sample met no JavaScript page misses what scripts fill in): printed per bundled field,
the drafted field that reads the same values and on how many pages
(:mod:`tests.fixtures.init_coverage`); goal >= 90% of the bundled spec's values. The catalogue
demo (from its home page, against the bundled catalogue spec), the demo's item pages in
another template (``tests/fixtures/retemplated_demo.py``) and the shape site's list pages whose
cards are the records (``/paged/``, ``/table/``, against their reference specs in
``tests/integration/shape_site.py``) and the shape site's category tree of mixed depth
(``/shop/``: the drafted spec and the reference one each crawled into the warehouse, the share
of the reference's loaded values the drafted rows hold) are printed too, without a goal.

    .venv/bin/python benchmarks/bench_init.py            # 300 listings, 3 rounds
    .venv/bin/python benchmarks/bench_init.py --quick    # 50 listings, 3 rounds, sample 6
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "include"), str(ROOT)]

import yaml  # noqa: E402
from _common import (  # noqa: E402
    DAY,
    SiteProcess,
    goal_line,
    load_average,
    median,
    ratio_line,
    rotated,
    spread,
)

from harvest.config.settings import DEFAULT_SOURCES_DIR  # noqa: E402
from harvest.config.spec import SourceSpec, load_spec  # noqa: E402
from harvest.extract import Extractor  # noqa: E402
from harvest.learning.draft import Draft, draft_source  # noqa: E402
from harvest.learning.itemfields import SamplePage  # noqa: E402
from harvest.learning.listpage import find_structure  # noqa: E402
from harvest.scraping.draft import Fetcher, draft_from_url, sample_urls  # noqa: E402
from harvest.scraping.preview import needs_rendering  # noqa: E402
from harvest_demo import DemoSite, SiteConfig  # noqa: E402
from harvest_demo.generator import day_listings  # noqa: E402
from harvest_demo.pages import render_detail  # noqa: E402
from tests.fixtures.init_coverage import (  # noqa: E402
    FieldCoverage,
    card_coverage,
    coverage,
    overall,
    row_coverage,
)
from tests.fixtures.retemplated_demo import render_retemplated  # noqa: E402
from tests.fixtures.shape_crawl import DAY as SHAPE_DAY  # noqa: E402
from tests.fixtures.shape_crawl import run as shape_run  # noqa: E402
from tests.integration.shape_site import (  # noqa: E402
    PAGED_SPEC,
    SHOP_SPEC,
    TABLE_SPEC,
    ShapeSite,
)

GOAL = 0.9
BOOKKEEPING = frozenset(
    {"source", "record_key", "logical_date", "url", "is_duplicate_of", "imputed", "loaded_at"}
)
"""Columns of a warehouse row that are no value the spec reads."""
TODAY = dt.date(2026, 12, 7)


def reference_pages(spec: SourceSpec, fetcher: Fetcher, urls: list[str]) -> list[SamplePage]:
    """Each page fetched, and rendered where ``spec``'s ``javascript`` says it needs it."""
    from scrapy.http import HtmlResponse

    out = []
    for url in urls:
        page = fetcher.get(url)
        response = HtmlResponse(page.url, body=page.html.encode(), encoding="utf-8")
        if fetcher.can_render and needs_rendering(spec, response):
            page = fetcher.render(url)
        out.append(page)
    return out


def item_urls(fetcher: Fetcher, url: str, pages: int) -> list[str]:
    urls: list[str] = []
    for _ in range(pages):
        page = fetcher.get(url)
        structure = find_structure(page.url, page.html)
        if structure is None:
            break
        urls += structure.item_urls
        if structure.next_url is None:
            break
        url = structure.next_url
    return urls


def baseline(spec: SourceSpec, fetcher: Fetcher, list_url: str, urls: list[str]) -> int:
    """Fetch the list page and ``urls`` and extract them with ``spec``: the values found."""
    fetcher.get(list_url)
    extractor = Extractor(spec)
    from parsel import Selector

    pages = reference_pages(spec, fetcher, urls)
    return sum(
        v is not None
        for p in pages
        for v in extractor.page_fields(Selector(text=p.html), p.url).values()
    )


def print_coverage(title: str, fields: list[FieldCoverage], unit: str = "pages") -> None:
    print(title)
    for f in fields:
        print(
            f"  {f.field:<16} <- {f.drafted or '(none)':<22} {f.agreed}/{f.pages} {unit} "
            f"({f.share:.0%})"
        )


def catalogue(sample: int, browser: bool) -> None:
    """The spec drafted from the catalogue's home page against the bundled catalogue spec, on
    the first list page of every category (products and jobs)."""
    reference = load_spec(DEFAULT_SOURCES_DIR / "catalogue.yaml")
    with DemoSite(SiteConfig(seed=42), day=dt.date(2026, 11, 26)) as site:
        url = f"{site.base_url}/catalogue/"
        fetcher = Fetcher("harvest-bench", delay=0, browser=browser)
        try:
            start = time.perf_counter()
            draft = draft_from_url(url, fetcher, sample=sample)
            seconds = time.perf_counter() - start
            home = fetcher.get(url)
            categories = find_structure(home.url, home.html)
            urls = [
                u
                for c in (categories.item_urls if categories else ())
                for u in item_urls(fetcher, c, 1)
            ]
            pages = reference_pages(reference, fetcher, urls)
            own = reference_pages(draft.spec, fetcher, urls)
        finally:
            fetcher.close()
    fields = coverage(reference, draft.spec, pages, own)
    levels = " -> ".join(level.name for level in draft.spec.graph)
    cards = [n for n, f in draft.spec.detail.fields.items() if f.from_ == "card"]
    print_coverage(
        f"catalogue home /catalogue/ ({seconds:.1f} s; levels {levels}; card fields "
        f"{', '.join(cards) or 'none'}; {len(pages)} item pages): {overall(fields):.1%} of the "
        "bundled catalogue spec's page and URL values (card and many fields not compared)",
        fields,
    )


def retemplated(sample: int) -> None:
    """Item pages of the demo in another template (no ids, no data attributes; span pairs and
    div pairs): the spec drafted from ``sample`` of them against the bundled spec on the old
    pages (the same values)."""
    config = SiteConfig(listings_per_day=100, js_fraction=0.0)
    listings = list(day_listings(config, DAY))
    urls = [f"http://127.0.0.1:8000/listing/{x.listing_id}" for x in listings]
    new = [SamplePage(u, render_retemplated(x)) for u, x in zip(urls, listings, strict=True)]
    old = [
        SamplePage(u, (render_detail(config, x.listing_id) or b"").decode())
        for u, x in zip(urls, listings, strict=True)
    ]
    start = time.perf_counter()
    draft = draft_source(urls[0], None, sample_urls_of(new, sample), today=TODAY)
    seconds = time.perf_counter() - start
    fields = coverage(load_spec(DEFAULT_SOURCES_DIR / "demo.yaml"), draft.spec, old, new)
    print_coverage(
        f"re-templated demo item pages ({seconds:.1f} s from {sample} pages, {len(new)} compared):"
        f" {overall(fields):.1%} of the bundled spec's values",
        fields,
    )


def shapes() -> None:
    """The shape site's list pages whose cards are the records (``/paged/``: 7 numbered pages,
    ``/table/``: table rows): the drafted spec's card fields against the reference spec's, on
    every card of every page the reference reads; and whether pagination was drafted."""
    site = ShapeSite()
    try:
        for reference, pages in ((PAGED_SPEC, 7), (TABLE_SPEC, 1)):
            spec = SourceSpec.model_validate({"base_url": site.base_url, **reference})
            url = spec.start_urls[0].replace("{base_url}", site.base_url)
            fetcher = Fetcher("harvest-bench", delay=0, browser=False)
            try:
                start = time.perf_counter()
                draft = draft_from_url(url, fetcher, sample=6)
                seconds = time.perf_counter() - start
                shown = [
                    fetcher.get(url if n == 1 else f"{url}?page={n}") for n in range(1, pages + 1)
                ]
            finally:
                fetcher.close()
            level = draft.spec.levels[-1] if draft.spec.levels else None
            paging = (
                "next page"
                if level and level.next_page
                else "numbered pages"
                if level and level.pages
                else "no pagination"
            )
            fields = card_coverage(spec, draft.spec, shown)
            print_coverage(
                f"shape site {url.removeprefix(site.base_url)} ({seconds:.1f} s; {paging}; "
                f"{pages} list pages): {overall(fields):.1%} of the reference spec's card values",
                fields,
                "cards",
            )
    finally:
        site.stop()


def timed_draft(url: str, sample: int) -> tuple[Draft, float]:
    """The spec drafted from ``url`` (no browser) and the wall seconds it took."""
    fetcher = Fetcher("harvest-bench", delay=0, browser=False)
    start = time.perf_counter()
    try:
        return draft_from_url(url, fetcher, sample=sample), time.perf_counter() - start
    finally:
        fetcher.close()


def shop_tree(sample: int) -> float:
    """``/shop/``, a category tree of mixed depth: the spec drafted from its start page alone
    and the reference spec each crawled into the warehouse (:func:`harvest.pipeline.run_partition`
    on SQLite), the drafted rows' values against the reference rows', items matched by URL (an
    item the draft does not reach agrees on nothing). Returns the share agreed."""
    site = ShapeSite()
    try:
        draft, seconds = timed_draft(f"{site.base_url}/shop/", sample)
        drafted = yaml.safe_load(draft.text)
        drafted.pop("base_url")
        drafted["start_date"] = str(SHAPE_DAY)
        with tempfile.TemporaryDirectory() as home:
            reference, _ = shape_run(SHOP_SPEC, site, Path(home) / "reference")
            own, _ = shape_run(drafted, site, Path(home) / "drafted")
    finally:
        site.stop()
    columns = [c for c in reference.columns if c not in BOOKKEEPING]
    fields = row_coverage(reference, own, columns)
    level = draft.spec.levels[0] if draft.spec.levels else None
    print_coverage(
        f"shape site /shop/, a category tree of mixed depth ({seconds:.2f} s; levels "
        f"{' -> '.join(lv.name for lv in draft.spec.levels) or 'none'}"
        f"{'; recurse ' + level.recurse.text if level and level.recurse else ''}; "
        f"{len(own)} of {len(reference)} items loaded): {overall(fields):.1%} of the reference "
        "spec's loaded values",
        fields,
        "items",
    )
    return overall(fields)


def sample_urls_of(pages: list[SamplePage], count: int) -> list[SamplePage]:
    chosen = set(sample_urls([p.url for p in pages], count))
    return [p for p in pages if p.url in chosen]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    listings, sample = (50, 6) if args.quick else (300, 10)
    print(load_average())
    bundled = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    browser = Fetcher("probe").can_render
    if not browser:
        print("Chromium/chromedriver not installed: init and the baseline run without a browser")
    with SiteProcess(listings, js_fraction=0.1) as site:
        list_url = f"{site.base_url}/listings/{DAY}"
        seconds: dict[str, list[float]] = {"baseline": [], "init": []}
        ratios: list[float] = []
        texts: set[str] = set()
        drafted = None
        for index in range(args.rounds + 1):  # round 0 warms up (imports, the browser's start)
            times = {}
            for side in rotated(["baseline", "init"], index):
                fetcher = Fetcher("harvest-bench", delay=0, browser=browser)
                start = time.perf_counter()
                try:
                    if side == "init":
                        draft = draft_from_url(list_url, fetcher, sample=sample)
                    else:
                        urls = sample_urls(item_urls(fetcher, list_url, 1), sample)
                        baseline(bundled, fetcher, list_url, urls)
                finally:
                    fetcher.close()
                times[side] = time.perf_counter() - start
            texts.add(draft.text.replace(str(dt.datetime.now(dt.UTC).date()), "TODAY"))
            drafted = draft
            if index == 0:
                continue
            for side, value in times.items():
                seconds[side].append(value)
            ratios.append(times["init"] / times["baseline"])
        if len(texts) != 1:
            raise SystemExit("bench_init: rounds drafted different specs")
        if drafted is None:
            raise SystemExit("bench_init: no round ran")
        fetcher = Fetcher("harvest-bench", delay=0, browser=browser)
        try:
            urls = item_urls(fetcher, list_url, 2)
            pages = reference_pages(bundled, fetcher, urls)
            own = reference_pages(drafted.spec, fetcher, urls)  # as the drafted spec gets them
        finally:
            fetcher.close()
    fields = coverage(bundled, drafted.spec, pages, own)
    share = overall(fields)
    print_coverage(
        f"demo list page, {len(drafted.fields)} fields drafted from {sample} item pages; "
        f"the bundled spec's fields on {len(pages)} item pages:",
        fields,
    )
    for note in drafted.notes:
        print(f"  note: {note}")
    print(
        goal_line(
            "share of the bundled demo spec's values the drafted spec extracts",
            share >= GOAL,
            f">= {GOAL:.0%}",
            f"{share:.1%}",
        )
    )
    print(
        ratio_line(
            f"init (list page + {sample} item pages, learning) / fetching and extracting the "
            "same pages with the bundled spec (wall)",
            ratios,
            None,
            "",
        )
    )
    print(
        f"wall seconds, median of {args.rounds} rounds: init {median(seconds['init']):.2f} "
        f"(spread {spread(seconds['init'])}), baseline {median(seconds['baseline']):.2f} "
        f"(spread {spread(seconds['baseline'])})"
    )
    catalogue(sample, browser)
    retemplated(sample)
    shapes()
    shop_tree(sample)
    print(load_average())
    return 0 if share >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
