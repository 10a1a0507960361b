"""Drift repair end to end: night 1 crawls and loads the demo site; night 2 the site is
re-templated (the demo's ``retemplated`` fault), the real scrape stage finds the drift and
stores ONE proposal (the levels, and the fields learned on item pages fetched through the
proposed levels), ``repair --apply`` patches the spec, and a re-run of night 2 loads the same
values as night 1. The source's start URL carries no date (a site whose URLs stay, as the
nights before must show the same item pages), the site is small and has no JavaScript page (no
browser): a few seconds."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from harvest.__main__ import main
from harvest.config import Settings, SourceSpec, load_spec
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.learning.proposals import pending_proposal, stored_proposals
from harvest.pipeline import run_partition
from harvest.scraping.checks import CrawlCheckFailed
from harvest.storage.raw import open_raw_store
from harvest_demo.generator import SiteConfig
from harvest_demo.server import DemoSite, Faults
from tests.fixtures.retemplated_demo import stored_values

NIGHT1 = dt.date(2026, 3, 9)
NIGHT2 = NIGHT1 + dt.timedelta(days=1)
SITE = SiteConfig(seed=11, listings_per_day=24, page_size=10, js_fraction=0.0)


def tonight(day: dt.date) -> dt.datetime:
    """The scheduled run of ``day``: its night is now (the site is crawled, not re-read)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3), dt.UTC)


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(SITE) as demo:
        yield demo


@pytest.fixture
def sources(harvest_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled specs, the demo's start URL fixed on night 1's listings."""
    folder = harvest_env / "sources"
    shutil.copytree(DEFAULT_SOURCES_DIR, folder)
    spec_file = folder / "demo.yaml"
    text = spec_file.read_text(encoding="utf-8")
    dated = '"{base_url}/listings/{date}"'
    assert dated in text
    spec_file.write_text(text.replace(dated, f'"{{base_url}}/listings/{NIGHT1}"'), "utf-8")
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(folder))
    return folder


def demo_spec(sources: Path) -> SourceSpec:
    return load_spec(sources / "demo.yaml")


def night(sources: Path, day: dt.date, site: DemoSite) -> dict[str, dict[str, object]]:
    return run_partition(
        demo_spec(sources), day, Settings.from_env(), base_url=site.base_url, now=tonight(day)
    )


def item_values(spec: SourceSpec, day: dt.date) -> pd.DataFrame:
    """The fields of ``day``'s stored item pages as the load parses them, by URL."""
    store = open_raw_store(Settings.from_env().raw_store_url)
    try:
        docs = [d for d in store.read_partition("demo", day) if d.page_type == "detail"]
    finally:
        store.close()
    rows = [dict(d.fields or {}) for d in docs]
    frame = stored_values(spec, rows, [d.url for d in docs], day)
    return frame.set_index("url").sort_index()


def repair(day: dt.date, capsys: pytest.CaptureFixture[str], site: DemoSite) -> tuple[str, str]:
    """``repair`` then ``repair --apply``, the site reached where it is served (``--base-url``,
    as the crawl's): what each printed."""
    command = ["repair", "--source", "demo", "--date", day.isoformat()]
    assert main([*command, "--base-url", site.base_url]) == 0
    shown = capsys.readouterr().out
    assert main([*command, "--base-url", site.base_url, "--apply"]) == 0
    return shown, capsys.readouterr().out


def test_a_retemplated_site_is_repaired_from_last_nights_values(
    sources: Path, site: DemoSite, capsys: pytest.CaptureFixture[str]
) -> None:
    home = Settings.from_env().home
    first = night(sources, NIGHT1, site)
    assert first["load"]["valid"] == SITE.listings_per_day

    site.set_faults(Faults(retemplated=True))
    original = (sources / "demo.yaml").read_text(encoding="utf-8")
    with pytest.raises(CrawlCheckFailed, match="reached no item page") as failed:
        night(sources, NIGHT2, site)
    assert "a spec patch is proposed" in str(failed.value)
    proposal = pending_proposal(home, "demo")
    assert proposal is not None and proposal.date == NIGHT2.isoformat()
    names = {s["name"] for s in proposal.selectors}
    # one round: the item pages were fetched through the proposed levels, the fields learned
    assert {"index.links", "index.next_page"} <= names, names
    assert set(demo_spec(sources).detail.fields) <= names, names
    assert all(s["agreement"] >= 0.95 and s["examples"] for s in proposal.selectors)
    assert proposal.unresolved == []
    assert '+  detail_links: "' in proposal.diff and '+      css: "' in proposal.diff
    assert (sources / "demo.yaml").read_text(encoding="utf-8") == original, "never silently"
    shown, out = repair(NIGHT2, capsys, site)
    # derived again, item pages fetched through the proposed levels where the site is served
    fetched = re.search(
        r"fetched (\d+) item page\(s\) with stored values through the proposed", shown
    )
    assert fetched and int(fetched.group(1)) > 0, shown
    assert "not fetched" not in shown, shown
    assert "applying the stored proposal as it was shown" in out
    assert "applied to" in out and pending_proposal(home, "demo") is None
    assert out.endswith(
        f"python -m harvest run --source demo --date {NIGHT2} --base-url {site.base_url} "
        "--recrawl\n"
    )

    reports = night(sources, NIGHT2, site)
    assert [p.applied for p in stored_proposals(home, "demo")] == [True], "one proposal"
    for count in ("scraped", "valid", "quarantined"):
        assert reports["load"][count] == first["load"][count], count
    spec = demo_spec(sources)
    before, after = item_values(spec, NIGHT1), item_values(spec, NIGHT2)
    assert list(after.index) == list(before.index), "the same item pages"
    coverage = {}
    for name in spec.detail.fields:
        columns = [c for c in before.columns if c == name or c.startswith(f"{name}_")]
        known = before[columns].notna().any(axis=1)
        same = (before.loc[known, columns].astype("string") == after.loc[known, columns]
                .astype("string")).all(axis=1)  # fmt: skip
        coverage[name] = float(same.mean())
    assert reports["load"]["valid"] == SITE.listings_per_day
    assert min(coverage.values()) == 1.0, coverage  # every field reads what night 1 did
