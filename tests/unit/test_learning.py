"""Selectors from values (issue 24): the demo site re-rendered with another template is repaired
from the values stored for the same listings, checked through Harvest's own extraction."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from parsel import Selector

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest.learning import (
    KnownPage,
    SpecPatchError,
    learn_field,
    learn_fields,
    patch_spec_text,
    proposal,
    spec_patch,
)
from harvest.learning.values import ValueReader
from harvest_demo import SiteConfig
from harvest_demo.generator import day_listings
from harvest_demo.pages import shown_fields
from tests.fixtures.retemplated_demo import field_coverage, render_retemplated, stored_values

DAY = dt.date(2026, 11, 26)
SITE = SiteConfig(listings_per_day=120)
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def demo() -> tuple[SourceSpec, list[KnownPage], pd.DataFrame]:
    """The demo spec, the re-templated pages with last night's stored values, and those values
    (parsed from what the old pages showed)."""
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    listings = list(day_listings(SITE, DAY))
    urls = [f"{BASE}/listing/{listing.listing_id}" for listing in listings]
    stored = stored_values(spec, [shown_fields(listing) for listing in listings], urls, DAY)
    pages = [
        KnownPage(url, render_retemplated(listing), stored.iloc[i].to_dict())
        for i, (url, listing) in enumerate(zip(urls, listings, strict=True))
    ]
    return spec, pages, stored


def _coverage(spec: SourceSpec, pages: list[KnownPage], stored: pd.DataFrame) -> dict[str, float]:
    return field_coverage(spec, pages, stored, DAY)


def test_the_retemplated_pages_break_the_demo_spec(demo) -> None:
    spec, pages, stored = demo
    coverage = _coverage(spec, pages, stored)
    assert max(coverage.values()) == 0.0, coverage


def test_repair_reaches_95_percent_coverage_through_harvest_extraction(demo, tmp_path) -> None:
    spec, pages, stored = demo
    learned, unseen = pages[:60], pages[60:]  # learn on some pages, check on the others too
    candidates = learn_fields(spec, learned)
    proposed = proposal(candidates)
    assert set(proposed) == set(spec.detail.fields), {n: c[:1] for n, c in candidates.items()}
    source = DEFAULT_SOURCES_DIR / "demo.yaml"
    diff, patched = spec_patch(source, proposed)
    assert source.read_text(encoding="utf-8") != patched, "the spec file is never written"
    assert diff.startswith("--- a/demo.yaml\n+++ b/demo.yaml\n")
    for name, candidate in proposed.items():
        assert candidate.agreement >= 0.95, (name, candidate)
        assert candidate.multiple == 0, (name, candidate)
        value = next(iter(candidate.selector.values()))
        assert any(line.startswith("+") and value in line for line in diff.splitlines())
    for folder_file in source.parent.iterdir():
        shutil.copy(folder_file, tmp_path / folder_file.name)
    (tmp_path / "demo.yaml").write_text(patched, encoding="utf-8")
    repaired = load_spec(tmp_path / "demo.yaml")
    coverage = _coverage(repaired, unseen, stored.iloc[60:].reset_index(drop=True))
    assert min(coverage.values()) >= 0.95, coverage


def test_candidates_prefer_labels_and_classes_to_positions(demo) -> None:
    spec, pages, _ = demo
    ranked = learn_field("rooms", spec.detail.fields["rooms"], pages[:40])
    best = ranked[0]
    assert best.how in {"label", "attribute", "class", "id"}, best
    assert best.agreement == 1.0 and best.pages == 40
    positions = [c for c in ranked if c.how == "position"]
    assert all(c.agreement < 1.0 for c in positions), "a position breaks where fields are missing"
    assert all(e.agrees for e in best.examples) and best.examples[0].found


def test_a_selector_matching_two_nodes_does_not_agree(demo) -> None:
    spec, pages, _ = demo
    floor = spec.detail.fields["floor"].model_copy(update={"css": None, "xpath": "//span"})
    from harvest.learning.candidates import Candidate, _Page, verify

    parsed = [_Page(p.url, Selector(text=str(p.body)), p.values) for p in pages[:10]]
    checked = verify(
        Candidate("floor", {"css": "li.spec > span"}, "class"),
        floor,
        ValueReader("floor", floor),
        parsed,
    )
    assert checked.agreed == 0 and checked.multiple > 0


def test_patch_replaces_only_the_selector_and_keeps_comments() -> None:
    text = (
        "name: x\n# a comment\ndetail:\n  key: id\n  fields:\n    id:\n      css: '#id'\n"
        "      required: true   # kept\n    price:\n      kind: price\n"
        "      xpath: //b\n      css: .old\n"
    )
    patched = patch_spec_text(text, {"price": {"label": "Rent"}, "id": {"xpath": "//h1/@id"}})
    assert patched == (
        "name: x\n# a comment\ndetail:\n  key: id\n  fields:\n    id:\n"
        '      xpath: "//h1/@id"\n      required: true   # kept\n    price:\n      kind: price\n'
        '      label: "Rent"\n'
    )
    with pytest.raises(SpecPatchError, match="'title' not found"):
        patch_spec_text(text, {"title": {"css": "h1"}}, "x.yaml")
    flow = "detail:\n  fields:\n    id: {css: '#id'}\n"
    with pytest.raises(SpecPatchError, match="one line"):
        patch_spec_text(flow, {"id": {"css": "h1"}})


def test_spec_patch_never_writes_the_file(tmp_path: Path) -> None:
    source = DEFAULT_SOURCES_DIR / "demo.yaml"
    before = source.read_text(encoding="utf-8")
    ranked = {"rooms": []}  # nothing proposed: an empty diff
    diff, patched = spec_patch(source, proposal(ranked))
    assert diff == "" and patched == before == source.read_text(encoding="utf-8")
