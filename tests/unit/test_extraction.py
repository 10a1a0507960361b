"""Field extraction (one implementation for the crawl and preview), the crawl-graph spec keys,
and ``preview`` on a fixture page."""

from __future__ import annotations

from typing import Any

import pytest
from parsel import Selector
from scrapy.http import HtmlResponse

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.crawler.completeness import completeness_fields, completeness_of, limits_of
from harvest.crawler.spiders.account import CrawlAccount
from harvest.extract import Extractor, FieldExtractor
from harvest.records import extract_records, parse_records
from harvest.scraping.preview import preview_lines
from harvest.storage.raw import RawDocument

PAGE = """<html><body>
<h1>  Bright
   flat </h1>
<p class="availability"><i class="icon"></i>
    In stock (22 available)</p>
<p class="star-rating Three"></p>
<ul class="tags"><li>A</li><li> B </li><li></li></ul>
<p class="gone">Out of stock</p>
</body></html>"""
URL = "https://jobs.example/job/352449931299581?ref=list"


def value(url: str = URL, **field: Any) -> Any:
    return FieldExtractor("f", FieldSpec.model_validate(field)).extract(Selector(text=PAGE), url)


def test_a_field_is_the_whole_text_of_its_element_whitespace_normalised() -> None:
    assert value(css="p.availability") == "In stock (22 available)"
    assert value(xpath="//p[@class='availability']") == "In stock (22 available)"
    assert value(css="p.availability::text") == "In stock (22 available)"  # first non-blank node
    assert value(css="h1") == "Bright flat"
    assert value(css="p.nothing") is None


def test_many_regex_map_default_and_from_url() -> None:
    assert value(css="ul.tags li", many=True) == ["A", "B"]
    assert value(css="p.availability", regex=r"\((\d+) available\)") == "22"
    rating = {"regex": r"star-rating (\w+)", "map": {"One": 1, "Three": 3}}
    assert value(css="p.star-rating::attr(class)", **rating) == "3"
    stock = {"regex": r"\((\d+) available\)|(Out of stock)", "map": {"Out of stock": 0}}
    assert value(css="p.gone", **stock) == "0"
    assert value(css="p.availability", **stock) == "22"
    assert value(css="p.nothing", default="n/a") == "n/a"
    assert value(css="p.availability", regex=r"(\d+) sold", default=0) == "0"
    assert value(**{"from": "url", "regex": r"/job/(\d+)"}) == "352449931299581"


def _spec(fields: dict[str, Any]) -> SourceSpec:
    return SourceSpec.model_validate({
        "name": "shop", "base_url": "https://shop.example", "start_urls": ["{base_url}/"],
        "levels": [{"name": "list", "cards": "div.card", "links": "a"}],
        "detail": {"key": "title", "fields": fields},
    })  # fmt: skip


def test_a_regex_that_matches_none_of_the_text_found_is_told() -> None:
    """The page's "In stock (22 available)" and "Out of stock": a regex for the first only is
    told of the second (not of a field whose element is absent, nor of a matched one), unless
    a field of the same selector read it (price and pay split by their regexes)."""
    spec = _spec({
        "title": {"css": "h1"},
        "stock": {"xpath": "//p[@class='gone']", "regex": r"\((\d+) available\)"},
        "count": {"css": "p.availability", "regex": r"\((\d+) available\)"},
        "absent": {"css": "p.nothing", "regex": r"(\d+)"},
        "single": {"css": "p.gone", "regex": r"^(In .+)$"},
        "split": {"css": "p.gone", "regex": r"^(Out .+)$"},
        "sold": {"css": "p.availability::text", "regex": r"(\d+) sold", "default": 0},
    })  # fmt: skip
    told: list[tuple[str, str, str]] = []
    extractor = Extractor(spec, lambda *miss: told.append(miss))
    values = extractor.page_fields(Selector(text=PAGE), URL)
    assert (values["stock"], values["count"], values["split"], values["sold"]) == (
        None, "22", "Out of stock", "0"
    )  # fmt: skip
    assert told == [
        ("stock", URL, "Out of stock"),
        ("sold", URL, "In stock (22 available)"),  # its default stands in: still said
    ]
    told.clear()
    Extractor(spec).page_fields(Selector(text=PAGE), URL)  # nobody to tell: preview, learning
    assert told == []


class _Stats:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count

    def get_value(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_the_crawl_counts_regex_misses_per_field_and_warns_with_the_least_example() -> None:
    account = CrawlAccount()
    account.crawler = type("Crawler", (), {"stats": _Stats()})()
    for url in ("https://shop.example/p/9", "https://shop.example/p/2", "https://shop.example/p/5"):
        account.regex_unmatched("availability", url, "Out of stock")
    stats = {
        **account.crawler.stats.values,
        "harvest/account_limits": limits_of(_spec({"title": {"css": "h1"}, "availability": {
            "css": "p.availability", "regex": r"\((\d+) available\)"}})),
    }  # fmt: skip
    assert completeness_fields(stats)["fields_regex_unmatched"] == {"availability": 3}
    completeness = completeness_of(stats)
    assert completeness["warnings"] == []  # every record is there: not the account's warning
    assert completeness["field_warnings"] == [
        "fields_regex_unmatched: field 'availability': its regex '\\((\\d+) available\\)' "
        "matched none of the text found in 3 item page(s) or card(s) read (one extraction "
        "each: a record, or a card seen again), e.g. 'Out of stock' on https://shop.example/p/2; "
        "the value is missing (or its default): fix the regex (python -m harvest preview "
        "--source shop --url https://shop.example/p/2 shows it)"
    ]
    assert completeness_of({})["field_warnings"] == []


@pytest.mark.parametrize(
    "field",
    [
        {"css": "h1"}, {"css": "h1::text"}, {"css": "ul.tags li"}, {"css": "ul.tags li::text"},
        {"css": "p.nothing", "default": "n/a"}, {"css": "p.nothing"}, {"xpath": "//li[3]"},
        {"css": "p.star-rating::attr(class)"}, {"xpath": "count(//li)"}, {"css": "p::text"},
    ],
)  # fmt: skip
def test_a_plain_field_is_its_first_match_as_the_processors_give_it(field: dict[str, Any]) -> None:
    """extract() gives a plain field's first match without the processors: the same value."""
    extractor = FieldExtractor("f", FieldSpec.model_validate(field))
    selector = Selector(text=PAGE)
    assert extractor._first_as_is == ("xpath" in field or "css" in field)
    assert extractor.extract(selector, URL) == extractor.value(extractor.matches(selector, URL))


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"from": "url"}, "needs a 'regex'"),
        ({"from": "url", "regex": "x", "css": "a"}, "takes a 'regex', not 'css'"),
        ({"css": "a", "regex": "("}, "bad regular expression"),
        ({"css": "a", "many": True, "checks": {"min": 1}}, "takes only"),
    ],
)
def test_bad_field_keys_are_named(field: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldSpec.model_validate(field)


def spec(**changes: Any) -> SourceSpec:
    data: dict[str, Any] = {
        "name": "fixture",
        "base_url": "https://shop.example",
        "start_urls": ["{base_url}/"],
        "levels": [
            {"name": "categories", "links": "ul.categories a"},
            {"name": "lists", "cards": "article", "links": "h3 a", "next_page": "li.next a"},
        ],
        "detail": {
            "key": "id",
            "fields": {
                "id": {"from": "url", "regex": r"/p/(\d+)", "required": True},
                "tags": {"css": "ul.tags li", "many": True},
                "rating": {
                    "from": "card",
                    "css": "p.star-rating::attr(class)",
                    "regex": r"star-rating (\w+)",
                    "map": {"Three": 3},
                    "kind": "int",
                },
            },
        },
    }
    data.update(changes)
    return SourceSpec.model_validate(data)


def test_the_graph_keys_are_checked_and_index_is_the_one_level_graph() -> None:
    assert [level.name for level in spec().graph] == ["categories", "lists"]
    plain = {"key": "id", "fields": {"id": {"from": "url", "regex": r"/p/(\d+)"}}}
    old = spec(levels=[], index={"detail_links": "a.item", "next_page": "a.next"}, detail=plain)
    assert [(lv.name, lv.links.css, lv.next_page.css) for lv in old.graph] == [  # type: ignore[union-attr]
        ("index", "a.item", "a.next")
    ]
    with pytest.raises(ValueError, match="not both"):
        spec(index={"detail_links": "a"})
    with pytest.raises(ValueError, match="'categories' is not the last: it needs 'links'"):
        spec(levels=[{"name": "categories", "cards": "li"}, {"name": "lists", "links": "a"}])
    with pytest.raises(ValueError, match="no level has 'cards'"):
        spec(levels=[{"name": "lists", "links": "a"}])
    with pytest.raises(ValueError, match=r"start URL .* or a sitemap"):
        spec(start_urls=[])
    sitemap_only = spec(
        start_urls=[], levels=[], sitemap={"urls": ["{base_url}/sitemap.xml"]}, detail=plain
    )
    assert sitemap_only.graph == []


def test_many_fields_are_json_arrays_of_parsed_values() -> None:
    doc = RawDocument(
        "fixture", "2026-03-01", "https://shop.example/p/1", 200, "t", "detail",
        fields={"id": "1", "tags": ["A", "B"], "rating": "3"},
    )  # fmt: skip
    parsed = parse_records(extract_records([doc], spec()), spec())
    assert parsed.frame.loc[0, "tags"] == '["A", "B"]'
    assert parsed.frame.loc[0, "rating"] == 3
    assert parsed.issues.empty


def test_card_items_are_records_of_their_list_page() -> None:
    doc = RawDocument(
        "fixture", "2026-03-01", "https://shop.example/list", 200, "t", "index",
        records=[{"id": "7", "rating": "3"}, {"id": "8", "rating": None}],
    )  # fmt: skip
    raw = extract_records([doc], spec())
    assert list(raw["url"]) == [
        "https://shop.example/list#card-1",
        "https://shop.example/list#card-2",
    ]
    assert list(raw["id"]) == ["7", "8"]


def test_preview_prints_every_field_and_every_level_of_a_fixture_page() -> None:
    list_page = (
        '<ul class="categories"><a href="/c/1">One</a></ul>'
        '<article><p class="star-rating Three"></p><h3><a href="/p/5">Five</a></h3></article>'
        '<article><p class="star-rating Nine"></p><h3><a href="/p/6">Six</a></h3></article>'
        '<li class="next"><a href="?page=2">next</a></li>'
    )
    response = HtmlResponse("https://shop.example/c/1", body=list_page, encoding="utf-8")
    text = "\n".join(preview_lines(spec(), response))
    assert "id  [url]" in text and "MISSING (required)" in text
    assert "accepted (an HTML page)" in text
    assert "links [ul.categories a] to the next level: 1 found: https://shop.example/c/1" in text
    assert "cards [article]: 2 found" in text
    assert (
        "links [h3 a] to item pages: 2 found: https://shop.example/p/5, https://shop.example/p/6"
        in text
    )
    assert "next_page [li.next a]: 1 found: https://shop.example/c/1?page=2" in text
    assert "matched: ['star-rating Three']" in text and "parsed:  3" in text
    promoted = '<article><p class="star-rating One"></p><h3><a href="/p/5">Five</a></h3></article>'
    shared = HtmlResponse(
        "https://shop.example/c/1", body=list_page + promoted, encoding="utf-8"
    )  # a second card of item 5: its page is fetched once
    text = "\n".join(preview_lines(spec(), shared))
    assert (
        "-> 2 pages fetched, each joined to every card linking it (1 card(s) link a page "
        "another card links: one record per detail.key)" in text
    )

    item = HtmlResponse(
        "https://shop.example/p/5", body='<ul class="tags"><li>x</li></ul>', encoding="utf-8"
    )
    text = "\n".join(preview_lines(spec(), item))
    assert "value:   '5'" in text and "parsed:  ['x']" in text


def test_a_failed_parse_is_shown_with_its_reason() -> None:
    bad = spec(
        detail={
            "key": "id",
            "fields": {"id": {"css": "h1"}, "when": {"css": "p", "kind": "date"}},
        },
        levels=[{"name": "lists", "links": "a"}],
    )
    response = HtmlResponse(
        "https://shop.example/p/1", body="<h1>1</h1><p>someday</p>", encoding="utf-8"
    )
    text = "\n".join(preview_lines(bad, response))
    assert "FAILED (date): not a date: 'someday'" in text
