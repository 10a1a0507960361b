"""Values that cannot lie (issue 18), through extraction, validation and the load, on PostgreSQL
and SQLite: each scraped string is loaded as the right value or quarantined with a named reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.records import extract_records
from harvest.storage.raw import RawDocument
from harvest.storage.warehouse import QUARANTINE, Warehouse
from harvest.validation.run import validate_records

DAY = dt.date(2026, 3, 12)
NINES = "£" + "9" * 400

# (price text, rooms text, date text) -> the values loaded, or the field and its reason
CASES: list[tuple[str, str, str, str, Any]] = [
    ("nines", NINES, "1", "2026-03-01", ("price", "amount out of range (not a finite number)")),
    ("exponent", "€ 1e999", "1", "2026-03-01", ("price", "amount out of range")),
    ("koruna", "1.250 Kč", "1", "2026-03-01", (1250.0, "CZK", 1, dt.date(2026, 3, 1))),
    ("pairs", "2 pairs from $349", "1", "2026-03-01", (349.0, "USD", 1, dt.date(2026, 3, 1))),
    ("zimmer", "2 Zimmer ab 1.250 €", "2", "2026-03-01", (1250.0, "EUR", 2, dt.date(2026, 3, 1))),
    ("half", "€ 900", "2½", "2026-03-01", ("rooms", "not a whole number: 2.5 in '2½'")),
    ("dotted", "€ 900", "3", "12.03.26", (900.0, "EUR", 3, dt.date(2026, 3, 12))),
]


def spec(date_order: str | None) -> SourceSpec:
    published: dict[str, Any] = {"css": "p", "kind": "date", "on_error": "quarantine"}
    if date_order:
        published["date_order"] = date_order
    return SourceSpec.model_validate(
        {
            "name": "values",
            "base_url": "http://example.test",
            "start_urls": ["{base_url}/"],
            "index": {"detail_links": "a"},
            "detail": {
                "key": "ref",
                "fields": {
                    "ref": {"css": "h1", "required": True},
                    "price": {"css": "b", "kind": "price", "on_error": "quarantine"},
                    "rooms": {"css": "i", "kind": "int", "on_error": "quarantine"},
                    "published": published,
                },
            },
        }
    )


def documents() -> list[RawDocument]:
    return [
        RawDocument(
            source="values",
            logical_date=DAY.isoformat(),
            url=f"http://example.test/{ref}",
            status=200,
            fetched_at="2026-03-12T02:00:00+00:00",
            page_type="detail",
            fields={"ref": ref, "price": price, "rooms": rooms, "published": published},
        )
        for ref, price, rooms, published, _ in CASES
    ]


def test_each_value_loads_right_or_is_quarantined_with_its_reason(warehouse: Warehouse) -> None:
    source = spec("DMY")
    outcome = validate_records(extract_records(documents(), source), source, DAY)
    warehouse.migrate([source])
    valid = outcome.valid.assign(record_key=outcome.valid["ref"])
    assert warehouse.load_partition(source, DAY, valid).rows == len(valid)
    warehouse.replace_quarantine("values", DAY, "validate", outcome.quarantine)

    with warehouse.engine.connect() as conn:
        loaded = {
            row.record_key: (row.price, row.price_currency, row.rooms, row.published)
            for row in conn.execute(
                sa.text(
                    "SELECT record_key, price, price_currency, rooms, published FROM processed_values"
                )
            )
        }
        quarantined = {
            row.url.rsplit("/", 1)[1]: (row.field, row.reason)
            for row in conn.execute(
                sa.select(QUARANTINE.c.url, QUARANTINE.c.field, QUARANTINE.c.reason).where(
                    QUARANTINE.c.source == "values"
                )
            )
        }
    for ref, _price, _rooms, _published, expected in CASES:
        if isinstance(expected[0], str):  # a rejection: the field and the start of its reason
            field, reason = expected
            assert ref not in loaded, ref
            assert quarantined[ref][0] == field and quarantined[ref][1].startswith(reason), ref
        else:
            price, currency, rooms, published = loaded[ref]
            day = published if isinstance(published, dt.date) else dt.date.fromisoformat(published)
            assert (price, currency, rooms, day) == expected, ref
    assert len(loaded) + len(quarantined) == len(CASES)


def test_an_all_numeric_date_without_its_order_is_refused_by_name() -> None:
    source = spec(None)
    outcome = validate_records(extract_records(documents(), source), source, DAY)
    dotted = outcome.quarantine[outcome.quarantine["url"] == "http://example.test/dotted"]
    assert dotted["field"].tolist() == ["published"]
    assert "set the field's date_order" in dotted["reason"].iloc[0]
