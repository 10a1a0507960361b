"""Page shapes that need a browser, a form or a login (issue 17, shapes 6 and 7), and pages a
spec cannot read, crawled end to end into the warehouse with exact counts.

Each test writes a spec as a user would from docs/cookbook/page-shapes.md and runs the partition
through :func:`harvest.pipeline.run_partition` (crawl in a child process, validate, clean, load
into SQLite) against :mod:`browser_site`, our own fixture site on 127.0.0.1; the browser shapes
use headless Chromium (skipped without it, failed under ``CI=true``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harvest.scraping import CrawlError
from harvest.scraping.checks import CrawlCheckFailed
from tests.fixtures.shape_crawl import DAY, run
from tests.integration.browser_site import (
    CATEGORIES,
    ENDLESS_BATCH,
    MORE,
    ORDERS,
    PASSWORD,
    SCROLL,
    TRUTH,
    USERNAME,
    VIEWSTATE,
    BrowserSite,
    csrf,
)

CARD_DETAIL = {"key": "id", "fields": {
    "id": {"from": "card", "css": "::attr(data-id)", "required": True},
    "title": {"from": "card", "css": "h3"},
}}  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Iterator[BrowserSite]:
    served = BrowserSite()
    yield served
    served.stop()


def level(reports: dict[str, Any], name: str) -> dict[str, Any]:
    account = reports["scrape"]["completeness"]["levels"]
    return next(entry for entry in account if entry["level"] == name)


def cards_at(path: str, name: str = "unreadable") -> dict[str, Any]:
    return {
        "name": name,
        "start_urls": [f"{{base_url}}{path}"],
        "levels": [{"name": "list", "cards": "div.card"}],
        "detail": CARD_DETAIL,
    }


# -- pages a spec cannot read say so ----------------------------------------------------------


def test_robots_txt_forbidding_the_start_url_says_so(site: BrowserSite, tmp_path: Path) -> None:
    url = f"{site.base_url}/private/list"
    host = site.base_url.removeprefix("http://")
    with pytest.raises(CrawlCheckFailed) as caught:
        run(cards_at("/private/list"), site, tmp_path)
    assert str(caught.value) == (
        f"crawl of source 'unreadable' for {DAY} fetched no page (0 failed, 1 not fetched): "
        f"robots.txt of {host} forbids {url} to Harvest (Forbidden by robots.txt; the spec's "
        "crawl.obey_robots_txt is on: ask the site's owner, or turn it off only for a site you own)"
    )
    assert "is " not in str(caught.value).split("):", 1)[0]  # no "is the site up?"
    assert site.requests.get("/private/list") is None


def test_a_json_page_to_a_spec_that_reads_html_says_so(site: BrowserSite, tmp_path: Path) -> None:
    with pytest.raises(CrawlCheckFailed) as caught:
        run(cards_at("/feed.json"), site, tmp_path)
    assert str(caught.value) == (
        f"crawl of source 'unreadable' for {DAY} fetched no page (1 failed, 0 not fetched): "
        f"{site.base_url}/feed.json failed: not an HTML page (Content-Type: application/json); "
        "the spec reads HTML (css/xpath): read JSON with 'jmespath:' selectors"
    )


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/feed", "the page is JSON (served as text/html; charset=utf-8), and the spec reads "
                  "HTML (css/xpath): read JSON with 'jmespath:' selectors"),
        ("/members/", "the page is a login form (it has a password field): the site wants a "
                      "login (give the spec a login:, whose credentials come from an Airflow "
                      "Connection or the environment)"),
    ],
)  # fmt: skip
def test_a_page_the_spec_cannot_read_says_what_it_is(
    site: BrowserSite, tmp_path: Path, path: str, what: str
) -> None:
    with pytest.raises(CrawlCheckFailed) as caught:
        run(cards_at(path), site, tmp_path)
    assert str(caught.value).startswith(
        f"crawl of source 'unreadable' for {DAY} reached no item page (1 page(s) fetched, "
        f"0 failed): level 'list': cards selector 'div.card' matched nothing on "
        f"{site.base_url}{path}: {what}; check that selector"
    )


# -- 6. infinite scroll and "load more" -------------------------------------------------------


def scroll_level(path: str, name: str, scroll: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "start_urls": [f"{{base_url}}{path}"],
        "levels": [{"name": "feed", "cards": "div.card", "scroll": scroll}],
        "detail": CARD_DETAIL,
    }


def test_infinite_scroll_loads_every_card(
    site: BrowserSite, tmp_path: Path, chromium: tuple[str, str]
) -> None:
    frame, reports = run(
        scroll_level("/scroll/", "shape_scroll", {"wait_seconds": 2}), site, tmp_path
    )
    load = reports["load"]
    assert (load["scraped"], load["quarantined"], load["duplicates"]) == (TRUTH["scroll"], 0, 0)
    assert sorted(frame["id"]) == [ident for ident, _ in SCROLL]
    assert frame.set_index("id").loc["s45", "title"] == "Scrolled 45"
    feed = level(reports, "feed")
    # 10 cards in the page, then 4 scrolls of 10, 10, 10, 5; the 5th finds nothing new
    assert feed["cards_seen"] == feed["records"] == TRUTH["scroll"]
    assert feed["scroll_rounds"] == 5 and "scroll_capped" not in feed
    assert site.requests["/scroll/more"] == 4  # the last batch says there is no more
    assert reports["scrape"]["completeness"]["warnings"] == []


def test_load_more_is_clicked_until_the_button_is_gone(
    site: BrowserSite, tmp_path: Path, chromium: tuple[str, str]
) -> None:
    spec = scroll_level("/more/", "shape_more", {"load_more": "button.more", "wait_seconds": 2})
    frame, reports = run(spec, site, tmp_path)
    assert reports["load"]["loaded"] == len(frame) == TRUTH["more"]
    assert sorted(frame["id"]) == [ident for ident, _ in MORE]
    feed = level(reports, "feed")
    assert feed["cards_seen"] == feed["records"] == TRUTH["more"]
    assert feed["scroll_rounds"] == 3  # 8 + 8 + 8 + 6: three clicks, then the button is gone
    assert reports["scrape"]["completeness"]["warnings"] == []


def test_an_endless_feed_stops_at_its_cap_and_says_so(
    site: BrowserSite, tmp_path: Path, chromium: tuple[str, str]
) -> None:
    spec = scroll_level("/endless/", "shape_endless", {"max_rounds": 4, "wait_seconds": 2})
    frame, reports = run(spec, site, tmp_path)
    assert len(frame) == (1 + 4) * ENDLESS_BATCH  # the first batch and 4 scrolls: counted
    feed = level(reports, "feed")
    assert feed["scroll_rounds"] == 4 and feed["scroll_capped"] == 1
    assert feed["cards_seen"] == feed["records"] == 25
    assert reports["scrape"]["completeness"]["warnings"] == [
        "scroll_capped: level 'feed': 1 of its 1 pages still showed new cards after "
        "scroll.max_rounds scrolls or clicks; the partition may miss items: raise the level's "
        "scroll.max_rounds (now 4)"
    ]
    assert "crawl_incomplete" in reports["load"]["warnings"]


# -- 7. forms and login -----------------------------------------------------------------------


def search(data: Any, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "start_urls": ["{base_url}/search"],
        "levels": [{"name": "results", "form": {"css": "form#search", "data": data},
                    "cards": "div.card"}],
        "detail": CARD_DETAIL,
    }  # fmt: skip


def test_a_search_form_is_posted_with_its_hidden_fields(site: BrowserSite, tmp_path: Path) -> None:
    site.posts.clear()
    frame, reports = run(search({"category": "tools"}, "shape_search"), site, tmp_path)
    assert reports["load"]["loaded"] == len(frame) == TRUTH["search_tools"]
    assert sorted(frame["id"]) == [ident for ident, _ in CATEGORIES["tools"]]
    ((path, form),) = site.posts  # one post, with the page's own view state and CSRF token
    assert path == "/search" and form["category"] == ["tools"]
    assert form["__VIEWSTATE"] == [VIEWSTATE] and form["csrf_token"] == [csrf("search")]
    results = level(reports, "results")
    assert (results["links_seen"], results["followed"]) == (1, 1)  # the post
    assert results["cards_seen"] == results["records"] == TRUTH["search_tools"]
    assert reports["scrape"]["completeness"]["warnings"] == []


def test_a_filter_form_posted_once_per_value(site: BrowserSite, tmp_path: Path) -> None:
    data = [{"category": c} for c in CATEGORIES]
    frame, reports = run(search(data, "shape_filter"), site, tmp_path)
    assert reports["load"]["loaded"] == len(frame) == TRUTH["search_all"]
    results = level(reports, "results")
    assert (results["links_seen"], results["followed"], results["pages"]) == (3, 3, 3)
    assert results["records"] == TRUTH["search_all"]


ORDERS_SPEC: dict[str, Any] = {
    "name": "shape_orders",
    "start_urls": ["{base_url}/account/orders/"],
    "levels": [{"name": "orders", "links": "li.order a", "next_page": "a.next"}],
    "detail": {"key": "id", "fields": {
        "id": {"css": "h1::attr(data-id)", "required": True},
        "title": {"css": "h1"},
        "total": {"css": "p.total", "kind": "price"},
    }},
}  # fmt: skip


@pytest.mark.parametrize("given_by", ["env", "conn_id"])
def test_a_login_from_the_environment_or_a_connection_and_its_session_reused(
    site: BrowserSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given_by: str
) -> None:
    if given_by == "env":
        monkeypatch.setenv("SHOPLOGIN_USERNAME", USERNAME)
        monkeypatch.setenv("SHOPLOGIN_PASSWORD", PASSWORD)
        login = {"url": "{base_url}/login", "env": "SHOPLOGIN"}
    else:  # Airflow's environment form of a Connection (the URI, password escaped)
        monkeypatch.setenv("AIRFLOW_CONN_SHOP_LOGIN", f"http://{USERNAME}:{quote(PASSWORD)}@shop")
        login = {"url": "{base_url}/login", "conn_id": "shop_login"}
    before = dict(site.requests)
    frame, reports = run({**ORDERS_SPEC, "login": login}, site, tmp_path)
    assert reports["load"]["loaded"] == len(frame) == TRUTH["orders"]
    rows = frame.set_index("id")
    for ident, title, total in ORDERS:
        assert rows.loc[ident, "title"] == title and rows.loc[ident, "total"] == float(total)
    asked = {k: v - before.get(k, 0) for k, v in site.requests.items()}
    assert asked["POST /login"] == 1  # one login, its session used by all 15 pages
    assert asked["/account/orders/"] == 3 and asked["/account/orders/o12"] == 1
    assert reports["scrape"]["completeness"]["warnings"] == []


def test_a_failed_login_is_an_error_naming_source_and_url(
    site: BrowserSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLOGIN_USERNAME", USERNAME)
    monkeypatch.setenv("SHOPLOGIN_PASSWORD", "wrong")
    spec = {**ORDERS_SPEC, "login": {"url": "{base_url}/login", "env": "SHOPLOGIN"}}
    with pytest.raises(CrawlError) as caught:
        run(spec, site, tmp_path)
    assert (
        f"login to source 'shape_orders' at {site.base_url}/login failed: the page after the "
        f"login ({site.base_url}/login) still shows 'form input[type=password]': the site "
        "refused the credentials (credentials from the environment (SHOPLOGIN_USERNAME, "
        "SHOPLOGIN_PASSWORD))"
    ) in str(caught.value)
    assert "wrong" not in str(caught.value)  # never the password
    assert caught.value.retryable is False  # a retry would post the same refused credentials


def test_missing_credentials_say_which(site: BrowserSite, tmp_path: Path) -> None:
    spec = {**ORDERS_SPEC, "login": {"url": "{base_url}/login", "conn_id": "nowhere"}}
    with pytest.raises(CrawlError) as caught:
        run(spec, site, tmp_path)
    assert (
        "source 'shape_orders': login needs the Airflow Connection 'nowhere', which the crawl "
        "does not have: create it in Airflow (the scrape task hands it to the crawl) or set "
        "AIRFLOW_CONN_NOWHERE"
    ) in str(caught.value)
