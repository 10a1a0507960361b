"""Demo site: deterministic generation, known ground truth, the HTML contract, and faults."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml
from parsel import Selector

from harvest.parsers import Money, Unparseable, parse_area, parse_date, parse_price
from harvest_demo import (
    NOISE_SD,
    Faults,
    SiteApp,
    SiteConfig,
    find_listing,
    ground_truth,
    listings_for_day,
    true_price,
)
from harvest_demo.__main__ import main as cli_main
from harvest_demo.formats import AREA_FORMATS, PRICE_FORMATS
from harvest_demo.generator import day_listings, parse_listing_id
from harvest_demo.listing import GROUND_TRUTH_COLUMNS, OUTLIER_KINDS
from harvest_demo.market import CITIES
from harvest_demo.pages import ROBOTS_TXT, render_detail, render_index

DAY = dt.date(2026, 11, 26)
SPEC = Path(__file__).parents[2] / "include" / "harvest" / "sources" / "demo.yaml"
# A big day with plenty of every kind of mess, for statistics.
MESSY = SiteConfig(
    seed=7,
    listings_per_day=4000,
    missing_fraction=0.05,
    typo_fraction=0.05,
    outlier_fraction=0.03,
    price_on_request_fraction=0.03,
)


@functools.cache
def _field_selectors() -> dict[str, str]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {name: field["css"] for name, field in spec["detail"]["fields"].items()}


def _extract(html: bytes) -> dict[str, str | None]:
    """What the demo source spec's CSS selectors pull out of a detail page."""
    selector = Selector(text=html.decode())
    return {name: selector.css(css).get() for name, css in _field_selectors().items()}


# --- generation ------------------------------------------------------------------------------


def test_same_seed_and_day_give_identical_listings_and_html() -> None:
    config = SiteConfig(seed=3)
    first = listings_for_day(config, DAY)
    day_listings.cache_clear()  # regenerate from scratch, not from the cache
    render_detail.cache_clear()
    second = listings_for_day(config, DAY)
    assert first == second
    ids = [listing.listing_id for listing in first[:40]]
    pages_1 = [render_detail(config, i) for i in ids]
    render_detail.cache_clear()
    assert pages_1 == [render_detail(config, i) for i in ids]
    assert render_index(config, DAY, 2) == render_index(SiteConfig(seed=3), DAY, 2)


def test_other_seed_or_day_gives_other_listings() -> None:
    base = listings_for_day(SiteConfig(seed=3), DAY)
    other_seed = listings_for_day(SiteConfig(seed=4), DAY)
    other_day = listings_for_day(SiteConfig(seed=3), DAY + dt.timedelta(days=1))
    assert [x.title for x in base] != [x.title for x in other_seed]
    assert [x.price for x in base] != [x.price for x in other_seed]
    assert [x.price for x in base] != [x.price for x in other_day]


def test_one_fraction_changes_only_what_it_governs() -> None:
    plain = listings_for_day(SiteConfig(js_fraction=0.1), DAY)
    all_js = listings_for_day(SiteConfig(js_fraction=1.0), DAY)
    assert all(x.needs_js for x in all_js)
    assert [x.attributes() for x in plain] == [x.attributes() for x in all_js]


@pytest.mark.parametrize(
    ("per_day", "page_size", "pages"), [(300, 25, 12), (301, 25, 13), (7, 3, 3)]
)
def test_counts_and_pagination(per_day: int, page_size: int, pages: int) -> None:
    config = SiteConfig(listings_per_day=per_day, page_size=page_size)
    listings = listings_for_day(config, DAY)
    assert len(listings) == per_day
    assert len({x.listing_id for x in listings}) == per_day
    assert config.pages_per_day == pages
    day = day_listings(config, DAY)
    chunks = [day.page(n) for n in range(1, pages + 1)]
    assert [x for chunk in chunks for x in chunk] == listings
    assert all(len(chunk) == page_size for chunk in chunks[:-1])
    assert 1 <= len(chunks[-1]) <= page_size
    assert day.page(pages + 1) == [] and day.page(0) == []
    assert render_index(config, DAY, pages + 1) is None
    assert render_index(config, DAY, 0) is None


def test_listing_ids_encode_the_day() -> None:
    config = SiteConfig()
    listings = listings_for_day(config, DAY)
    assert listings[6].listing_id == "L-20261126-0007"
    assert parse_listing_id("L-20261126-0007", config) == (DAY, 6)
    assert find_listing(config, "L-20261126-0007") == listings[6]
    for bad in ("L-20261126-7", "L-20261126-0000", "L-20261126-0301", "L-20261131-0001", "x"):
        assert parse_listing_id(bad, config) is None
        assert find_listing(config, bad) is None
    big = SiteConfig(listings_per_day=100_000)
    assert find_listing(big, "L-20261126-100000") is not None
    assert find_listing(big, "L-20261126-0007") is None  # not canonical for this config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"listings_per_day": 0},
        {"listings_per_day": 100_001},
        {"page_size": 0},
        {"js_fraction": 1.5},
        {"relist_fraction": -0.1},
        {"seed": -1},
    ],
)
def test_bad_config_is_refused_with_the_field_named(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SiteConfig(**kwargs)  # type: ignore[arg-type]


def test_about_a_tenth_of_detail_pages_need_javascript() -> None:
    listings = listings_for_day(MESSY, DAY)
    share = sum(x.needs_js for x in listings) / len(listings)
    assert 0.08 <= share <= 0.12
    layouts = {x.layout for x in listings}
    assert layouts == {"a", "b"}


def test_noisy_prices_follow_the_known_function_and_noise() -> None:
    listings = [x for x in listings_for_day(MESSY, DAY) if x.relist_of is None]
    for listing in listings[:200]:
        assert true_price(listing.attributes()) == pytest.approx(listing.expected_price)
    residuals = np.array([x.price - true_price(x.attributes()) for x in listings])
    n = len(residuals)
    assert abs(residuals.mean()) < 4 * NOISE_SD / np.sqrt(n)
    assert residuals.std() == pytest.approx(NOISE_SD, rel=0.06)
    assert all(x.price == round(x.price) for x in listings)  # whole euros
    prices = [x.expected_price for x in listings]
    assert min(prices) > 200 and statistics.median(prices) > 800


def test_true_price_depends_on_the_attributes_and_refuses_unknown_cities() -> None:
    flat = {
        "city": "Berlin",
        "district": "Mitte",
        "area_m2": 60,
        "rooms": 2,
        "floor": 3,
        "balcony": True,
        "built_year": 1990,
    }
    price = true_price(flat)
    assert true_price({**flat, "area_m2": 80}) > price
    assert true_price({**flat, "balcony": False}) < price
    assert true_price({**flat, "city": "Leipzig", "district": "Zentrum"}) < price
    with pytest.raises(ValueError, match="Atlantis"):
        true_price({**flat, "city": "Atlantis"})
    with pytest.raises(ValueError, match="Schwabing"):
        true_price({**flat, "district": "Schwabing"})


def test_relistings_point_to_a_real_earlier_original_of_the_same_flat() -> None:
    config = SiteConfig(relist_fraction=0.2)
    listings = listings_for_day(config, DAY)
    relists = [x for x in listings if x.relist_of is not None]
    assert len(relists) > 30
    same_day = 0
    for relist in relists:
        original = find_listing(config, relist.relist_of)  # type: ignore[arg-type]
        assert original is not None
        assert original.relist_of is None
        assert original.attributes() == relist.attributes()
        assert original.available_from == relist.available_from
        assert original.price == relist.price
        assert original.title != relist.title
        assert original.listing_id != relist.listing_id
        assert original.listed_on <= relist.listed_on
        assert (relist.listed_on - original.listed_on).days <= config.relist_max_days_back
        if original.listed_on == relist.listed_on:
            same_day += 1
            assert original.listing_id < relist.listing_id  # earlier the same day
    assert 0 < same_day < len(relists)


def test_every_price_and_area_text_parses_to_the_shown_value() -> None:
    listings = listings_for_day(MESSY, DAY)
    assert {x.price_format for x in listings} == set(PRICE_FORMATS)
    assert {x.area_format for x in listings} == set(AREA_FORMATS)
    for listing in listings:
        price = parse_price(listing.price_text)
        if listing.price_format == "on_request":
            assert listing.price_text == "Price on request"
            assert isinstance(price, Unparseable)
            assert listing.shown_price is None
        else:
            assert price == Money(listing.shown_price, "EUR"), listing.price_text  # type: ignore[arg-type]
        area = parse_area(listing.area_text)
        assert isinstance(area, float), listing.area_text
        # whole square feet, and the parser rounds m² to 2 decimals: within 0.047 + 0.005
        assert area == pytest.approx(listing.shown_area_m2, abs=0.006), listing.area_text
        if listing.outlier is None:
            assert area == pytest.approx(listing.area_m2, abs=0.052)
            assert listing.shown_price in (None, listing.price)
        assert parse_date(listing.available_from_text) == listing.available_from
    sqft = next(x for x in listings if x.area_format == "sq ft" and x.outlier is None)
    assert sqft.area_text == f"{round(sqft.area_m2 / 0.09290304)} sq ft"
    assert {x.available_from_text.count(".") for x in listings} == {0, 2}  # ISO and 12.03.2026


def test_outliers_typos_and_missing_fields_are_recorded() -> None:
    listings = listings_for_day(MESSY, DAY)
    outliers = [x for x in listings if x.is_outlier]
    assert {x.outlier for x in outliers} == set(OUTLIER_KINDS)
    for listing in outliers:
        if listing.outlier == "price_x10":
            assert listing.shown_price == listing.price * 10
        else:
            assert listing.shown_area_m2 == pytest.approx(1.0, abs=0.05)
            assert "area" not in listing.missing
    typos = [x for x in listings if x.city_typo]
    assert 0.03 < len(typos) / len(listings) < 0.07
    typo_lists = {c.name: c.typos for c in CITIES}
    assert all(x.city_text in typo_lists[x.city] for x in typos)
    assert any(x.city_text == "Berln" for x in typos)
    missing = [x for x in listings if x.missing]
    assert missing and all(
        name not in ("price", "city", "title") for x in missing for name in x.missing
    )


def test_ground_truth_rows_match_the_listings() -> None:
    config = SiteConfig()
    rows = ground_truth(config, DAY)
    listings = listings_for_day(config, DAY)
    assert len(rows) == len(listings)
    for row, listing in zip(rows, listings, strict=True):
        assert tuple(row) == GROUND_TRUTH_COLUMNS
        assert row["listing_id"] == listing.listing_id
        assert row["expected_price"] == pytest.approx(true_price(row))
        assert row["price"] == listing.price
        assert row["relist_of"] == listing.relist_of
        assert row["is_outlier"] == (row["outlier"] is not None)
        assert row["missing"] == ";".join(listing.missing)


def test_cli_writes_the_ground_truth_csv(tmp_path: Path) -> None:
    out = tmp_path / "truth.csv"
    assert cli_main(["truth", "--date", "2026-11-26", "--out", str(out), "--seed", "5"]) == 0
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected = ground_truth(SiteConfig(seed=5), DAY)
    assert len(rows) == len(expected) == 300
    assert rows[0]["listing_id"] == expected[0]["listing_id"]
    assert float(rows[0]["price"]) == expected[0]["price"]
    with pytest.raises(SystemExit):
        cli_main(["truth", "--date", "26.11.2026"])


# --- the HTML contract -----------------------------------------------------------------------


def test_detail_pages_satisfy_the_spec_selectors_in_both_layouts() -> None:
    config = SiteConfig()
    listings = listings_for_day(config, DAY)
    seen_layouts = set()
    for listing in listings:
        page = render_detail(config, listing.listing_id)
        assert page is not None
        html = page.decode()
        fields = _extract(page)
        seen_layouts.add(listing.layout)
        if listing.layout == "a":
            assert '<article data-layout="a">' in html and "<dl>" in html
        else:
            assert '<div data-layout="b">' in html and "<table" in html
            assert '<h2 data-field="title">' in html
        assert fields["listing_id"] == listing.listing_id
        assert fields["title"] == listing.title
        assert fields["city"] == listing.city_text
        for name in listing.missing:
            assert fields[name] is None
            assert f'data-field="{name}"' not in html
        if "balcony" not in listing.missing:
            assert fields["balcony"] == ("yes" if listing.balcony else "no")
        if "rooms" not in listing.missing:
            assert fields["rooms"] == str(listing.rooms)
        if listing.needs_js:
            assert '<body data-render="js">' in html
            assert fields["price"] is None  # present but empty until the script runs
            assert 'data-field="price"' in html
            assert listing.price_text not in html
            assert "document.body.dataset.rendered" in html
        else:
            assert "<body>" in html
            assert fields["price"] == listing.price_text
            if "area" not in listing.missing:
                assert fields["area"] == listing.area_text
    assert seen_layouts == {"a", "b"}


def test_javascript_payload_holds_the_hidden_values() -> None:
    import base64
    import re

    config = SiteConfig()
    listing = next(x for x in listings_for_day(config, DAY) if x.needs_js and not x.missing)
    html = render_detail(config, listing.listing_id).decode()  # type: ignore[union-attr]
    payload = re.search(r'atob\("([A-Za-z0-9+/=]+)"\)', html)
    assert payload is not None
    assert json.loads(base64.b64decode(payload.group(1))) == {
        "price": listing.price_text,
        "area": listing.area_text,
    }


def test_index_page_links() -> None:
    config = SiteConfig()
    page = render_index(config, DAY, 1)
    assert page is not None
    selector = Selector(text=page.decode())
    links = selector.css("a.listing-link::attr(href)").getall()
    assert links == [f"/listing/{x.listing_id}" for x in day_listings(config, DAY).page(1)]
    assert selector.css("a[rel=next]::attr(href)").get() == "/listings/2026-11-26?page=2"
    assert selector.css("a[href^='/private/']::attr(href)").getall() == [
        "/private/report?day=2026-11-26"
    ]
    last = Selector(text=render_index(config, DAY, 12).decode())  # type: ignore[union-attr]
    assert last.css("a[rel=next]").get() is None
    assert len(last.css("a.listing-link")) == 300 - 11 * 25


# --- the app: routing, faults, stats (no sockets) --------------------------------------------


def test_routes_and_404s() -> None:
    app = SiteApp(SiteConfig(), today=lambda: DAY)
    robots = app.handle("GET", "/robots.txt").body
    assert robots.startswith(ROBOTS_TXT)
    assert robots == (
        b"User-agent: *\nDisallow: /private/\nDisallow: /catalogue/basket/\n"
        b"Sitemap: http://127.0.0.1:8000/catalogue/sitemap.xml\n"
    )
    assert "/listings/2026-11-20" in app.handle("GET", "/").body.decode()
    assert app.handle("GET", "/listings/2026-11-26?page=12").status == 200
    for missing in (
        "/listings/2026-11-26?page=13",
        "/listings/2026-11-26?page=0",
        "/listings/2026-11-26?page=x",
        "/listings/2026-02-30",
        "/listings/20261126",
        "/listing/L-20261126-0301",
        "/listing/nope",
        "/nowhere",
    ):
        assert app.handle("GET", missing).status == 404, missing
    assert app.handle("GET", "/private/report?day=2026-11-26").status == 200
    assert app.handle("POST", "/listings/2026-11-26").status == 405


def test_fail_first_fails_each_url_n_times_then_succeeds() -> None:
    app = SiteApp(SiteConfig(), Faults(fail_first=2))
    url = "/listings/2026-11-26?page=3"
    assert [app.handle("GET", url).status for _ in range(4)] == [503, 503, 200, 200]
    assert app.handle("GET", "/listings/2026-11-26?page=4").status == 503  # per URL
    assert app.handle("GET", "/robots.txt").status == 200  # never faulty
    app.set_faults(Faults(fail_first=1))  # counts start again
    assert [app.handle("GET", url).status for _ in range(2)] == [503, 200]


def test_error_rate_is_seeded_and_about_right() -> None:
    urls = [f"/listing/L-20261126-{i:04d}" for i in range(1, 301)]

    def statuses() -> list[int]:
        app = SiteApp(SiteConfig(), Faults(error_rate=0.3))
        return [app.handle("GET", u).status for u in urls]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 503}
    assert 0.2 < first.count(503) / len(first) < 0.4


def test_slow_requests_sleep_the_configured_time() -> None:
    slept: list[float] = []
    app = SiteApp(SiteConfig(), Faults(slow_rate=1.0, slow_seconds=2.5), sleep=slept.append)
    assert app.handle("GET", "/listings/2026-11-26").status == 200
    assert slept == [2.5]


def test_truncate_cuts_the_html_half_way() -> None:
    config = SiteConfig()
    listing = next(x for x in listings_for_day(config, DAY) if not x.needs_js and not x.missing)
    full = render_detail(config, listing.listing_id)
    assert full is not None
    response = SiteApp(config, Faults(truncate_rate=1.0)).handle(
        "GET", f"/listing/{listing.listing_id}"
    )
    assert response.status == 200
    assert full.startswith(response.body)
    assert len(full) // 3 < len(response.body) < len(full)
    assert b"</html>" not in response.body
    fields = _extract(response.body)
    assert fields["listing_id"] == listing.listing_id
    assert fields["available_from"] is None  # the later fields are gone


def test_layout_drift_hides_every_field_from_the_spec() -> None:
    config = SiteConfig()
    app = SiteApp(config, Faults(layout_drift=True))
    response = app.handle("GET", "/listing/L-20261126-0001")
    assert response.status == 200
    assert b"data-attr=" in response.body and b"data-field=" not in response.body
    assert all(value is None for value in _extract(response.body).values())


def test_retemplated_serves_the_same_listings_out_of_the_specs_reach() -> None:
    config = SiteConfig()
    app = SiteApp(config, Faults(retemplated=True))
    index = app.handle("GET", "/listings/2026-11-26?page=1")
    assert index.status == 200 and b"listing-link" not in index.body
    assert b'href="/listing/L-20261126-0001"' in index.body
    item = app.handle("GET", "/listing/L-20261126-0001")
    assert item.status == 200 and b"data-field=" not in item.body
    assert all(value is None for value in _extract(item.body).values())
    listing = day_listings(config, DAY)[0]
    assert html.escape(listing.title).encode() in item.body
    assert app.handle("GET", "/listing/L-20261126-99999").status == 404


def test_control_endpoints_set_faults_and_count_requests() -> None:
    app = SiteApp(SiteConfig())
    app.handle("GET", "/listings/2026-11-26")
    app.handle("GET", "/listings/2026-11-26?page=2")
    app.handle("GET", "/nowhere")
    stats = json.loads(app.handle("GET", "/_control/stats").body)
    assert stats["total"] == 3
    assert stats["paths"] == {"/listings/2026-11-26": 2, "/nowhere": 1}
    assert stats["urls"]["/listings/2026-11-26?page=2"] == 1
    assert stats["statuses"] == {"200": 2, "404": 1}
    response = app.handle("POST", "/_control/faults", b'{"fail_first": 1, "layout_drift": true}')
    assert response.status == 200
    assert app.faults == Faults(fail_first=1, layout_drift=True)
    assert json.loads(app.handle("GET", "/_control/faults").body)["fail_first"] == 1
    for bad in (b'{"error_rate": 2}', b'{"nope": 1}', b"[1]", b"{", b'{"fail_first": "x"}'):
        assert app.handle("POST", "/_control/faults", bad).status == 400, bad
    assert app.faults == Faults(fail_first=1, layout_drift=True)
    assert json.loads(app.handle("POST", "/_control/reset-stats").body)["total"] == 0
    assert app.stats()["total"] == 0


def test_faults_from_dict_validates() -> None:
    assert Faults.from_dict({}) == Faults()
    assert Faults.from_dict({"fail_first": 2.0, "slow_rate": 1}) == Faults(
        fail_first=2, slow_rate=1.0
    )
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.from_dict({"error": 0.1})
    with pytest.raises(ValueError, match="layout_drift"):
        Faults.from_dict({"layout_drift": 1})
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
