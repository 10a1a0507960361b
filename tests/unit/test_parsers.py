"""Parsers: the demo site's formats parse to the right values; arbitrary strings never crash."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvest.fields import field_kind, kind_names
from harvest.parsers import (
    Money,
    Range,
    Unparseable,
    parse_area,
    parse_bool,
    parse_date,
    parse_int,
    parse_number,
    parse_price,
    parse_range,
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
@settings(deadline=None)  # the first date string loads dateparser's languages
@given(text=st.one_of(st.none(), st.text(max_size=80)))
def test_parsers_never_raise(name: str, text: str | None) -> None:
    result = field_kind(name).parse(text)
    if isinstance(result, Unparseable):
        assert result.reason


@given(amount=st.integers(min_value=0, max_value=10_000_000))
def test_price_round_trips_formatted_integers(amount: int) -> None:
    assert parse_price(f"{amount:,} EUR") == Money(float(amount), "EUR")
    assert parse_price(f"€{amount:,}".replace(",", ".") + " / month") == Money(float(amount), "EUR")


# --- the samples: each family with its right value ----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (",89 €", 0.89),
        ("CHF 1\u2019250.00", 1250.0),  # typographic apostrophe groups thousands
        ("\u22121", -1.0),  # U+2212 minus sign
        ("€1.2k", 1200.0),
        ("1,5 Mio. €", 1_500_000.0),
        ("$63K", 63_000.0),
        ("- 5", -5.0),
        ("3 million", 3_000_000.0),
        ("2bn", 2e9),
    ],
)
def test_numbers_of_every_locale_sign_and_multiplier(text: str, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R$ 1.250,00", Money(1250.0, "BRL")),  # never USD
        ("$63K", Money(63_000.0, "USD")),
        (",89 €", Money(0.89, "EUR")),
        ("CHF 1\u2019250.00", Money(1250.0, "CHF")),
        ("£23.99", Money(23.99, "GBP")),
        ("1.250 zł", Money(1250.0, "PLN")),
        ("JPY 5000", Money(5000.0, "JPY")),
    ],
)
def test_price_currencies_are_iso_codes(text: str, expected: Money) -> None:
    assert parse_price(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$63K-$122K", Range(63_000.0, 122_000.0, "USD", None, "$63K-$122K")),
        (
            "$50,000 - $70,000 a year",
            Range(50_000.0, 70_000.0, "USD", "year", "$50,000 - $70,000 a year"),
        ),
        ("63-122K", Range(63_000.0, 122_000.0, None, None, "63-122K")),
        ("€1.200 per month", Range(1200.0, 1200.0, "EUR", "month", "€1.200 per month")),
        ("£25 \u2013 £30 /hr", Range(25.0, 30.0, "GBP", "hour", "£25 \u2013 £30 /hr")),
        ("3 to 4", Range(3.0, 4.0, None, None, "3 to 4")),
    ],
)
def test_ranges_give_minimum_maximum_and_period(text: str, expected: Range) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["", None, "competitive", "$90K-$60K"])
def test_unparseable_ranges_say_why(text: str | None) -> None:
    result = parse_range(text)
    assert isinstance(result, Unparseable) and result.reason


@pytest.mark.parametrize(
    "text",
    [
        "2026-04-01T00:00:00Z",
        "2026-04-01",
        "Apr 1, 2026",
        "1 April 2026",
        "Published on 1 April 2026",
        "1. April 2026",
        "01.04.2026",
    ],
)
def test_dates_in_the_usual_forms(text: str) -> None:
    assert parse_date(text) == dt.date(2026, 4, 1)


def test_formats_pin_an_ambiguous_date_and_refuse_the_rest() -> None:
    assert parse_date("03/04/2022", formats=["%d/%m/%Y"]) == dt.date(2022, 4, 3)
    assert parse_date("03/04/2022", formats=["%m/%d/%Y"]) == dt.date(2022, 3, 4)
    refused = parse_date("2022-04-03", formats=["%d/%m/%Y"])
    assert isinstance(refused, Unparseable) and "%d/%m/%Y" in refused.reason


def test_languages_read_month_names() -> None:
    assert parse_date("24 mars 2022", languages=["fr"]) == dt.date(2022, 3, 24)
    assert parse_date("24. März 2022", languages=["de"]) == dt.date(2022, 3, 24)


@pytest.mark.parametrize("text", ["yesterday", "April 2022", "in 3 days", "Published on"])
def test_relative_and_partial_dates_are_refused(text: str) -> None:
    # they would depend on the day the partition is processed
    assert isinstance(parse_date(text), Unparseable)


@settings(deadline=None)  # the first date string loads dateparser's languages
@given(
    text=st.one_of(st.none(), st.text(max_size=60)),
    formats=st.sampled_from([None, ["%d/%m/%Y"], ["%Y-%m-%d", "%d %B %Y"]]),
    languages=st.sampled_from([None, ["en"], ["de", "fr"]]),
)
def test_date_parser_with_options_never_raises(
    text: str | None, formats: list[str] | None, languages: list[str] | None
) -> None:
    result = parse_date(text, formats=formats, languages=languages)
    assert isinstance(result, dt.date) or (isinstance(result, Unparseable) and result.reason)


@given(
    low=st.integers(min_value=0, max_value=10_000_000),
    span=st.integers(min_value=0, max_value=10_000_000),
)
def test_range_round_trips_formatted_integers(low: int, span: int) -> None:
    parsed = parse_range(f"${low:,} - ${low + span:,} a year")
    assert isinstance(parsed, Range)
    assert (parsed.minimum, parsed.maximum, parsed.currency, parsed.period) == (
        low,
        low + span,
        "USD",
        "year",
    )


# -- values that cannot lie (issue 18) -----------------------------------------------------------

NINES = "£" + "9" * 400


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (NINES, "amount out of range (not a finite number)"),
        ("€ 1e999", "amount out of range (not a finite number)"),
        ("-1e999 EUR", "amount out of range (not a finite number)"),
    ],
)
def test_amounts_beyond_a_float_are_refused_with_the_reason(text: str, reason: str) -> None:
    for parse in (parse_price, parse_number):
        result = parse(text)
        assert isinstance(result, Unparseable), (parse.__name__, text, result)
        assert result.reason.startswith(reason)
    assert "(401 characters)" in parse_price(NINES).reason  # a long value is cut, and says so


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.250 Kč", Money(1250.0, "CZK")),  # the K of Kč is no thousands multiplier
        ("2 pairs from $349", Money(349.0, "USD")),  # the amount next to the currency
        ("2 Zimmer ab 1.250 €", Money(1250.0, "EUR")),
        ("€ 1e5", Money(100000.0, "EUR")),  # an exponent is read whole
        ("$63K", Money(63000.0, "USD")),  # the multiplier still applies
        ("1,5 Mio. €", Money(1500000.0, "EUR")),
        ("12€ 34", parse_price("12€34")),  # price-parser's euro-as-separator left alone
    ],
)
def test_prices_take_the_amount_not_a_count_or_a_unit(text: str, expected: Money) -> None:
    assert parse_price(text) == expected


def test_a_vulgar_fraction_is_no_whole_number() -> None:
    assert parse_number("2½") == 2.5
    assert parse_number("½") == 0.5
    assert parse_number("3 ¾ rooms") == 3.75
    refused = parse_int("2½")
    assert isinstance(refused, Unparseable) and refused.reason == "not a whole number: 2.5 in '2½'"
    assert parse_int("2") == 2


def test_whole_numbers_beyond_64_bits_are_refused() -> None:
    assert parse_int(str(10**15)) == 10**15
    refused = parse_int("1" + "0" * 20)
    assert isinstance(refused, Unparseable)
    assert refused.reason.startswith("out of range for a 64-bit whole number")


def test_an_all_numeric_date_needs_its_order() -> None:
    refused = parse_date("12.03.26")
    assert isinstance(refused, Unparseable)
    assert refused.reason == (
        "ambiguous date '12.03.26': it reads as 2026-03-12 (DMY), 2026-12-03 (MDY), "
        "2012-03-26 (YMD); set the field's date_order (DMY, MDY, YMD) or formats in the spec"
    )
    assert parse_date("12.03.26", date_order="DMY") == dt.date(2026, 3, 12)
    assert parse_date("12.03.26", date_order="MDY") == dt.date(2026, 12, 3)
    assert parse_date("12.03.26", date_order="YMD") == dt.date(2012, 3, 26)
    assert isinstance(parse_date("03/04/2022"), Unparseable)
    assert parse_date("03/04/2022", date_order="DMY") == dt.date(2022, 4, 3)
    # one reading only: no order needed
    assert parse_date("12/25/2022") == dt.date(2022, 12, 25)
    assert parse_date("2026/03/12") == dt.date(2026, 3, 12)
    # dots and a four-digit year are day first unless the source says otherwise
    assert parse_date("01.04.2026") == dt.date(2026, 4, 1)
    assert parse_date("01.04.2026", date_order="MDY") == dt.date(2026, 1, 4)
    wrong = parse_date("12.03.26", date_order="DYM")
    assert isinstance(wrong, Unparseable) and "date_order 'DYM'" in wrong.reason


def test_the_date_kind_takes_date_order_from_the_spec() -> None:
    from harvest.config.spec import FieldSpec

    field_spec = FieldSpec(css="p", kind="date", date_order="DMY")
    parse = field_kind("date").parser(**field_spec.kind_options)
    assert parse("12.03.26") == dt.date(2026, 3, 12)
    with pytest.raises(ValueError, match="date_order"):
        FieldSpec(css="p", kind="price", date_order="DMY")
