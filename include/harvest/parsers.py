"""Small pure parsers from scraped strings to typed values.

Every parser takes any string (or ``None``) and returns either a value or an
:class:`Unparseable` that says why; none of them raises on bad input. Source specs name a field
kind per field (``parser: price``); :mod:`harvest.fields` maps those names to these functions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from harvest.text import collapse_whitespace, yes_no

SQFT_TO_M2 = 0.09290304
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "CHF": "CHF"}
CURRENCY_CODES = {"EUR", "USD", "GBP", "CHF", "PLN", "CZK", "SEK"}
_NUMBER_RE = re.compile(r"[-+]?\d[\d\s.,'\u00a0\u202f]*")


@dataclass(frozen=True)
class Unparseable:
    """Why a string could not be parsed (kept, so the record can be quarantined with the reason)."""

    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str


def parse_number(text: str | None) -> float | Unparseable:
    """A number written with any of the usual thousands and decimal separators.

    ``1.250`` and ``1,250`` are thousands (three digits after a lone separator);
    ``1.250,50`` and ``1,250.50`` use the last separator as the decimal point.
    """
    text = collapse_whitespace(text)
    if text is None:
        return Unparseable("empty")
    match = _NUMBER_RE.search(text)
    if not match:
        return Unparseable(f"no number in {text[:60]!r}")
    raw = re.sub(r"[\s'\u00a0\u202f]", "", match.group(0)).rstrip(".,")
    sign = -1.0 if raw.startswith("-") else 1.0
    raw = raw.lstrip("+-")
    seps = [c for c in raw if c in ".,"]
    if seps:
        last = max(raw.rfind("."), raw.rfind(","))
        head, tail = raw[:last], raw[last + 1 :]
        if len(set(seps)) == 1 and len(seps) == 1 and len(tail) == 3:
            raw = head + tail  # a lone separator before three digits groups thousands
        elif len(set(seps)) == 1 and len(seps) > 1:
            raw = raw.replace(seps[0], "")  # 1.250.000
        else:
            raw = re.sub(r"[.,]", "", head) + "." + tail
    try:
        return sign * float(raw)
    except ValueError:
        return Unparseable(f"not a number: {match.group(0)!r}")


def parse_price(text: str | None) -> Money | Unparseable:
    """``€1.250 / month``, ``1250 EUR``, ``EUR 1,250.00`` -> Money; ``Price on request`` -> Unparseable."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    currency = None
    for symbol, code in CURRENCY_SYMBOLS.items():
        if symbol in cleaned:
            currency = code
            break
    if currency is None:
        codes = [c for c in re.findall(r"[A-Za-z]{3}", cleaned) if c.upper() in CURRENCY_CODES]
        currency = codes[0].upper() if codes else None
    number = parse_number(cleaned)
    if isinstance(number, Unparseable):
        return Unparseable(f"no amount in price {cleaned[:60]!r}")
    if currency is None:
        return Unparseable(f"no currency in price {cleaned[:60]!r}")
    if number < 0:
        return Unparseable(f"negative price {cleaned[:60]!r}")
    return Money(number, currency)


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
    number = parse_number(text)
    if isinstance(number, Unparseable):
        return number
    if number != int(number):
        return Unparseable(f"not a whole number: {number}")
    return int(number)


def parse_float(text: str | None) -> float | Unparseable:
    return parse_number(text)


def parse_bool(text: str | None) -> bool | Unparseable:
    """A yes/no word (:data:`harvest.text.TRUE_WORDS` / ``FALSE_WORDS``, any case)."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    answer = yes_no(cleaned)
    return Unparseable(f"not a yes/no value: {cleaned[:60]!r}") if answer is None else answer


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y")


def parse_date(text: str | None) -> dt.date | Unparseable:
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return Unparseable(f"not a date: {cleaned[:60]!r}")


def parse_text(text: str | None) -> str | Unparseable:
    cleaned = collapse_whitespace(text)
    return Unparseable("empty") if cleaned is None else cleaned
