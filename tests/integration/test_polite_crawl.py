"""A crawl's manners, measured on a hostile site served locally (``hostile_polite.py``).

Each test switches on one behaviour and crawls it in a child process, like Airflow does, then
measures what the site saw: the gaps between requests (Crawl-delay, Retry-After, 429), how
often robots.txt was asked for (5xx, 4xx, redirects), page sizes, and page counts (budget,
depth, session-id traps). Delays and caps are small (1-2 s) so the tests stay short.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec
from harvest.scraping import CrawlResult, run_crawl
from harvest.storage.raw import FileRawStore, RawDocument
from tests.integration.hostile_polite import HostileSite, Switches
from tests.integration.test_scraping import LogLines

DAY = dt.date(2026, 3, 1)
# the retry backoff is short, so a wait of a second or more can only be the site's own ask
FAST = {"AUTOTHROTTLE_START_DELAY": 0.0, "HARVEST_RETRY_BACKOFF_SECONDS": 0.05}
SLACK = 0.05  # timer resolution: on average a gap may be this much shorter than asked
# The server stamps a request when it handles it, not when Scrapy sent it: on a loaded machine a
# request handled late makes the gap before it look longer and the one after it shorter by as
# much. Each single gap may therefore fall short by this much; their mean may not.
JITTER = 0.3


def assert_spaced(gaps: list[float], at_least: float) -> None:
    """Requests were sent at least ``at_least`` seconds apart, as a server on a busy machine sees
    it: the mean gap within :data:`SLACK`, each gap within :data:`JITTER`."""
    assert gaps, "fewer than two requests: nothing to measure"
    assert sum(gaps) / len(gaps) >= at_least - SLACK, gaps
    assert min(gaps) >= at_least - JITTER, gaps


def hostile_spec(javascript: dict[str, Any] | None = None, **crawl: Any) -> SourceSpec:
    """A spec for the hostile site: one request at a time, no delay of its own."""
    return SourceSpec.model_validate(
        {
            "name": "hostile",
            "base_url": "http://127.0.0.1:1",
            "start_urls": ["{base_url}/start"],
            "index": {"detail_links": "a.item", "next_page": "a[rel=next]"},
            "detail": {"key": "title", "fields": {"title": {"css": "h1::text"}}},
            "javascript": javascript or {},
            "crawl": {"concurrency_per_domain": 1, "download_delay_seconds": 0, **crawl},
        }
    )


class Crawl:
    """One crawl of the site: its result, raw documents and log lines."""

    def __init__(self, site: HostileSite, home: Path, spec: SourceSpec, **extra: Any) -> None:
        settings = Settings.from_env({"HARVEST_HOME": str(home)})
        logger = logging.getLogger(f"test.polite.{home.name}")
        logger.setLevel(logging.INFO)
        handler = LogLines()
        logger.addHandler(handler)
        try:
            self.result: CrawlResult = run_crawl(
                spec, DAY, settings, base_url=site.base_url, logger=logger, timeout_seconds=90,
                extra_scrapy_settings={**FAST, **extra},
            )  # fmt: skip
        finally:
            logger.removeHandler(handler)
        self.log = handler.lines
        root = settings.raw_store_url.removeprefix("file://")
        self.docs: list[RawDocument] = FileRawStore(root).read_partition(spec.name, DAY)

    def doc(self, path: str) -> RawDocument:
        (found,) = [d for d in self.docs if d.url.endswith(path)]
        return found

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.log)


@pytest.fixture
def crawl(tmp_path: Path) -> Iterator[Any]:
    """``crawl(switches, javascript=None, **crawl_spec)``: serve the site, crawl it once, and
    return (site, Crawl)."""
    sites: list[HostileSite] = []

    def run(switches: Switches, javascript: dict[str, Any] | None = None, **crawl_spec: Any) -> Any:
        site = HostileSite(switches).__enter__()
        sites.append(site)
        home = tmp_path / f"crawl{len(sites)}"
        return site, Crawl(site, home, hostile_spec(javascript, **crawl_spec))

    yield run
    for site in sites:
        site.__exit__(None, None, None)


# -- Crawl-delay ---------------------------------------------------------------------------------


def test_crawl_delay_spaces_every_request_to_the_site(crawl: Any) -> None:
    site, done = crawl(Switches(crawl_delay=1), max_crawl_delay_seconds=2)
    pages = site.pages()
    assert len(pages) == 5 and done.result.failed_pages == 0
    assert_spaced(site.gaps(pages), 1)
    # the same site without a Crawl-delay is crawled without waiting: the gaps are the delay's
    fast, _ = crawl(Switches(), max_crawl_delay_seconds=2)
    assert max(fast.gaps(fast.pages())) < 0.5


def test_a_crawl_delay_above_the_cap_is_logged_and_the_cap_used(crawl: Any) -> None:
    site, done = crawl(Switches(crawl_delay=5, items=3), max_crawl_delay_seconds=1)
    gaps = site.gaps(site.pages())
    assert_spaced(gaps, 1)
    assert max(gaps) < 2.5
    assert done.logged("asks for Crawl-delay 5 s, more than crawl.max_crawl_delay_seconds (1 s)")


# -- robots.txt per RFC 9309 ---------------------------------------------------------------------


def test_robots_txt_503_disallows_all_after_one_polite_retry(crawl: Any) -> None:
    switches = Switches(robots_status=503, robots_retry_after="1")
    site, done = crawl(switches, max_retry_after_seconds=2)
    robots = site.requests("/robots.txt")
    assert len(robots) == 2  # one fetch, one retry
    assert site.gaps(robots)[0] >= 1 - JITTER  # after the Retry-After
    assert site.pages() == []  # disallow all: nothing else is fetched
    # ... and the page asked for is recorded as failed, with the reason
    start = done.doc("/start")
    assert start.error and "robots.txt" in start.error and "HTTP 503" in start.error
    assert done.result.failed_pages == 1 and done.result.documents == 1
    assert done.result.exit_code == 0


def test_robots_txt_network_error_disallows_all(crawl: Any) -> None:
    site, done = crawl(Switches(robots_drop=True))
    assert len(site.requests("/robots.txt")) == 2
    assert site.pages() == []
    assert "robots.txt" in str(done.doc("/start").error)
    assert "unreachable" in str(done.doc("/start").error)


def test_robots_txt_4xx_allows_all_fetched_once(crawl: Any) -> None:
    site, done = crawl(Switches(robots_status=404))
    assert len(site.requests("/robots.txt")) == 1
    assert len(site.pages()) == 5 and done.result.failed_pages == 0


def test_robots_txt_redirects_are_followed_to_another_host(crawl: Any) -> None:
    switches = Switches(robots_redirects=3, robots_redirect_host="localhost", disallow=["/item/2"])
    site, done = crawl(switches)
    assert [hit.path for hit in site.requests("/robots")] == [
        "/robots.txt", "/robots-hop/1", "/robots-hop/2", "/robots-hop/3",
    ]  # fmt: skip
    fetched = {hit.path for hit in site.pages()}
    assert "/item/2" not in fetched and {"/start", "/item/1", "/item/3"} <= fetched
    assert done.result.failed_pages == 0 and len(done.docs) == 4  # /item/2: robots.txt says no


def test_more_than_five_robots_txt_redirects_mean_unavailable(crawl: Any) -> None:
    site, done = crawl(Switches(robots_redirects=6, disallow=["/item/2"]))
    assert len(site.requests("/robots")) == 6  # five redirects followed, the sixth not
    assert "/item/2" in {hit.path for hit in site.pages()}  # allow all
    assert done.logged("max redirections reached") and done.logged("RFC 9309 says allow all")


# -- Retry-After and 429 -------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["1", "date+2"])
def test_retry_after_is_waited_out_before_the_retry(crawl: Any, retry_after: str) -> None:
    switches = Switches(throttled_status=503, throttled_times=2, retry_after=retry_after)
    site, done = crawl(switches, retries=3, max_retry_after_seconds=2)
    attempts = site.requests("/item/1")
    assert len(attempts) == 3
    # an HTTP date has whole seconds: "in 2 s" may mean a little over 1 s
    assert_spaced(site.gaps(attempts), 1 if retry_after == "1" else 0.95)
    assert done.doc("/item/1").status == 200 and done.doc("/item/1").error is None


def test_retry_after_above_the_cap_fails_the_page_without_retrying(crawl: Any) -> None:
    switches = Switches(throttled_status=503, throttled_times=5, retry_after="120")
    site, done = crawl(switches, retries=3, max_retry_after_seconds=2)
    assert len(site.requests("/item/1")) == 1
    failed = done.doc("/item/1")
    assert failed.status == 503
    assert failed.error and "Retry-After 120 s" in failed.error and "(2 s)" in failed.error
    assert done.result.failed_pages == 1 and done.result.documents == 5


def test_a_429_slows_the_whole_site_down(crawl: Any) -> None:
    # the items are asked for last-linked first: /item/5 is the second page requested
    switches = Switches(
        items=5, throttled_item=5, throttled_status=429, throttled_times=1, retry_after="1"
    )
    site, done = crawl(switches, retries=2, max_retry_after_seconds=2)
    pages = site.pages()
    first_429 = next(i for i, hit in enumerate(pages) if hit.path == "/item/5")
    before, after = pages[: first_429 + 1], pages[first_429:]
    assert len(after) == 6, [hit.path for hit in pages]  # the 429, four pages and the retry
    assert max(site.gaps(before)) < 0.5  # full speed until the 429
    assert_spaced(site.gaps(after), 1)  # every page after it waits (doubled, >= 1 s)
    assert done.result.failed_pages == 0 and done.doc("/item/5").status == 200
    assert done.logged("HTTP 429 from")


# -- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("unsized", [False, True])
def test_a_page_larger_than_the_limit_is_a_failed_page(crawl: Any, unsized: bool) -> None:
    switches = Switches(item_bytes={1: 3_000_000, 2: 300_000}, unsized_items=unsized)
    _, done = crawl(switches, download_maxsize_bytes=1_000_000, download_warnsize_bytes=200_000)
    big = done.doc("/item/1")
    assert big.body is None and big.error and big.error.startswith("PageTooLarge: ")
    assert "max size (1000000)" in big.error or "DOWNLOAD_MAXSIZE (1000000 B)" in big.error
    assert done.doc("/item/2").error is None and len(done.doc("/item/2").body or "") == 300_000
    assert done.logged("larger than download warn size")
    assert done.result.failed_pages == 1 and done.result.documents == 5


def test_a_gzip_bomb_is_a_failed_page(crawl: Any) -> None:
    _, done = crawl(Switches(gzip_bomb_bytes=20_000_000), download_maxsize_bytes=1_000_000)
    bomb = done.doc("/item/1")
    assert bomb.body is None and bomb.error and bomb.error.startswith("PageTooLarge")
    assert "DOWNLOAD_MAXSIZE (1000000 B)" in bomb.error
    assert done.result.failed_pages == 1
    assert max(len(d.body or "") for d in done.docs) < 1_000_000


# -- bounded link spaces -------------------------------------------------------------------------


def test_the_page_budget_stops_an_endless_chain_and_says_so(crawl: Any) -> None:
    site, done = crawl(Switches(items=2, endless=True), max_pages=6)
    assert len(site.pages()) == 6 and done.result.documents == 6
    assert done.logged("page budget crawl.max_pages=6 reached")


def test_the_depth_limit_stops_an_endless_chain_and_says_so(crawl: Any) -> None:
    site, done = crawl(Switches(items=0, endless=True), max_depth=3, max_pages=100)
    assert [hit.path for hit in site.pages()] == ["/start", "/chain/1", "/chain/2", "/chain/3"]
    assert done.logged("crawl.max_depth=3 reached")


def test_session_ids_do_not_make_a_page_new(crawl: Any) -> None:
    site, done = crawl(Switches(items=3, session_ids=True))
    assert sorted(hit.path.split("?")[0] for hit in site.pages()) == [
        "/item/1", "/item/2", "/item/3", "/start",
    ]  # fmt: skip
    assert all("sessionid" not in d.url for d in done.docs)
    # without dropping the parameter the site is an endless link space (bounded by the budget)
    trap, _ = crawl(Switches(items=3, session_ids=True), drop_url_parameters=[], max_pages=8)
    assert len(trap.pages()) == 8


# -- the browser's user agent --------------------------------------------------------------------


@pytest.mark.chromium
def test_the_browser_sends_harvests_user_agent(crawl: Any, chromium: tuple[str, str]) -> None:
    site, done = crawl(Switches(items=1), javascript={"url_patterns": ["/item/"]})
    plain_agent = site.requests("/start")[0].user_agent
    assert plain_agent.startswith("HarvestBot/")
    rendered = site.requests("/item/1")
    assert rendered and all(hit.user_agent == plain_agent for hit in rendered)
    assert done.doc("/item/1").rendered_with == "chromium" and done.doc("/item/1").error is None
