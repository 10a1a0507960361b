"""Repair proposals kept for review (issue 24): when a crawl looks drifted, where they are
stored, and how the crawl's checks and the supervisor's alerts show them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import load_spec
from harvest.learning.proposals import (
    Proposal,
    drifted,
    mark_applied,
    pending_proposal,
    store_proposal,
    stored_proposals,
)
from harvest.monitoring.alerts import Alert
from harvest.monitoring.supervise import with_repair
from harvest.partitions import Partition
from harvest.scraping.checks import CrawlCheckFailed, check_crawl


def proposal(day: str, applied: bool = False) -> Proposal:
    selector = {
        "name": "index.links", "now": "css: a.listing-link", "now_agreement": 0.0,
        "proposed": "css: a.button", "agreement": 1.0, "agreed": 25, "checked": 25,
        "examples": [{"url": "http://x/", "known": "http://x/1", "found": "http://x/1",
                      "agrees": True}],
    }  # fmt: skip
    return Proposal("demo", day, [selector], "--- a/demo.yaml\n+++ b/demo.yaml\n", [], applied)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"item_pages": 0, "empty_levels": 1}, True),
        ({"item_pages": 0, "empty_levels": 0}, False),  # every link followed, none an item
        ({"item_pages": 9, "monitors": [{"monitor": "field_coverage", "status": "failed"}]}, True),
        ({"item_pages": 9, "monitors": [{"monitor": "field_coverage", "status": "passed"}]}, False),
        ({"item_pages": 9, "monitors": [{"monitor": "item_count", "status": "failed"}]}, False),
    ],
)
def test_a_crawl_looks_drifted_when_a_level_or_a_field_stops_reading(
    summary: dict[str, object], expected: bool
) -> None:
    assert drifted(summary) is expected


def test_proposals_are_stored_per_night_newest_first_until_applied(tmp_path: Path) -> None:
    store_proposal(tmp_path, proposal("2026-11-25"))
    path = store_proposal(tmp_path, proposal("2026-11-26"))
    assert path == tmp_path / "repairs" / "demo" / "2026-11-26.json"
    (tmp_path / "repairs" / "demo" / "2026-11-20.json").write_text("{not json", encoding="utf-8")
    assert [p.date for p in stored_proposals(tmp_path)] == ["2026-11-26", "2026-11-25"]
    pending = pending_proposal(tmp_path, "demo")
    assert pending is not None and pending.selectors[0]["agreed"] == 25
    assert "index.links 0% -> 100%" in pending.line()
    assert "`python -m harvest repair --source demo --date 2026-11-26 --apply`" in pending.line()
    assert mark_applied(tmp_path, "demo", dt.date(2026, 11, 26))
    assert pending_proposal(tmp_path, "demo") is None, "the newest night's is applied"
    assert not mark_applied(tmp_path, "demo", dt.date(2026, 1, 1))
    assert pending_proposal(tmp_path, "other") is None


def test_the_crawl_check_and_the_alert_carry_the_proposal() -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    line = proposal("2026-11-26").line()
    summary = {
        "exit_code": 0, "pages": 1, "failed_pages": 0, "item_pages": 0, "empty_levels": 1,
        "first_empty_level": "level 'index': a.listing-link matched nothing on http://x/",
        "repair": line,
    }  # fmt: skip
    with pytest.raises(CrawlCheckFailed, match="a spec patch is proposed for 1 selector"):
        check_crawl(spec, Partition.of("demo", dt.date(2026, 11, 26)), summary)
    warnings = check_crawl(
        spec, Partition.of("demo", dt.date(2026, 11, 26)), {**summary, "item_pages": 3}
    )
    assert warnings == [line]
    miss = Alert("miss", "demo", "freshness", "no data since 2026-11-25")
    assert with_repair(miss, {"demo": line}.get).message.endswith(line)
    assert with_repair(miss, {}.get) == miss
    recovery = Alert("recovery", "demo", "freshness", "fresh")
    assert with_repair(recovery, {"demo": line}.get) == recovery


def test_a_notice_without_a_patch_reads_as_one_line_and_reaches_the_alert(tmp_path: Path) -> None:
    notice = Proposal("demo", "2026-11-26", [], "", ["index.links", "price"], why="no selector")
    line = notice.line()
    assert line == (
        "source demo date 2026-11-26: the crawl looks drifted (index.links; price) and no repair "
        "was found (no selector); fix the spec by hand (`python -m harvest preview --source demo "
        "--url URL`; `python -m harvest repair --source demo --date 2026-11-26` shows the best "
        "candidates)"
    )
    store_proposal(tmp_path, notice)
    stored = pending_proposal(tmp_path, "demo")
    assert stored == notice and stored.why == "no selector"
    miss = Alert("miss", "demo", "freshness", "no data since 2026-11-25")
    assert with_repair(miss, {"demo": stored.line()}.get).message.endswith(line)
