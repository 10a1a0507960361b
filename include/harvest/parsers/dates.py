"""Dates: ISO 8601, ``dd.mm.yyyy``, month names, and ``dateparser`` for the rest (see
:mod:`harvest.parsers`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from harvest.parsers.values import CACHE_SIZE, Unparseable
from harvest.text import collapse_whitespace

_DIGIT_RE = re.compile(r"\d")
DATE_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
"""Languages dates are read in when a field names none (``languages:`` in the spec): every
language dateparser knows costs seconds to load and tens of milliseconds per unknown string."""
_MONTH_NAME_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y")
_DOTTED_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
# an all-numeric date: three numbers joined by one separator ("12.03.26", "03/04/2022")
_NUMERIC_DATE_RE = re.compile(r"(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})")
DATE_ORDERS = ("DMY", "MDY", "YMD")
"""The orders ``date_order`` accepts (dateparser's ``DATE_ORDER``)."""
# Deterministic dateparser settings: no relative dates ("yesterday" would depend on the clock)
# and no partial dates ("April 2022" would take today's day).
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "PARSERS": ["absolute-time", "custom-formats"],
    "REQUIRE_PARTS": ["day", "month", "year"],
    "RETURN_AS_TIMEZONE_AWARE": False,
}


def parse_date(
    text: str | None,
    formats: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    date_order: str | None = None,
) -> dt.date | Unparseable:
    """A calendar date: ISO 8601 (``2026-04-01``, ``2026-04-01T00:00:00Z``), ``12.03.2026``, or
    what ``dateparser`` reads (``Apr 24, 2022``, ``24 April 2022``, ``Published on 24 April
    2022``, ``24. März 2022``), in ``languages`` (ISO 639-1 codes; :data:`DATE_LANGUAGES` by
    default). A date needs a day, a month and a year; relative dates (``yesterday``) are refused.

    ``formats`` (``strftime`` patterns, e.g. ``["%d/%m/%Y"]``) pins the accepted formats: the
    text must match one of them exactly. ``date_order`` (``DMY``, ``MDY`` or ``YMD``, passed to
    dateparser as ``DATE_ORDER``) says how a source writes all-numeric dates; without it such a
    date that reads as more than one (``12.03.26``: 12 March 2026 or 26 March 2012;
    ``03/04/2022``) is :class:`Unparseable`, naming the readings and the option.
    """
    if date_order is not None and date_order not in DATE_ORDERS:
        return Unparseable(f"date_order {date_order!r} is none of {', '.join(DATE_ORDERS)}")
    return _parse_date(
        text,
        tuple(formats) if formats else None,
        tuple(languages) if languages else None,
        date_order,
    )


@lru_cache(maxsize=CACHE_SIZE)
def _parse_date(
    text: str | None,
    formats: tuple[str, ...] | None,
    languages: tuple[str, ...] | None,
    date_order: str | None = None,
) -> dt.date | Unparseable:
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    if formats:
        for fmt in formats:
            try:
                return dt.datetime.strptime(cleaned, fmt).date()
            except ValueError:
                continue
        return Unparseable(f"{cleaned[:60]!r} matches none of the formats {list(formats)}")
    try:
        return dt.datetime.fromisoformat(cleaned).date()
    except ValueError:
        pass
    for fmt in _MONTH_NAME_FORMATS:  # unambiguous, and 50x faster than dateparser
        try:
            return dt.datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    dotted = _DOTTED_RE.fullmatch(cleaned)
    if dotted and date_order in (None, "DMY"):  # dots and a 4-digit year: day first
        day, month, year = (int(g) for g in dotted.groups())
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            return Unparseable(f"not a date: {cleaned[:60]!r} ({exc})")
    numeric = _NUMERIC_DATE_RE.fullmatch(cleaned)
    if numeric and date_order is None:
        readings = _numeric_readings(numeric.group(1), numeric.group(3), numeric.group(4))
        if len(set(readings.values())) > 1:
            said = ", ".join(f"{d.isoformat()} ({order})" for order, d in readings.items())
            return Unparseable(
                f"ambiguous date {cleaned!r}: it reads as {said}; set the field's date_order "
                f"({', '.join(DATE_ORDERS)}) or formats in the spec"
            )
        if readings:
            return next(iter(readings.values()))
    if not _DIGIT_RE.search(cleaned):
        return Unparseable(f"not a date: {cleaned[:60]!r} (no day or year in it)")
    return _dateparser_date(cleaned, languages or DATE_LANGUAGES, date_order)


def _numeric_readings(first: str, second: str, third: str) -> dict[str, dt.date]:
    """The dates three numbers can be, by order (:data:`DATE_ORDERS`); a 4-digit number is only
    ever the year, a 2-digit year is read as ``strptime``'s ``%y`` (69-99: 1900s)."""
    parts = (first, second, third)
    readings: dict[str, dt.date] = {}
    for order in DATE_ORDERS:
        values = dict(zip(order, parts, strict=True))
        if any(len(v) > 2 for k, v in values.items() if k != "Y") or len(values["Y"]) == 3:
            continue
        year = int(values["Y"])
        if len(values["Y"]) <= 2:
            year += 1900 if year >= 69 else 2000
        try:
            readings[order] = dt.date(year, int(values["M"]), int(values["D"]))
        except ValueError:
            continue
    return readings


def _dateparser_date(
    cleaned: str, languages: tuple[str, ...], date_order: str | None = None
) -> dt.date | Unparseable:
    import dateparser
    from dateparser.search import search_dates

    langs = list(languages)
    settings = _DATEPARSER_SETTINGS
    if date_order is not None:
        settings = {**settings, "DATE_ORDER": date_order}
    try:
        found = dateparser.parse(cleaned, languages=langs, settings=settings)
        if found is None:
            # the date inside a longer text ("Published on 24 April 2022"): the one date in it
            matches = search_dates(cleaned, languages=langs, settings=settings)
            dates = {m[1].date() for m in matches or []}
            if len(dates) > 1:
                return Unparseable(f"more than one date in {cleaned[:60]!r}")
            found = matches[0][1] if matches else None
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        return Unparseable(f"not a date: {cleaned[:60]!r} ({exc})")
    if found is None:
        return Unparseable(f"not a date: {cleaned[:60]!r}")
    day: dt.date = found.date()  # dateparser is unannotated: `found` is a datetime
    return day
