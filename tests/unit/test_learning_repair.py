"""``python -m harvest repair``: the night's stored pages in a new template, the values of the
night before in the warehouse (SQLite, a file raw store: no service needed)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from harvest.__main__ import main
from harvest.config import Settings
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.learning.proposals import pending_proposal, propose_on_drift, repair_on_drift
from harvest.partitions import Partition
from harvest.scraping.checks import CrawlCheckFailed, check_crawl
from harvest.storage.raw import RawDocument, open_raw_store
from harvest.storage.warehouse import open_warehouse
from harvest_demo import SiteConfig
from harvest_demo.generator import listings_for_day
from harvest_demo.records import demo_records
from tests.fixtures.retemplated_demo import render_retemplated, retemplated_site

DAY = dt.date(2026, 3, 2)
SITE = SiteConfig(seed=5, listings_per_day=80)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo spec, the warehouse holding the night before ``DAY``, and ``DAY``'s raw
    partition: the same listings (same URLs) in the new template."""
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in DEFAULT_SOURCES_DIR.iterdir():
        shutil.copy(path, sources / path.name)
    spec = load_spec(sources / "demo.yaml")
    before = DAY - dt.timedelta(days=1)
    with open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}", spec) as warehouse:
        warehouse.load_partition(spec, before, demo_records(SITE, before, spec)[0])
    store = open_raw_store(f"file://{tmp_path / 'raw'}")
    docs = [
        RawDocument(
            source="demo",
            logical_date=DAY.isoformat(),
            url=f"http://demo.test/listing/{listing.listing_id}",
            status=200,
            fetched_at=f"{DAY}T02:00:00+00:00",
            page_type="detail",
            body=render_retemplated(listing),
        )
        for listing in listings_for_day(SITE, before)
    ]
    store.upsert_many(docs)
    store.close()
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    monkeypatch.setenv("HARVEST_RAW_STORE_URL", f"file://{tmp_path / 'raw'}")
    monkeypatch.setenv("HARVEST_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    return tmp_path


def test_repair_shows_the_diff_and_applies_it_only_when_asked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = home / "sources" / "demo.yaml"
    original = spec_file.read_text(encoding="utf-8")
    assert main(["repair", "--source", "demo", "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "80 stored pages, 79 item pages with values" in out  # one quarantined
    assert "price: now 0% (0/" in out and "  proposed 100% (" in out
    assert '-      css: "[data-field=price]::text"\n' in out
    assert "+      xpath: \"//*[normalize-space()='Rent']/following-sibling::*[1]\"\n" in out
    assert "ok: http://demo.test/listing/" in out
    # the warehouse holds misspelt cities corrected (checks.values): they agree as cleaning maps them
    assert "city: now 0% (0/79) with css: [data-field=city]::text\n  proposed 100% (79/79)" in out
    assert "stored Frankfurt, read 'Frankfur'" in out
    assert "not applied: add --apply" in out
    assert spec_file.read_text(encoding="utf-8") == original, "never applied silently"

    assert main(["repair", "--source", "demo", "--date", DAY.isoformat(), "--apply"]) == 0
    out = capsys.readouterr().out
    assert f"applied to {spec_file}" in out
    # a plain re-run of the past date would re-process what the old spec read: the command says
    assert (
        f"crawl the date again with the patched spec: python -m harvest run --source demo --date "
        f"{DAY} --recrawl (add --base-url URL where the site is served elsewhere now)\n"
    ) in out
    repaired = load_spec(spec_file)
    assert repaired.detail.fields["rooms"].css is None
    assert "Rooms" in str(repaired.detail.fields["rooms"].xpath)
    assert repaired.detail.fields["price"].convert_to == "EUR", "the rest of the field is kept"

    assert main(["repair", "--source", "demo", "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "nothing to patch" in out and "city: now " in out  # city: typos corrected in storage


def test_repair_without_earlier_values_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = (DAY + dt.timedelta(days=30)).isoformat()
    assert main(["repair", "--source", "demo", "--date", later]) == 1
    err = capsys.readouterr().err
    assert f"source demo, date {later}: no stored item page has a value" in err


def index_doc(day: dt.date, url: str, body: str, links: list[str], branch: str) -> RawDocument:
    return RawDocument(
        source="demo",
        logical_date=day.isoformat(),
        url=url,
        status=200,
        fetched_at=f"{day}T02:00:00+00:00",
        page_type="index",
        body=body,
        listing={"branch": branch, "parent": None, "level": "index", "links": links},
    )


def test_repair_proposes_level_selectors_from_the_urls_seen_before(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tonight the index finds no link (the start page is all the crawl fetched); the night
    before, the index pages linked the item pages the warehouse holds."""
    before = DAY - dt.timedelta(days=1)
    start = f"http://demo.test/listings/{DAY}"
    old = f"http://demo.test/listings/{before}"
    items = [
        f"http://demo.test/listing/{item.listing_id}" for item in listings_for_day(SITE, before)
    ]
    store = open_raw_store(f"file://{home / 'raw'}")
    store.upsert_many(
        [
            index_doc(before, old, "", items[:25], old),
            index_doc(before, f"{old}?page=2", "", items[25:50], old),
        ]
    )
    site = retemplated_site(SITE, DAY, "http://demo.test")
    item_pages = store.read_partition("demo", DAY)[:20]  # fewer item pages: a faster test
    store.delete_partition("demo", DAY)
    store.upsert_many([*item_pages, index_doc(DAY, start, site[start], [], start)])
    store.close()
    # the scrape stage's proposal after a drifted crawl: stored for review, nothing applied
    spec_file = home / "sources" / "demo.yaml"
    original = spec_file.read_text(encoding="utf-8")
    summary = {"item_pages": 0, "empty_levels": 1}
    stored = propose_on_drift(Settings.from_env(), load_spec(spec_file), DAY, summary)
    assert stored is not None and pending_proposal(home, "demo") == stored
    names = [s["name"] for s in stored.selectors]
    assert names[:2] == ["index.links", "index.next_page"] and "price" in names
    diff = stored.diff
    assert '-  detail_links: "a.listing-link"\n' in diff and '+  detail_links: "' in diff
    assert (
        '-  next_page: "a[rel=next]"\n' in diff
        and '+  next_page: "span.pager-current + a"\n' in diff
    )
    assert spec_file.read_text(encoding="utf-8") == original, "never applied silently"
    # the command shows the same
    assert main(["repair", "--source", "demo", "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "index.links: now 0% (0/" in out and "index.next_page: now 0% (0/1)" in out
    assert "seen before http://demo.test/listing/" in out and diff in out
    # --apply writes the proposal as it was shown, even once the pages it came from are gone
    store = open_raw_store(f"file://{home / 'raw'}")
    store.delete_partition("demo", DAY)
    store.close()
    served = "http://127.0.0.1:8001"
    command = ["repair", "--source", "demo", "--date", DAY.isoformat(), "--base-url", served]
    assert main([*command, "--apply"]) == 0
    out = capsys.readouterr().out
    assert "applying the stored proposal as it was shown" in out and diff in out
    assert out.endswith(
        f"python -m harvest run --source demo --date {DAY} --base-url {served} --recrawl\n"
    )
    assert pending_proposal(home, "demo") is None, "applied"
    repaired = load_spec(spec_file)
    assert repaired.graph[0].next_page.css == "span.pager-current + a"
    assert repaired.detail.fields["price"].css != "[data-field=price]::text", "fields too"


def test_apply_derives_again_when_the_spec_changed_since_the_proposal(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = home / "sources" / "demo.yaml"
    summary = {"item_pages": 0, "empty_levels": 1}
    assert propose_on_drift(Settings.from_env(), load_spec(spec_file), DAY, summary) is not None
    with spec_file.open("a", encoding="utf-8") as out:
        out.write("# edited by hand after the proposal\n")
    assert main(["repair", "--source", "demo", "--date", DAY.isoformat(), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "applying the stored proposal" not in out, "the reviewed diff no longer fits"
    assert "price: now 0% (0/79)" in out and f"applied to {spec_file}" in out
    assert pending_proposal(home, "demo") is None
    assert load_spec(spec_file).detail.fields["price"].css != "[data-field=price]::text"


def test_a_drifted_night_no_selector_repairs_is_said_not_only_logged(home: Path) -> None:
    """Tonight's item pages no longer show the values at all (a maintenance page): no
    candidate; the crawl's warnings, its failure and the supervisor get a notice naming what
    drifted, and nothing is proposed to apply."""
    store = open_raw_store(f"file://{home / 'raw'}")
    docs = store.read_partition("demo", DAY)
    store.delete_partition("demo", DAY)
    store.upsert_many([replace(d, body="<html><body><p>Back soon</p></body></html>") for d in docs])
    store.close()
    coverage = {"monitor": "field_coverage", "status": "failed", "severity": "warning",
                "message": "price 0% < 50%"}  # fmt: skip
    summary = {"exit_code": 0, "pages": 80, "item_pages": 80, "monitors": [coverage]}
    spec = load_spec(home / "sources" / "demo.yaml")
    notice = repair_on_drift(Settings.from_env(), spec, DAY, summary)
    assert notice is not None and notice.selectors == [] and notice.diff == ""
    assert propose_on_drift(Settings.from_env(), spec, DAY, summary) is None, "nothing to apply"
    assert notice.unresolved == list(spec.detail.fields)  # every field now reads nothing
    line = notice.line()
    assert line.startswith(f"source demo date {DAY}: the crawl looks drifted (listing_id; title; ")
    assert "and no repair was found (no selector reaches 95% agreement)" in line
    assert pending_proposal(home, "demo") == notice, "kept for the supervisor's alerts"
    warnings = check_crawl(spec, Partition.of("demo", DAY), {**summary, "repair": line})
    assert warnings == [
        line,
        f"source=demo date={DAY} crawl monitor field_coverage failed (warning): price 0% < 50%",
    ]
    # a source without history: the notice says there was nothing to learn from
    later = DAY + dt.timedelta(days=30)
    empty = {"exit_code": 0, "pages": 1, "item_pages": 0, "empty_levels": 1,
             "first_empty_level": "level 'index': links selector 'a.x' matched nothing on U"}  # fmt: skip
    notice = repair_on_drift(Settings.from_env(), spec, later, empty)
    assert notice is not None and notice.unresolved == [empty["first_empty_level"]]
    assert "no repair was found (nothing to learn from: source demo, date" in notice.line()
    with pytest.raises(CrawlCheckFailed, match=r"looks drifted .* and no repair was found"):
        check_crawl(spec, Partition.of("demo", later), {**empty, "repair": notice.line()})
