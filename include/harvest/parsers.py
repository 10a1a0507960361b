"""Pure parsers from scraped strings to typed values, built on well-kept libraries.

Every parser takes any string (or ``None``) and returns either a value or an
:class:`Unparseable` that says why; none of them raises on bad input (a library error becomes
the reason). Source specs name a field kind per field (``parser: price``); :mod:`harvest.fields`
maps those names to these functions.

- amounts and currencies: ``price-parser`` (separators of every locale, currency symbols and
  codes), plus what it leaves out: the minus sign U+2212, typographic apostrophes as thousands
  separators, ``k``/``Mio.``/``bn`` multipliers, and ISO codes for symbols (``R$`` is BRL);
- dates: ISO 8601 and ``dd.mm.yyyy`` directly, anything else through ``dateparser`` (month
  names in many languages, text around the date); ``formats`` pins the accepted formats;
- ranges (``$63K-$122K``, ``$50,000 - $70,000 a year``): a minimum, a maximum, the currency
  and the period when stated.

Results are memoised per distinct string (:data:`CACHE_SIZE`): scraped columns repeat values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harvest.text import collapse_whitespace, yes_no

SQFT_TO_M2 = 0.09290304
CACHE_SIZE = 65_536
"""Distinct strings whose parse result each parser keeps."""

# ISO 4217 codes of the symbols and local spellings price-parser reports as written; the longest
# symbols first, so "R$" is BRL before "$" is USD.
CURRENCY_SYMBOLS: dict[str, str] = {
    "R$": "BRL", "US$": "USD", "A$": "AUD", "AU$": "AUD", "C$": "CAD", "CA$": "CAD",
    "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "MX$": "MXN", "Kč": "CZK", "zł": "PLN",
    "kr.": "DKK", "Fr.": "CHF", "SFr.": "CHF", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR",
    "₽": "RUB", "₩": "KRW", "₺": "TRY", "₪": "ILS", "₴": "UAH", "₱": "PHP", "₫": "VND",
    "฿": "THB", "$": "USD", "Euro": "EUR", "euro": "EUR", "euros": "EUR",
}  # fmt: skip
_ISO_CODE_RE = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-"})
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2032": "'", "`": "'"})
# a multiplier right after a number: "1.2k", "$63K", "1,5 Mio.", "3 million", "2bn"
_MULTIPLIER_RE = re.compile(
    r"(?P<number>\d[\d.,'\s\u00a0\u202f]*?)\s?"
    r"(?P<word>k|K|M(?![²2a-zA-Z])|Mio\.?|Mill?\.?|[Mm]illions?|mn|Mrd\.?|bn|[Bb]illions?|"
    r"[Tt]housand|Tsd\.?|Tsd)(?![A-Za-z²])"
)
_MULTIPLIERS = {
    "k": 1e3, "thousand": 1e3, "tsd": 1e3, "m": 1e6, "mio": 1e6, "mil": 1e6, "mill": 1e6,
    "million": 1e6, "millions": 1e6, "mn": 1e6, "mrd": 1e9, "bn": 1e9, "billion": 1e9,
    "billions": 1e9,
}  # fmt: skip
# a minus right before the number, or before its currency ("-5", "- €5", "EUR -5", "-EUR 5")
_SIGN_BEFORE_RE = re.compile(r"-\s*(?:[^\w\s-]{1,3}|[A-Z]{3})?\s*$")
_FIRST_DIGIT_RE = re.compile(r"[.,]?\d")
_DIGIT_RE = re.compile(r"\d")
# a range: two amounts joined by a dash (en dashes are made hyphens first), an em dash or "to";
# the dash may be spaced ("50,000 - 70,000")
_RANGE_SPLIT_RE = re.compile(
    r"(?<=[\dkKM.€$£)])\s*(?:-|\u2014|\bto\b|\bbis\b|\bà\b)\s*(?=\D{0,4}\d)"
)
PERIODS: dict[str, tuple[str, ...]] = {
    "hour": ("hour", "hr", "hourly", "stunde", "std"),
    "day": ("day", "daily", "tag"),
    "week": ("week", "wk", "weekly", "woche"),
    "month": ("month", "mo", "monthly", "monat", "mois", "mes", "pcm"),
    "year": ("year", "yr", "annum", "annually", "annual", "jahr", "an", "año", "pa", "p.a"),
}
"""The periods a range or a price may state, and the words that say them (any case)."""
_PERIOD_RE = re.compile(
    r"(?:\b(?:a|an|per|pro|par|por|je)\s+|/\s*|\bp\.?\s?)("
    + "|".join(sorted({re.escape(w) for ws in PERIODS.values() for w in ws}, key=len, reverse=True))
    + r")\b\.?",
    re.IGNORECASE,
)
_PERIOD_ADVERBS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month",
                   "annually": "year", "yearly": "year"}  # fmt: skip
_PERIOD_ADVERB_RE = re.compile(r"\b(" + "|".join(_PERIOD_ADVERBS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Unparseable:
    """Why a string could not be parsed (kept, so the record can be quarantined with the reason)."""

    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Money:
    """An amount as stated on the page, in its ISO 4217 currency (never converted here)."""

    amount: float
    currency: str


@dataclass(frozen=True)
class Range:
    """A stated range: ``minimum``/``maximum`` amounts (equal for a single value), the currency
    (ISO 4217, ``None`` when none is stated), the period (a key of :data:`PERIODS`, or ``None``)
    and the stated text (whitespace-collapsed)."""

    minimum: float
    maximum: float
    currency: str | None
    period: str | None
    text: str


@lru_cache(maxsize=256)
def _library_price(text: str) -> tuple[float | None, str | None]:
    """(amount, currency as written) that price-parser finds in ``text``; kept for the next
    call, which for a price is the currency of the same text."""
    from price_parser import Price

    try:
        price = Price.fromstring(text)
        return price.amount_float, price.currency
    except (ValueError, ArithmeticError):
        return None, None


def _library_amount(text: str) -> float | None:
    """The amount price-parser finds in ``text`` (its sign and multiplier not applied)."""
    return _library_price(text)[0]


def _number(text: str) -> float | Unparseable:
    """The signed amount in ``text`` with its multiplier applied; ``text`` is already collapsed."""
    parts = _number_parts(text)
    return parts if isinstance(parts, Unparseable) else parts[0] * parts[1]


def _number_parts(text: str) -> tuple[float, float] | Unparseable:
    """(signed amount, multiplier) of the first number in ``text`` (collapsed)."""
    text = text.translate(_MINUS_SIGNS).translate(_APOSTROPHES)
    first = _FIRST_DIGIT_RE.search(text)
    if first is None:
        return Unparseable(f"no number in {text[:60]!r}")
    if not first.group(0)[0].isdigit():  # ",89 €": no digit before the decimal separator
        text = f"{text[: first.start()]}0{text[first.start() :]}"
    factor = 1.0
    multiplier = _MULTIPLIER_RE.search(text)
    if multiplier:
        factor = _MULTIPLIERS[multiplier.group("word").rstrip(".").lower()]
        text = text[: multiplier.start("word")] + " " + text[multiplier.end("word") :]
    amount = _library_amount(text.replace("'", ""))
    if amount is None:
        return Unparseable(f"no number in {text[:60]!r}")
    sign = -1.0 if _SIGN_BEFORE_RE.search(text[: first.start()]) else 1.0
    return sign * amount, factor


@lru_cache(maxsize=CACHE_SIZE)
def parse_number(text: str | None) -> float | Unparseable:
    r"""A number written with any locale's separators, a sign and a multiplier: ``,89 €`` is
    0.89, ``CHF 1\u2019250.00`` 1250, ``\u22121`` -1, ``€1.2k`` 1200, ``1,5 Mio. €`` 1500000.

    A lone separator before exactly three digits groups thousands (``1.250`` is 1250).
    """
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    return _number(cleaned)


def currency_code(text: str) -> str | None:
    """The ISO 4217 code a price text states: by symbol (:data:`CURRENCY_SYMBOLS`, ``R$`` is
    BRL) or as a three-letter code; ``None`` when it states none."""
    found = _library_price(text)[1]
    for candidate in (found, text):
        if not candidate:
            continue
        code = _ISO_CODE_RE.search(candidate)
        if code and _is_currency(code.group(1)):
            return code.group(1)
        for symbol, iso in CURRENCY_SYMBOLS.items():
            if symbol in candidate:
                return iso
    return None


@lru_cache(maxsize=512)
def _is_currency(code: str) -> bool:
    from price_parser._currencies import CURRENCY_CODES

    return code in CURRENCY_CODES


@lru_cache(maxsize=CACHE_SIZE)
def parse_price(text: str | None) -> Money | Unparseable:
    """``€1.250 / month``, ``1250 EUR``, ``R$ 1.250,00`` (BRL), ``$63K`` -> :class:`Money` as
    stated; no amount, no currency or a negative amount -> :class:`Unparseable`."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    number = _number(cleaned)
    if isinstance(number, Unparseable):
        return Unparseable(f"no amount in price {cleaned[:60]!r}")
    currency = currency_code(cleaned)
    if currency is None:
        return Unparseable(f"no currency in price {cleaned[:60]!r}")
    if number < 0:
        return Unparseable(f"negative price {cleaned[:60]!r}")
    return Money(number, currency)


def _period(text: str) -> str | None:
    match = _PERIOD_RE.search(text)
    if match:
        word = match.group(1).lower().rstrip(".")
        for period, words in PERIODS.items():
            if word in words:
                return period
    adverb = _PERIOD_ADVERB_RE.search(text)
    return _PERIOD_ADVERBS[adverb.group(1).lower()] if adverb else None


@lru_cache(maxsize=CACHE_SIZE)
def parse_range(text: str | None) -> Range | Unparseable:
    """``$63K-$122K`` -> 63000 to 122000 USD; ``$50,000 - $70,000 a year`` adds the period
    ``year``; a single amount is a range of one value. The currency is optional."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    ascii_text = cleaned.translate(_MINUS_SIGNS)
    parts = _RANGE_SPLIT_RE.split(ascii_text, maxsplit=1)
    numbers = [n for n in (_number(part) for part in parts) if not isinstance(n, Unparseable)]
    if len(numbers) != len(parts):
        return Unparseable(f"no amount in range {cleaned[:60]!r}")
    low, high = numbers[0], numbers[-1]
    if len(parts) == 2:
        first, second = _number_parts(parts[0]), _number_parts(parts[1])
        if (
            not isinstance(first, Unparseable)
            and not isinstance(second, Unparseable)
            and first[1] == 1.0
            and second[1] != 1.0
            and first[0] * second[1] <= high
        ):
            low = first[0] * second[1]  # "63-122K": a multiplier written once applies to both
    if high < low:
        return Unparseable(f"range {cleaned[:60]!r} ends below its start")
    return Range(low, high, currency_code(cleaned), _period(cleaned), cleaned)


def parse_area(text: str | None) -> float | Unparseable:
    """An area in m² (``54 m²``, ``54 m2``, ``54 sqm``) or square feet (``581 sq ft``), in m²."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    number = parse_number(cleaned)
    if isinstance(number, Unparseable):
        return Unparseable(f"no number in area {cleaned[:60]!r}")
    lowered = cleaned.lower()
    if re.search(r"sq\.?\s*f(ee)?t|ft²|ft2|square feet", lowered):
        return round(number * SQFT_TO_M2, 2)
    if re.search(r"m²|m2|sqm|sq\.?\s*m|square met", lowered) or re.fullmatch(r"[\d\s.,]+", cleaned):
        return number
    return Unparseable(f"unknown area unit in {cleaned[:60]!r}")


def parse_int(text: str | None) -> int | Unparseable:
    """A whole number (``3 rooms``, ``-1``, ``2k``); ``2.5`` -> :class:`Unparseable`."""
    number = parse_number(text)
    if isinstance(number, Unparseable):
        return number
    if number != int(number):
        return Unparseable(f"not a whole number: {number}")
    return int(number)


def parse_float(text: str | None) -> float | Unparseable:
    """Same as :func:`parse_number`."""
    return parse_number(text)


def parse_bool(text: str | None) -> bool | Unparseable:
    """A yes/no word (:data:`harvest.text.TRUE_WORDS` / ``FALSE_WORDS``, any case)."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    answer = yes_no(cleaned)
    return Unparseable(f"not a yes/no value: {cleaned[:60]!r}") if answer is None else answer


DATE_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
"""Languages dates are read in when a field names none (``languages:`` in the spec): every
language dateparser knows costs seconds to load and tens of milliseconds per unknown string."""
_MONTH_NAME_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y")
_DOTTED_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
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
) -> dt.date | Unparseable:
    """A calendar date: ISO 8601 (``2026-04-01``, ``2026-04-01T00:00:00Z``), ``12.03.2026``, or
    what ``dateparser`` reads (``Apr 24, 2022``, ``24 April 2022``, ``Published on 24 April
    2022``, ``24. März 2022``), in ``languages`` (ISO 639-1 codes; :data:`DATE_LANGUAGES` by
    default). A date needs a day, a month and a year; relative dates (``yesterday``) are refused.

    ``formats`` (``strftime`` patterns, e.g. ``["%d/%m/%Y"]``) pins the accepted formats: the
    text must match one of them exactly, which settles an ambiguous ``03/04/2022``.
    """
    return _parse_date(
        text, tuple(formats) if formats else None, tuple(languages) if languages else None
    )


@lru_cache(maxsize=CACHE_SIZE)
def _parse_date(
    text: str | None, formats: tuple[str, ...] | None, languages: tuple[str, ...] | None
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
    if dotted:
        day, month, year = (int(g) for g in dotted.groups())
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            return Unparseable(f"not a date: {cleaned[:60]!r} ({exc})")
    if not _DIGIT_RE.search(cleaned):
        return Unparseable(f"not a date: {cleaned[:60]!r} (no day or year in it)")
    return _dateparser_date(cleaned, languages or DATE_LANGUAGES)


def _dateparser_date(cleaned: str, languages: tuple[str, ...]) -> dt.date | Unparseable:
    import dateparser
    from dateparser.search import search_dates

    langs = list(languages)
    try:
        found = dateparser.parse(cleaned, languages=langs, settings=_DATEPARSER_SETTINGS)
        if found is None:
            # the date inside a longer text ("Published on 24 April 2022"): the one date in it
            matches = search_dates(cleaned, languages=langs, settings=_DATEPARSER_SETTINGS)
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


def parse_text(text: str | None) -> str | Unparseable:
    """The text, trimmed, inner whitespace collapsed; blank -> :class:`Unparseable`."""
    cleaned = collapse_whitespace(text)
    return Unparseable("empty") if cleaned is None else cleaned
