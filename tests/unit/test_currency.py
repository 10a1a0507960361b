"""Money: stated amounts kept, opt-in conversion from a dated rates table, and its failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from harvest.config.spec import SpecError, load_spec
from harvest.currency import RatesError, load_rates
from harvest.parsers import Unparseable
from harvest.records import extract_records, parse_records
from harvest.storage.raw import RawDocument
from harvest.storage.warehouse.schema import processed_columns

RATES = (
    "date,from,to,rate\n2026-01-01,GBP,EUR,1.15\n2026-03-01,GBP,EUR,1.20\n2026-01-01,EUR,USD,1.10\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_rate_of_a_day_is_the_latest_on_or_before_it(tmp_path: Path) -> None:
    table = load_rates(write(tmp_path, "rates.csv", RATES))
    assert table.convert(23.99, "GBP", "EUR", dt.date(2026, 2, 15)) == 27.59
    assert table.convert(23.99, "GBP", "EUR", dt.date(2026, 3, 1)) == 28.79
    assert table.convert(110.0, "USD", "EUR", dt.date(2026, 2, 1)) == 100.0  # the inverse pair
    assert table.convert(5.0, "EUR", "EUR", dt.date(2020, 1, 1)) == 5.0
    early = table.convert(1.0, "GBP", "EUR", dt.date(2025, 12, 31))
    assert isinstance(early, Unparseable) and "on or before 2025-12-31" in early.reason
    unknown = table.convert(1.0, "BRL", "EUR", dt.date(2026, 2, 1))
    assert isinstance(unknown, Unparseable) and "no BRL->EUR rate" in unknown.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,from,to,rate\n", "missing column(s) date"),
        ("date,from,to,rate\n2026-13-01,GBP,EUR,1.1\n", "line 2"),
        ("date,from,to,rate\n2026-01-01,GBP,EUR,0\n", "rate must be > 0"),
    ],
)
def test_a_bad_rates_file_names_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(RatesError, match=r"bad\.csv") as error:
        load_rates(path)
    assert message in str(error.value)
    with pytest.raises(RatesError, match="cannot read"):
        load_rates(tmp_path / "missing.csv")


def spec_text(price: str, extra: str = "") -> str:
    return (
        "base_url: http://example.test\n"
        "start_urls: ['{base_url}/{date}']\n"
        "index: {detail_links: a}\n" + extra + "detail:\n"
        "  key: book_id\n"
        "  fields:\n"
        "    book_id: {css: '#id', required: true}\n"
        f"    price: {price}\n"
    )


def docs(*prices: str) -> list[RawDocument]:
    return [
        RawDocument(
            source="books",
            logical_date="2026-02-15",
            url=f"http://example.test/b/{i}",
            status=200,
            fetched_at="2026-02-16T02:00:00+00:00",
            page_type="detail",
            fields={"book_id": f"B{i}", "price": text},
        )
        for i, text in enumerate(prices)
    ]


def test_the_stated_price_is_kept_and_conversion_fills_its_own_column(tmp_path: Path) -> None:
    write(tmp_path, "rates.csv", RATES)
    price = "{css: '.price', kind: price, required: true, convert_to: EUR}"
    spec = load_spec(write(tmp_path, "books.yaml", spec_text(price, "currency_rates: rates.csv\n")))
    assert spec.currency_rates == str(tmp_path / "rates.csv")  # relative to the spec file
    columns = processed_columns(spec)
    assert (columns["price"], columns["price_currency"], columns["price_eur"]) == (
        "price",
        "text",
        "number",
    )

    parsed = parse_records(extract_records(docs("£23.99", "€10", "R$ 1.250,00"), spec), spec)
    frame = parsed.frame
    assert frame["price"].tolist() == [23.99, 10.0, 1250.0]  # as stated
    assert frame["price_currency"].tolist() == ["GBP", "EUR", "BRL"]
    assert frame["price_eur"].tolist()[:2] == [27.59, 10.0]
    assert pd.isna(frame["price_eur"].iloc[2])
    (issue,) = parsed.issues.itertuples()
    assert (issue.url, issue.field, issue.check) == (
        "http://example.test/b/2",
        "price",
        "convert:EUR",
    )
    assert "no BRL->EUR rate" in issue.reason and "rates.csv" in issue.reason


def test_without_convert_to_nothing_is_converted(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "books.yaml", spec_text("{css: '.p', kind: price}")))
    assert "price_eur" not in processed_columns(spec)
    parsed = parse_records(extract_records(docs("£23.99", "R$ 1.250,00"), spec), spec)
    assert parsed.frame["price"].tolist() == [23.99, 1250.0]
    assert parsed.issues.empty


@pytest.mark.parametrize(
    ("price", "extra", "message"),
    [
        ("{css: '.p', kind: price, convert_to: EUR}", "", "names no currency_rates file"),
        ("{css: '.p', kind: price, convert_to: euro}", "", "should match pattern"),
        ("{css: '.p', kind: int, convert_to: EUR}", "", "kind 'int' takes no convert_to"),
        ("{css: '.p', kind: price, formats: ['%Y']}", "", "takes no formats option"),
        (
            "{css: '.p', kind: price, checks: {min: 1, column: price_usd}}",
            "",
            "checks.column 'price_usd' is not a column of the field",
        ),
    ],
)
def test_money_options_are_checked_when_the_spec_loads(
    tmp_path: Path, price: str, extra: str, message: str
) -> None:
    with pytest.raises(SpecError, match=r"books\.yaml") as error:
        load_spec(write(tmp_path, "books.yaml", spec_text(price, extra)))
    assert message in str(error.value)
