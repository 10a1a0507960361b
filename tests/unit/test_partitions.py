"""The partition value: one source, one day, made once at the edge (operator, CLI)."""

from __future__ import annotations

import datetime as dt

import pytest

from harvest.__main__ import main
from harvest.partitions import Partition, partition_date

UTC = dt.UTC


def test_a_partition_is_a_value() -> None:
    day = dt.date(2026, 3, 14)
    start = dt.datetime(2026, 3, 14, 2, tzinfo=UTC)
    one = Partition("demo", day, start, start + dt.timedelta(days=1))
    assert one == Partition("demo", day, start, start + dt.timedelta(days=1))
    assert hash(one) == hash(Partition("demo", day, start, start + dt.timedelta(days=1)))
    assert str(one) == "demo 2026-03-14"
    assert Partition("demo", day).data_interval_start is None
    with pytest.raises(AttributeError):
        one.day = dt.date(2026, 3, 15)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "day", "message"),
    [
        ("", dt.date(2026, 3, 14), "source name is empty"),
        ("demo", "2026-03-14", "day must be a datetime.date"),
        ("demo", dt.datetime(2026, 3, 14, tzinfo=UTC), "day must be a datetime.date"),
    ],
)
def test_bad_partition_says_what(source: str, day: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        Partition(source, day)  # type: ignore[arg-type]


def test_data_interval_must_not_end_before_it_starts() -> None:
    start = dt.datetime(2026, 3, 14, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"demo 2026-03-14.*ends .* before it starts"):
        Partition("demo", dt.date(2026, 3, 14), start, start - dt.timedelta(hours=1))


def test_partition_date_reads_iso_text_only() -> None:
    """The edges' parser (operator, CLI, crawl child): text in, a date out, or a named error."""
    day = dt.date(2026, 11, 26)
    assert partition_date("2026-11-26") == day
    assert partition_date(" 2026-11-26T00:00:00+00:00") == day
    with pytest.raises(ValueError, match=r"'26\.11\.2026' is not an ISO date"):
        partition_date("26.11.2026")


def test_below_the_edges_text_is_refused() -> None:
    """Stages take a Partition or a date: a date as text is a wiring error, said at once."""
    day = dt.date(2026, 11, 26)
    assert Partition.of("demo", day) == Partition("demo", day)
    weekly = Partition("demo", day, dt.datetime(2026, 11, 26, tzinfo=UTC))
    assert Partition.of("demo", weekly) is weekly
    with pytest.raises(TypeError, match=r"day must be a datetime\.date"):
        Partition.of("demo", "2026-11-26")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="partition demo 2026-11-26 handed to source 'other'"):
        Partition.of("other", weekly)


def test_a_daily_partition_without_an_interval_covers_its_day() -> None:
    partition = Partition("demo", dt.date(2026, 12, 31))
    assert partition.iso == "2026-12-31"
    assert partition.interval_start == dt.datetime(2026, 12, 31, tzinfo=UTC)
    assert partition.interval_end == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert partition.url_values() == {
        "date": "2026-12-31",
        "start": "2026-12-31",
        "end": "2027-01-01",
    }


def test_a_weekly_interval_fills_start_and_end_with_the_week() -> None:
    """Before, ``{end}`` was always the day after the logical date: a weekly source asked the
    site for one day of its week."""
    start = dt.datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    week = Partition("weekly", start.date(), start, start + dt.timedelta(days=7))
    assert week.url_values() == {"date": "2026-03-02", "start": "2026-03-02", "end": "2026-03-09"}


def test_the_partition_names_its_staged_uris_and_cache_key() -> None:
    partition = Partition("demo", dt.date(2026, 3, 14))
    assert partition.staged_uri("file:///s/", "validated") == (
        "file:///s/validated/demo/2026-03-14.parquet"
    )
    assert partition.cache_key == "demo:2026-03-14"


def test_cli_rejects_a_date_that_is_not_iso(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--source", "demo", "--date", "26.11.2026"])
    assert "'26.11.2026' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
