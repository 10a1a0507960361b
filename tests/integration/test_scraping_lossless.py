"""Every page a crawl asks for ends as a stored page or a recorded failure, on a hostile site.

Real components: the hostile site (``hostile_lossless.py``) on localhost, Scrapy in a child
process through ``run_crawl`` (or ``python -m harvest crawl``), the file raw store and the file
HTTP cache, headless Chromium for the page whose script navigates away.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvest.config.settings import Settings
from harvest.crawler.spiders import GenericSpider
from harvest.scraping import CrawlError, CrawlResult, run_crawl
from harvest.storage.raw import FileRawStore, RawDocument
from tests.integration.hostile_lossless import (
    GOOD_PAGES,
    LINKS,
    HostileSite,
    Switches,
    hostile_spec,
)

DAY = dt.date(2026, 3, 1)
REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = {"HARVEST_RETRY_BACKOFF_SECONDS": 0.05, "CONCURRENT_REQUESTS_PER_DOMAIN": 16}
SPIDER = "tests.integration.test_scraping_lossless.ExplodingSpider"


class ExplodingSpider(GenericSpider):
    """The generic spider, except that extracting ``/item/boom`` raises (a selector bug, say)."""

    def parse_detail(self, response: Any) -> Iterator[Any]:
        if response.url.endswith("/item/boom"):
            raise ValueError("price selector matched 2 elements")
        yield from super().parse_detail(response)


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(home)})


def documents(settings: Settings) -> dict[str, RawDocument]:
    root = settings.raw_store_url.removeprefix("file://")
    docs = FileRawStore(root).read_partition("hostile", DAY)
    return {"/" + doc.url.split("/", 3)[-1]: doc for doc in docs}


def assert_counts_add_up(result: CrawlResult, docs: dict[str, RawDocument]) -> None:
    """asked = stored + failed, in the crawl's counts and in the raw store alike."""
    stored = [d for d in docs.values() if d.error is None]
    failed = [d for d in docs.values() if d.error is not None]
    assert result.pages_asked == len(docs) == result.documents
    assert result.pages_asked == result.pages == len(stored) + len(failed)
    assert result.failed_pages == len(failed)
    assert result.ignored_pages == 0 and not result.partial


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One crawl with every loss switch on, then a re-run with the same HTTP cache."""
    home = tmp_path_factory.mktemp("hostile")
    settings = settings_for(home)
    with HostileSite(Switches.everything()) as site:
        spec = hostile_spec(site, spider=SPIDER)
        result = run_crawl(spec, DAY, settings, timeout_seconds=120, extra_scrapy_settings=FAST)
        docs = documents(settings)
        first = dict(site.requests)
        site.requests.clear()
        rerun = run_crawl(spec, DAY, settings, timeout_seconds=120, extra_scrapy_settings=FAST)
        yield {
            "result": result, "docs": docs, "first": first, "rerun": rerun,
            "rerun_docs": documents(settings), "rerun_requests": dict(site.requests),
            "site": site,
        }  # fmt: skip


def test_every_page_asked_for_is_stored_or_failed(hostile_crawl: dict[str, Any]) -> None:
    docs = hostile_crawl["docs"]
    assert set(docs) == {"/index", *GOOD_PAGES, *(LINKS[k] for k in LINKS if k != "js_away")}
    assert_counts_add_up(hostile_crawl["result"], docs)
    assert_counts_add_up(hostile_crawl["rerun"], hostile_crawl["rerun_docs"])


def test_good_pages_record_their_final_url_and_chain(hostile_crawl: dict[str, Any]) -> None:
    site = hostile_crawl["site"]
    good = hostile_crawl["docs"]["/item/1"]
    assert good.error is None and good.fields["item_id"] == "1"
    assert good.final_url == f"{site.base_url}/item/1"
    assert good.redirect_chain == [f"{site.base_url}/item/1"]
    assert good.content_type == "text/html; charset=utf-8"


def test_a_redirect_to_a_page_already_crawled_is_stored_with_its_chain(
    hostile_crawl: dict[str, Any],
) -> None:
    base = hostile_crawl["site"].base_url
    moved = hostile_crawl["docs"]["/item/moved"]
    assert moved.error is None and moved.status == 200 and moved.fields["item_id"] == "1"
    assert moved.final_url == f"{base}/item/1"
    assert moved.redirect_chain == [f"{base}/item/moved", f"{base}/item/1"]
    refreshed = hostile_crawl["docs"]["/item/refresh"]  # a meta refresh is a redirect too
    assert refreshed.error is None and refreshed.fields["item_id"] == "2"
    assert refreshed.redirect_chain == [f"{base}/item/refresh", f"{base}/item/2"]


@pytest.mark.parametrize(
    ("path", "error", "final"),
    [
        ("/item/members", "redirected to a login/blocked page: {b}/login?next=/item/members matches", "/login?next=/item/members"),
        ("/item/wall", "a login/blocked page: it matches blocked_selector 'form#login'", "/item/wall"),
        ("/item/self", "redirect loop: {b}/item/self -> {b}/item/self", "/item/self"),
        ("/item/loop-a", "redirect loop: {b}/item/loop-a -> {b}/item/loop-b -> {b}/item/loop-a", "/item/loop-a"),
        ("/item/away", "redirected off-site: {o}/elsewhere is not on 127.0.0.1", "{o}/elsewhere"),
        ("/item/gzip", "truncated body: the gzip stream ends early (after 1 retry)", "/item/gzip"),
        ("/item/empty", "empty body (HTTP 200) (after 1 retry)", "/item/empty"),
        ("/item/data.json", "not an HTML page (Content-Type: application/json)", "/item/data.json"),
        ("/item/boom", "extraction failed: ValueError: price selector matched 2 elements", "/item/boom"),
    ],
)  # fmt: skip
def test_each_hostile_page_is_a_failed_page_with_its_reason(
    hostile_crawl: dict[str, Any], path: str, error: str, final: str
) -> None:
    site = hostile_crawl["site"]
    doc = hostile_crawl["docs"][path]
    fill = {"b": site.base_url, "o": site.other_host}
    assert doc.error is not None and doc.error.startswith(error.format(**fill))
    expected_final = final.format(**fill)
    if expected_final.startswith("/"):
        expected_final = site.base_url + expected_final
    assert doc.final_url == expected_final
    assert doc.redirect_chain[0] == f"{site.base_url}{path}"
    assert doc.redirect_chain[-1] == expected_final
    assert doc.fields == {} and doc.body is None


def test_broken_bodies_are_retried_and_never_cached(hostile_crawl: dict[str, Any]) -> None:
    first, again = hostile_crawl["first"], hostile_crawl["rerun_requests"]
    assert first["/item/gzip"] == first["/item/empty"] == 2  # fetched, retried once
    assert again.get("/item/gzip") == again.get("/item/empty") == 2  # not served by the cache
    assert again.get("/item/1") is None and again.get("/index") is None  # good pages cached
    assert again.get("/item/data.json") == 1  # a failed page is never cached: asked again
    rerun = hostile_crawl["rerun_docs"]
    assert rerun["/item/gzip"].error == hostile_crawl["docs"]["/item/gzip"].error


def test_javascript_that_navigates_off_site_is_a_failed_page(
    tmp_path: Path, chromium: tuple[str, str]
) -> None:
    settings = settings_for(tmp_path)
    with HostileSite(Switches(js_away=True)) as site:
        result = run_crawl(
            hostile_spec(site), DAY, settings, timeout_seconds=120, extra_scrapy_settings=FAST
        )
        assert site.requests["/elsewhere"] >= 1  # the browser really went there
    docs = documents(settings)
    assert_counts_add_up(result, docs)
    doc = docs["/item/js-away"]
    assert doc.rendered_with == "chromium"
    assert doc.error == (
        f"javascript navigated off-site: {site.other_host}/elsewhere is not on 127.0.0.1"
    )
    assert doc.final_url == f"{site.other_host}/elsewhere"


def test_a_crawl_stops_before_its_deadline_and_keeps_what_it_fetched(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    switches = Switches(slow_pages=400, slow_seconds=1.0)  # far more than 40 s of pages
    with HostileSite(switches) as site:
        spec = hostile_spec(site, concurrency_per_domain=2, download_timeout_seconds=1.5)
        started = time.monotonic()
        with pytest.raises(CrawlError, match="stopped at its deadline with a partial partition"):
            run_crawl(spec, DAY, settings, timeout_seconds=40)
        assert time.monotonic() - started < 40  # it stopped itself: nothing was killed
        failed_docs = documents(settings)

        warn = spec.model_copy(
            update={"crawl": spec.crawl.model_copy(update={"on_deadline": "warn"})}
        )
        result = run_crawl(warn, DAY, settings_for(tmp_path / "warn"), timeout_seconds=40)
    assert 3 <= len(failed_docs) < 403  # index, good pages, some slow pages: not all of them
    assert result.partial and result.finish_reason == "closespider_timeout"
    docs = documents(settings_for(tmp_path / "warn"))
    assert result.documents == len(docs) == result.pages
    assert result.pages_asked == result.pages + result.unfinished_pages
    assert result.unfinished_pages > 0


def test_a_slow_site_cut_by_the_deadline_keeps_and_reports_what_it_fetched(
    tmp_path: Path,
) -> None:
    # each slow page takes 30 s to answer and the download timeout is 60 s: stopping and
    # waiting for the in-flight pages would run past the deadline (the crawl was killed, and
    # left no partition and no counts); the deadline cuts them instead
    settings = settings_for(tmp_path)
    with HostileSite(Switches(slow_pages=30, slow_seconds=30)) as site:
        spec = hostile_spec(site, download_timeout_seconds=60, on_deadline="warn")
        started = time.monotonic()
        result = run_crawl(spec, DAY, settings, timeout_seconds=20)
        assert time.monotonic() - started < 20  # it stopped itself: nothing was killed
    docs = documents(settings)
    assert set(docs) == {"/index", *GOOD_PAGES}  # the partition holds what was fetched
    assert all(doc.error is None for doc in docs.values())
    assert result.partial and result.finish_reason == "closespider_timeout"
    assert result.documents == result.pages == 3 and result.failed_pages == 0
    assert result.unfinished_pages == 30
    (level,) = result.completeness["levels"]
    assert level["links_seen"] == 32 and level["followed"] == 2
    assert level["skipped"] == {"deadline": 30}
    assert any(
        w.startswith(f"links_skipped_deadline: level {level['level']!r}: 30 links not followed")
        for w in result.completeness["warnings"]
    )


class HangingSpider(GenericSpider):
    """The generic spider, except that a slow page blocks the crawl process (a hung library)."""

    def parse_detail(self, response: Any, **kwargs: Any) -> Iterator[Any]:
        if "/slow/" in response.url:
            time.sleep(120)
        yield from super().parse_detail(response, **kwargs)


def test_a_killed_crawl_keeps_the_pages_it_wrote_outside_the_partition(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with HostileSite(Switches(slow_pages=2, slow_seconds=0)) as site:
        spec = hostile_spec(site, spider="tests.integration.test_scraping_lossless.HangingSpider")
        # batches of 500 pages: the first page is still written at once
        with pytest.raises(
            CrawlError, match=r"[1-3] documents it had written are kept in .*partial"
        ):
            run_crawl(spec, DAY, settings, timeout_seconds=15)
    store = FileRawStore(settings.raw_store_url.removeprefix("file://"))
    assert not store.path("hostile", DAY).exists()  # no stage can mistake it for a partition
    assert store.journal_path("hostile", DAY).exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_to_the_cli_ends_its_crawl_child(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    with HostileSite(Switches(slow_pages=20, slow_seconds=30)) as site:
        spec = hostile_spec(site, download_timeout_seconds=60)
        (sources / "hostile.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json")))
        env = {
            **os.environ,
            "HARVEST_HOME": str(tmp_path / "home"),
            "HARVEST_SOURCES_DIR": str(sources),
            "PYTHONPATH": str(REPO_ROOT / "include"),
        }
        cli = subprocess.Popen(
            # --recrawl: a past date of an undated source is otherwise refused before any crawl
            [
                sys.executable,
                "-m",
                "harvest",
                "crawl",
                "--source",
                "hostile",
                "--date",
                str(DAY),
                "--recrawl",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not site.requests.get("/slow/0"):
                time.sleep(0.2)
            assert site.requests.get("/slow/0"), "the crawl never reached the slow pages"
            (child,) = _children(cli.pid)
            assert _alive(child)
            cli.send_signal(signal.SIGTERM)
            assert cli.wait(timeout=20) == 128 + signal.SIGTERM
            gone_by = time.monotonic() + 15
            while _alive(child) and time.monotonic() < gone_by:
                time.sleep(0.1)
            assert not _alive(child), "the crawl child outlived `python -m harvest crawl`"
        finally:
            if cli.poll() is None:
                cli.kill()
