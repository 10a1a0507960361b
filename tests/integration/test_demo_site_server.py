"""The demo site over real HTTP: robots.txt, pagination, both layouts, JS pages, faults, stats."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from parsel import Selector

from harvest_demo import DemoSite, Faults, SiteConfig, find_listing, listings_for_day

DATE = dt.date(2026, 11, 26)
DAY = DATE.isoformat()


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (local server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local server)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(SiteConfig(seed=11)) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(site: DemoSite) -> None:
    site.set_faults(Faults())
    site.reset_stats()


def test_start_binds_a_free_local_port_and_stop_releases_it() -> None:
    demo = DemoSite()
    url = demo.start()
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert fetch(url + "/robots.txt")[0] == 200
    finally:
        demo.stop()
    demo.stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/robots.txt", timeout=2)  # noqa: S310


def test_robots_txt(site: DemoSite) -> None:
    assert fetch(site.base_url + "/robots.txt") == (
        200,
        b"User-agent: *\nDisallow: /private/\nDisallow: /catalogue/basket/\n"
        + f"Sitemap: {site.base_url}/catalogue/sitemap.xml\n".encode(),
    )


def test_follow_next_to_the_end_and_count_every_listing(site: DemoSite) -> None:
    url: str | None = f"{site.base_url}/listings/{DAY}"
    ids: list[str] = []
    pages = 0
    while url:
        status, body = fetch(url)
        assert status == 200, url
        selector = Selector(text=body.decode())
        ids += [
            h.removeprefix("/listing/") for h in selector.css("a.listing-link::attr(href)").getall()
        ]
        assert selector.css("a[href^='/private/report']")
        next_href = selector.css("a[rel=next]::attr(href)").get()
        url = site.base_url + next_href if next_href else None
        pages += 1
    assert pages == 12
    assert len(ids) == len(set(ids)) == 300
    assert ids == [x.listing_id for x in listings_for_day(site.config, DATE)]
    assert fetch(f"{site.base_url}/listings/{DAY}?page=13")[0] == 404
    assert fetch(f"{site.base_url}/listings/2026-13-01")[0] == 404
    stats = site.stats()
    assert stats["total"] == 12 + 2 and "/private/report" not in stats["paths"]


def test_detail_pages_in_both_layouts_and_js(site: DemoSite) -> None:
    listings = listings_for_day(site.config, DATE)
    for layout in ("a", "b"):
        listing = next(x for x in listings if x.layout == layout and not x.needs_js)
        status, body = fetch(f"{site.base_url}/listing/{listing.listing_id}")
        assert status == 200
        selector = Selector(text=body.decode())
        assert selector.css(f"[data-layout={layout}]")
        assert selector.css("[data-field=listing_id]::text").get() == listing.listing_id
        assert selector.css("[data-field=title]::text").get() == listing.title
        assert selector.css("[data-field=price]::text").get() == listing.price_text
        assert selector.css("body[data-render=js]").get() is None
    js = next(x for x in listings if x.needs_js)
    status, body = fetch(f"{site.base_url}/listing/{js.listing_id}")
    selector = Selector(text=body.decode())
    assert status == 200 and selector.css("body[data-render=js]")
    assert (
        selector.css("[data-field=price]")
        and selector.css("[data-field=price]::text").get() is None
    )
    assert js.price_text.encode() not in body
    assert fetch(f"{site.base_url}/listing/L-20261126-9999")[0] == 404


def test_detail_page_of_an_old_listing_is_served_from_its_id(site: DemoSite) -> None:
    listing = listings_for_day(site.config, DATE.replace(year=2025))[42]
    status, body = fetch(f"{site.base_url}/listing/{listing.listing_id}")
    assert status == 200 and listing.title.encode() in body
    assert find_listing(site.config, listing.listing_id) == listing


def test_fail_first_gives_503_then_200(site: DemoSite) -> None:
    site.set_faults(Faults(fail_first=2))
    url = f"{site.base_url}/listings/{DAY}?page=2"
    assert [fetch(url)[0] for _ in range(3)] == [503, 503, 200]
    assert site.stats()["statuses"] == {"503": 2, "200": 1}


def test_layout_drift_and_truncate(site: DemoSite) -> None:
    url = f"{site.base_url}/listing/L-20261126-0001"
    full = fetch(url)[1]
    site.set_faults(Faults(layout_drift=True))
    drifted = fetch(url)[1]
    assert b"data-attr=" in drifted and b"data-field=" not in drifted
    site.set_faults(Faults(truncate_rate=1.0))
    # urllib would raise on a short body: the server's Content-Length must match what it sends
    status, cut = fetch(url)
    assert status == 200 and full.startswith(cut) and len(cut) < len(full)
    assert b"</html>" not in cut


def test_control_endpoints_over_http(site: DemoSite) -> None:
    fetch(site.base_url + "/robots.txt")
    fetch(site.base_url + "/listings/" + DAY)
    status, body = fetch(site.base_url + "/_control/stats")
    stats = json.loads(body)
    assert status == 200 and stats["total"] == 2
    assert stats["paths"] == {"/robots.txt": 1, f"/listings/{DAY}": 1}
    status, body = fetch(site.base_url + "/_control/faults", b'{"fail_first": 1}')
    assert status == 200 and site.faults == Faults(fail_first=1)
    assert fetch(site.base_url + "/listings/" + DAY)[0] == 503
    assert fetch(site.base_url + "/_control/faults", b'{"bogus": 1}')[0] == 400
    assert fetch(site.base_url + "/_control/reset-stats", b"")[0] == 200
    assert json.loads(fetch(site.base_url + "/_control/stats")[1])["total"] == 0


def test_keep_alive_serves_many_requests_on_one_connection(site: DemoSite) -> None:
    parts = urlsplit(site.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for page in range(1, 6):
            connection.request("GET", f"/listings/{DAY}?page={page}")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") != "close"
            assert len(response.read()) == int(response.getheader("Content-Length", "-1"))
    finally:
        connection.close()


def test_concurrent_requests(site: DemoSite) -> None:
    ids = [x.listing_id for x in listings_for_day(site.config, DATE)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: fetch(f"{site.base_url}/listing/{i}")[0], ids))
    assert statuses == [200] * len(ids)
    assert site.stats()["total"] == len(ids)


def _first_page_seconds(demo: DemoSite) -> float:
    """The time to serve page 1 of the demo day on a fresh site (the request that builds it)."""
    started = time.perf_counter()
    status, _ = fetch(f"{demo.base_url}/listings/{DAY}")
    assert status == 200
    return time.perf_counter() - started


def test_100k_listings_per_day_serves_page_one_without_drawing_the_whole_day() -> None:
    # side by side, not against a clock: page 1 of a fresh 100k-listing day is served in well
    # under the time it takes to draw every listing of that day
    config = SiteConfig(seed=99, listings_per_day=100_000)
    started = time.perf_counter()
    listings_for_day(config, DATE)
    whole_day = time.perf_counter() - started
    with DemoSite(config) as demo:
        elapsed = _first_page_seconds(demo)
        assert elapsed < whole_day / 4, (
            f"page 1 of a 100k-listing day took {elapsed:.3f}s; drawing the day takes "
            f"{whole_day:.3f}s"
        )
        status, body = fetch(f"{demo.base_url}/listings/{DAY}")
        assert status == 200
        selector = Selector(text=body.decode())
        assert len(selector.css("a.listing-link")) == 25
        assert selector.css("a[rel=next]::attr(href)").get() == f"/listings/{DAY}?page=2"
        status, _ = fetch(f"{demo.base_url}/listings/{DAY}?page=4000")
        assert status == 200
        assert fetch(f"{demo.base_url}/listings/{DAY}?page=4001")[0] == 404
        assert fetch(f"{demo.base_url}/listing/L-20261126-100000")[0] == 200


@pytest.mark.chromium
def test_javascript_page_renders_price_and_area_in_a_browser(
    site: DemoSite, chromium: tuple[str, str]
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    listing = next(  # non-ASCII text proves the payload decodes right
        x
        for x in listings_for_day(site.config, DATE)
        if x.needs_js and "€" in x.price_text and "²" in x.area_text
    )
    browser, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(f"{site.base_url}/listing/{listing.listing_id}")
        WebDriverWait(driver, 10).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-rendered=true]")
        )
        selector = Selector(text=driver.page_source)
    finally:
        driver.quit()
    assert selector.css("[data-field=price]::text").get() == listing.price_text
    assert selector.css("[data-field=area]::text").get() == listing.area_text
