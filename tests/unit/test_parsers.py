"""Parsers: the demo site's formats parse to the right values; arbitrary strings never crash."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvest.fields import field_kind, kind_names
from harvest.parsers import (
    Money,
    Unparseable,
    parse_area,
    parse_bool,
    parse_date,
    parse_int,
    parse_number,
    parse_price,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("€1.250 / month", Money(1250.0, "EUR")),
        ("1250 EUR", Money(1250.0, "EUR")),
        ("EUR 1,250.00", Money(1250.0, "EUR")),
        ("1 250 €", Money(1250.0, "EUR")),
        ("€ 2.100,50", Money(2100.5, "EUR")),
        ("$980", Money(980.0, "USD")),
        ("CHF 3'400", Money(3400.0, "CHF")),
    ],
)
def test_price_formats(text: str, expected: Money) -> None:
    assert parse_price(text) == expected


@pytest.mark.parametrize("text", ["Price on request", "", None, "1250", "EUR -5"])
def test_unparseable_prices_say_why(text: str | None) -> None:
    result = parse_price(text)
    assert isinstance(result, Unparseable)
    assert result.reason
    assert not result


@pytest.mark.parametrize(
    ("text", "m2"),
    [("54 m²", 54.0), ("54 m2", 54.0), ("54,5 m²", 54.5), ("581 sq ft", 53.98), ("70 sqm", 70.0)],
)
def test_area_to_square_metres(text: str, m2: float) -> None:
    assert parse_area(text) == pytest.approx(m2, abs=0.01)


def test_area_unknown_unit() -> None:
    assert isinstance(parse_area("54 acres"), Unparseable)


def test_numbers_ints_bools_dates() -> None:
    assert parse_number("1.250.000") == 1_250_000
    assert parse_number("1,5") == 1.5
    assert parse_int("3 rooms") == 3
    assert isinstance(parse_int("2.5"), Unparseable)
    assert parse_bool(" Yes ") is True
    assert parse_bool("no") is False
    assert isinstance(parse_bool("maybe"), Unparseable)
    assert parse_date("2026-03-12") == dt.date(2026, 3, 12)
    assert parse_date("12.03.2026") == dt.date(2026, 3, 12)
    assert isinstance(parse_date("31.02.2026"), Unparseable)


@pytest.mark.parametrize("name", sorted(kind_names()))
@given(text=st.one_of(st.none(), st.text(max_size=80)))
def test_parsers_never_raise(name: str, text: str | None) -> None:
    result = field_kind(name).parse(text)
    if isinstance(result, Unparseable):
        assert result.reason


@given(amount=st.integers(min_value=0, max_value=10_000_000))
def test_price_round_trips_formatted_integers(amount: int) -> None:
    assert parse_price(f"{amount:,} EUR") == Money(float(amount), "EUR")
    assert parse_price(f"€{amount:,}".replace(",", ".") + " / month") == Money(float(amount), "EUR")
