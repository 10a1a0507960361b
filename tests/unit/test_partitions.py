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


def test_partition_date_reads_dates_datetimes_and_iso_text() -> None:
    day = dt.date(2026, 11, 26)
    assert partition_date(day) == day
    assert partition_date(dt.datetime(2026, 11, 26, 23, 59, tzinfo=UTC)) == day
    assert partition_date("2026-11-26") == day
    assert partition_date("2026-11-26T00:00:00+00:00") == day


def test_cli_rejects_a_date_that_is_not_iso(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--source", "demo", "--date", "26.11.2026"])
    assert "'26.11.2026' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
