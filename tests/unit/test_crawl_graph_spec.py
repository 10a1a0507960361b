"""The crawl graph's spec keys and selectors (issue 17): checked when the spec loads, run on
small pages; and the completeness account's warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from parsel import Selector

from harvest.config.selectors import SelectorSpec
from harvest.config.spec import SpecError, load_spec
from harvest.crawler.completeness import account_from_stats, completeness_warnings, summary_lines
from harvest.selection import Page, WrongPageType, header_values, hrefs, label_values, select, texts

BASE: dict[str, Any] = {
    "base_url": "https://shop.example",
    "start_urls": ["{base_url}/"],
    "levels": [{"name": "lists", "links": "a.item"}],
    "detail": {"key": "id", "fields": {"id": {"css": "h1"}}},
}


def _load(tmp_path: Path, **changes: Any) -> Any:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return load_spec(path)


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"levels": [{"name": "lists", "links": "//a[@class='x']"}]}, "levels.0.links",
         "looks like XPath"),
        ({"levels": [{"name": "lists", "links": {"xpath": "div.item > a"}}]}, "levels.0.links",
         "looks like a CSS selector"),
        ({"levels": [{"name": "lists", "cards": {"jmespath": "items[?"}}],
          "detail": {"key": "id", "fields": {"id": {"from": "card", "jmespath": "id"}}}},
         "levels.0.cards", "is not a JMESPath expression"),
        ({"levels": [{"name": "lists", "links": "a", "pages": {"template": "?p=1"}}]},
         "levels.0.pages.template", "needs '{page}'"),
        ({"levels": [{"name": "lists", "links": "a", "next_page": "a.n",
                      "pages": {"template": "?p={page}"}}]}, "levels.0", "not both"),
        ({"detail": {"key": "id", "fields": {"id": {"metadata": "json-ld"}}}},
         "detail.fields.id", "needs a 'jmespath'"),
        ({"detail": {"key": "id", "fields": {"id": {"header": "Id"}}}}, "detail.fields.id",
         "needs 'from: card'"),
        ({"detail": {"key": "id", "fields": {"id": {"label": "Id", "css": "b"}}}},
         "detail.fields.id", "stand alone"),
        ({"detail": {"key": "id", "fields": {"id": {"xpath": "//h1[", "kind": "text"}}}},
         "detail.fields.id", "is not an XPath expression"),
    ],
)  # fmt: skip
def test_a_bad_selector_is_a_spec_error_naming_file_field_and_selector(
    tmp_path: Path, changes: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(SpecError) as error:
        _load(tmp_path, **changes)
    assert error.value.field == where and "shop.yaml" in str(error.value)
    assert message in error.value.message


def test_new_keys_load_and_a_string_is_css(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        levels=[{"name": "cats", "recurse": "a.sub", "max_recursion": 3, "links": {"xpath": "//a"},
                 "pages": {"template": "?page={page}", "has_next": {"jmespath": "more"}}}],
    )  # fmt: skip
    level = spec.graph[0]
    assert level.recurse.css == "a.sub" and level.links.xpath == "//a"
    assert level.pages.first == 2 and level.pages.has_next.jmespath == "more"
    items = _load(tmp_path, levels=[])  # start URLs that are item pages: no levels needed
    assert items.graph == []


HTML = """<html><body>
<table><tr><th>UPC</th><td>a897</td></tr></table>
<dl><dt>Availability:</dt><dd>In stock</dd></dl>
<p><strong>Published:</strong> June 21, 2024</p>
<table class="t"><tr><th>Name</th><th>Area (km2)</th></tr><tr><td>A</td><td>1.5</td></tr></table>
<ul><li>x</li><li>y</li><li>z</li></ul>
<script id="data">{"book": {"id": 7, "tags": ["a", "b"]}}</script>
<script type="application/ld+json">{"@type": "Book", "name": "Dune"}</script>
<a class="n" href="/p/2">2</a>
</body></html>"""


def test_selectors_on_html_json_in_html_and_metadata() -> None:
    page_sel = Selector(text=HTML)
    page = Page(page_sel, "https://shop.example/b/1")
    assert label_values(page_sel, "UPC") == ["a897"]
    assert label_values(page_sel, "availability") == ["In stock"]
    assert label_values(page_sel, "Published") == ["June 21, 2024"]
    row = page_sel.css("table.t tr")[1]
    assert header_values(row, "Area (km2)") == ["1.5"] and header_values(row, "Nope") == []
    assert texts(page_sel.xpath("count(//li)")) == ["3"]
    spec = SelectorSpec.model_validate({"css": "script#data::text", "jmespath": "book.id"})
    assert texts(select(spec, page_sel, page)) == ["7"]
    tags = SelectorSpec.model_validate({"css": "script#data::text", "jmespath": "book.tags"})
    assert texts(select(tags, page_sel, page)) == ["a", "b"]  # an array: one match each
    ld = SelectorSpec.model_validate({"metadata": "json-ld", "jmespath": "Book.name"})
    assert texts(select(ld, page_sel, page)) == ["Dune"]
    assert hrefs(select(SelectorSpec.model_validate("a.n"), page_sel, page)) == ["/p/2"]
    with pytest.raises(WrongPageType, match="is an HTML page but jmespath"):
        select(SelectorSpec.model_validate({"jmespath": "book"}), page_sel, page)


def test_selectors_on_a_json_page() -> None:
    data = Selector(text='{"items": [{"id": 1, "ok": true}, {"id": 2.5}], "next": "/p/2"}')
    page = Page(data, "https://api.example/items")
    cards = select(SelectorSpec.model_validate({"jmespath": "items"}), data, page)
    assert [texts(select(SelectorSpec(jmespath="id"), c, page)) for c in cards] == [["1"], ["2.5"]]
    assert texts(select(SelectorSpec(jmespath="ok"), cards[0], page)) == ["true"]
    assert hrefs(select(SelectorSpec(jmespath="next"), data, page)) == ["/p/2"]
    with pytest.raises(WrongPageType, match="is JSON but the selector is css"):
        select(SelectorSpec.model_validate("a.next"), data, page)


def test_the_account_warns_of_every_drop_without_a_reason_and_every_loss() -> None:
    stats = {
        "harvest/account_levels": ["lists"],
        "harvest/account/lists/links_seen": 10,
        "harvest/account/lists/followed": 5,
        "harvest/account/lists/skipped/duplicate": 2,
        "harvest/account/lists/skipped/failed": 1,
        "harvest/account/lists/cards_seen": 8,
        "harvest/account/lists/records": 5,
        "harvest/account/lists/pages": 3,
    }
    account = account_from_stats(stats)
    assert account == [{
        "level": "lists", "links_seen": 10, "followed": 5, "cards_seen": 8, "cards_duplicate": 0,
        "records": 5,
        "pages": 3, "empty_pages": 0, "skipped": {"duplicate": 2, "failed": 1},
    }]  # fmt: skip
    warnings = completeness_warnings(account)
    assert [w.split(":")[0] for w in warnings] == [
        "unexplained_drop", "records_below_cards", "links_skipped_failed",
    ]  # fmt: skip
    assert "2 of 10 links neither followed nor skipped" in warnings[0]
    assert "5 records from 8 cards (links skipped: 1 failed)" in warnings[1]
    assert summary_lines(account, [])[0].startswith("level 'lists': 3 pages, links seen 10")


def test_an_incomplete_crawl_is_a_named_warning_of_the_partition(tmp_path: Path) -> None:
    import pandas as pd

    from harvest.loading.warnings import partition_warnings

    spec = _load(tmp_path)
    crawl = {
        "completeness": {"levels": [], "warnings": ["links_skipped_budget: level 'lists': ..."]},
        "links_skipped": {"budget": 3},
    }
    frame = pd.DataFrame({"id": ["a"]})
    found = partition_warnings(spec, frame, crawl)
    assert found["crawl_incomplete"] == {
        "severity": "warning", "warnings": ["links_skipped_budget"], "links_skipped": {"budget": 3},
    }  # fmt: skip
    assert "crawl_incomplete" not in partition_warnings(spec, frame, {"completeness": {}})


def test_preview_of_a_json_page_says_what_the_crawl_would_do() -> None:
    from scrapy.http import TextResponse

    from harvest.config.spec import SourceSpec
    from harvest.scraping.preview import preview_lines

    body = b'{"products": [{"sku": "A"}, {"sku": "B"}], "next": "/api?page=2"}'
    response = TextResponse(
        "https://api.example/api", body=body, headers={"Content-Type": "application/json"}
    )
    json_spec = SourceSpec.model_validate({
        **BASE, "name": "api",
        "levels": [{"name": "products", "cards": {"jmespath": "products"},
                    "next_page": {"jmespath": "next"}}],
        "detail": {"key": "sku", "fields": {"sku": {"from": "card", "jmespath": "sku"}}},
    })  # fmt: skip
    text = "\n".join(preview_lines(json_spec, response))
    assert "accepted (a JSON page)" in text
    assert "cards [jmespath: products]: 2 found" in text
    assert "-> each card is a record (2 records)" in text
    assert "next_page [jmespath: next]: 1 found: https://api.example/api?page=2" in text
    assert "value:   'A'" in text
    html_spec = SourceSpec.model_validate({**BASE, "name": "shop"})
    text = "\n".join(preview_lines(html_spec, response))
    assert "REJECTED: a JSON page (Content-Type: application/json) but the spec reads HTML" in text
    assert "is JSON but the selector is css 'a.item'" in text  # the level, not a stack trace


def test_records_that_do_not_add_up_are_a_named_warning(tmp_path: Path) -> None:
    import pandas as pd

    from harvest.loading.warnings import partition_warnings

    spec = _load(tmp_path)
    frame = pd.DataFrame({"id": ["a", "b", "c"]})
    counts = {"scraped": 5, "quarantined": 1, "duplicates": 1}
    assert "records_unaccounted" not in partition_warnings(
        spec, frame, {"item_pages": 5}, counts=counts
    )
    lost = partition_warnings(spec, frame, {"item_pages": 7}, counts=counts)  # 2 never read
    assert lost["records_unaccounted"] == {
        "severity": "warning", "scraped": 5, "quarantined": 1, "duplicates": 1, "rows": 3,
        "crawl_records": 7,
    }  # fmt: skip
    short = partition_warnings(spec, frame.head(2), None, counts=counts)  # one row vanished
    assert short["records_unaccounted"]["rows"] == 2
