"""Pure parsers from scraped strings to typed values, built on well-kept libraries.

Every parser takes any string (or ``None``) and returns either a value or an
:class:`Unparseable` that says why; none of them raises on bad input (a library error becomes
the reason). Source specs name a field kind per field (``parser: price``); :mod:`harvest.fields`
maps those names to these functions.

- amounts and currencies: ``price-parser`` (separators of every locale, currency symbols and
  codes), plus what it leaves out: the minus sign U+2212, typographic apostrophes as thousands
  separators, ``k``/``Mio.``/``bn`` multipliers, ISO codes for symbols (``R$`` is BRL), vulgar
  fractions (``2½`` is 2.5), exponents (``1e5``), and in a text with several numbers the amount
  next to the currency (``2 pairs from $349`` is 349: price-parser takes the first number, its
  own FIXME); an amount that is not a finite 64-bit float (``£`` and 400 nines, ``€ 1e999``),
  or a whole number beyond 64 bits, is refused with the reason;
- dates: ISO 8601 and ``dd.mm.yyyy`` directly, anything else through ``dateparser`` (month
  names in many languages, text around the date); ``formats`` pins the accepted formats, and
  ``date_order`` (dateparser's ``DATE_ORDER``) reads an all-numeric date whose order the text
  leaves open (``12.03.26``, ``03/04/2022``), which is refused without it;
- ranges (``$63K-$122K``, ``$50,000 - $70,000 a year``): a minimum, a maximum, the currency
  and the period when stated.

Results are memoised per distinct string (:data:`CACHE_SIZE`): scraped columns repeat values.
The values and :class:`Unparseable` are in :mod:`.values`, numbers, prices and ranges in
:mod:`.numbers`, dates in :mod:`.dates`.
"""

from __future__ import annotations

from harvest.parsers.dates import DATE_LANGUAGES, DATE_ORDERS, parse_date
from harvest.parsers.numbers import (
    CURRENCY_SYMBOLS,
    LARGEST_INT,
    PERIODS,
    SQFT_TO_M2,
    VULGAR_FRACTIONS,
    currency_code,
    parse_area,
    parse_bool,
    parse_float,
    parse_int,
    parse_number,
    parse_price,
    parse_range,
    parse_text,
)
from harvest.parsers.values import CACHE_SIZE, Money, Range, Unparseable

__all__ = [
    "CACHE_SIZE",
    "CURRENCY_SYMBOLS",
    "DATE_LANGUAGES",
    "DATE_ORDERS",
    "LARGEST_INT",
    "PERIODS",
    "SQFT_TO_M2",
    "VULGAR_FRACTIONS",
    "Money",
    "Range",
    "Unparseable",
    "currency_code",
    "parse_area",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_number",
    "parse_price",
    "parse_range",
    "parse_text",
]
