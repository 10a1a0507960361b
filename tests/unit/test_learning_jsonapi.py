"""``harvest init`` on a JSON API page (issue 24): the largest array of objects as the cards,
their scalars as ``from: card`` fields by JMESPath, the key, and the pagination (a next URL,
or a has-next flag with the page parameter). Hand-written JSON, no network."""

from __future__ import annotations

import json

import pytest

from harvest.learning.jsonapi import draft_api, json_data


def test_a_root_array_of_objects_is_the_records() -> None:
    rows = [{"code": f"X{n}", "label": f"Thing {n}", "stock": {"count": n}} for n in range(5)]
    draft = draft_api("http://api.test/v1/things", json.dumps(rows))
    (level,) = draft.spec.levels
    assert level.cards is not None and level.cards.jmespath == "@"
    assert (level.next_page, level.pages) == (None, None)
    fields = draft.spec.detail.fields
    assert set(fields) == {"code", "label", "stock_count"} and draft.spec.detail.key == "code"
    assert fields["stock_count"].kind == "int"
    assert any("only this page is read" in note for note in draft.notes)


def test_a_nested_next_link_and_a_has_more_flag_are_the_pagination() -> None:
    results = [{"uuid": f"u{n}", "price": f"{n}.50 EUR", "city": "Oslo"} for n in range(1, 7)]
    page = {"meta": {"total": 60}, "results": results, "links": {"next_url": "/v2/items?cursor=b"}}
    draft = draft_api("http://api.test/v2/items", json.dumps(page))
    (level,) = draft.spec.levels
    assert level.cards is not None and level.cards.jmespath == "results"
    assert level.next_page is not None and level.next_page.jmespath == "links.next_url"
    assert draft.spec.detail.fields["price"].kind == "price"
    assert "city" in draft.spec.detail.fields  # the same on every card: kept, never the key

    flagged = {"data": {"hits": results, "has_more": True}}
    draft = draft_api("http://api.test/search?q=x&p=1", json.dumps(flagged))
    (level,) = draft.spec.levels
    assert level.pages is not None and level.pages.template == "?q=x&p={page}"
    assert level.pages.has_next is not None and level.pages.has_next.jmespath == "data.has_more"


def test_json_without_records_is_a_clear_error() -> None:
    assert json_data("<html></html>") is None and json_data('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="without an array of objects"):
        draft_api("http://api.test/status", '{"ok": true, "version": "1.2"}')
