"""Numbers, prices, ranges, areas, whole numbers, yes/no words and text (see :mod:`harvest.parsers`)."""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from functools import lru_cache

from harvest.parsers.values import CACHE_SIZE, Money, Range, Unparseable, shown
from harvest.text import collapse_whitespace, yes_no

SQFT_TO_M2 = 0.09290304

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
    r"[Tt]housand|Tsd\.?|Tsd)(?![^\W\d_]|²)"  # not the start of a word: "Kč" is a currency
)
_MULTIPLIERS = {
    "k": 1e3, "thousand": 1e3, "tsd": 1e3, "m": 1e6, "mio": 1e6, "mil": 1e6, "mill": 1e6,
    "million": 1e6, "millions": 1e6, "mn": 1e6, "mrd": 1e9, "bn": 1e9, "billion": 1e9,
    "billions": 1e9,
}  # fmt: skip
# a minus right before the number, or before its currency ("-5", "- €5", "EUR -5", "-EUR 5")
_SIGN_BEFORE_RE = re.compile(r"-\s*(?:[^\w\s-]{1,3}|[A-Z]{3})?\s*$")
_FIRST_DIGIT_RE = re.compile(r"[.,]?\d")
# a number as written, separators, inner spaces and an exponent included ("1 234,56", "1e5")
_NUMBER_GROUP_RE = re.compile(r"\d(?:[\d.,'\s\u00a0\u202f]*\d)?(?:[eE][+-]?\d+)?")
_LETTER_RE = re.compile(r"[^\W\d_]")
# scientific notation right after a number ("1e999", "2.5E-3"), not inside a word
_EXPONENT_RE = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)[eE]([+-]?\d+)(?!\w)")
VULGAR_FRACTIONS = "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"
# a whole part (optional) and a vulgar fraction: "2½", "2 ½", "½"
_FRACTION_RE = re.compile(rf"(\d*)\s?([{VULGAR_FRACTIONS}])")
# what only a few texts have: an exponent or a vulgar fraction (one search for both)
_SPECIAL_RE = re.compile(rf"\d[eE][+-]?\d|[{VULGAR_FRACTIONS}]")
LARGEST_INT = 2**63 - 1
"""The largest whole number an ``int`` field holds (a 64-bit ``BIGINT`` column)."""
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
    """The signed amount in ``text`` with its multiplier applied; ``text`` is already collapsed.
    An amount that is no finite float (too large for 64 bits) is :class:`Unparseable`."""
    parts = _number_parts(text)
    if isinstance(parts, Unparseable):
        return parts
    value = parts[0] * parts[1]
    if not math.isfinite(value):
        return Unparseable(f"amount out of range (not a finite number): {shown(text)}")
    return value


def _exponent(text: str) -> float | None:
    """The value of a number in scientific notation in ``text`` (``1e999`` is inf), else None;
    price-parser reads only its mantissa."""
    match = _EXPONENT_RE.search(text)
    if match is None:
        return None
    try:
        return float(f"{match.group(1).replace(',', '.')}e{match.group(2)}")
    except OverflowError:
        return math.inf


def _fractions(text: str) -> str:
    """Vulgar fractions written as decimals (``2½`` -> ``2.5``), which price-parser drops."""

    def decimal(match: re.Match[str]) -> str:
        whole = int(match.group(1) or 0)
        return f"{whole + unicodedata.numeric(match.group(2)):g}"

    return _FRACTION_RE.sub(decimal, text)


def _number_parts(text: str) -> tuple[float, float] | Unparseable:
    """(signed amount, multiplier) of the first number in ``text`` (collapsed)."""
    text = text.translate(_MINUS_SIGNS).translate(_APOSTROPHES)
    special = _SPECIAL_RE.search(text) is not None
    if special:
        text = _fractions(text)
    first = _FIRST_DIGIT_RE.search(text)
    if first is None:
        return Unparseable(f"no number in {text[:60]!r}")
    if not first.group(0)[0].isdigit():  # ",89 €": no digit before the decimal separator
        text = f"{text[: first.start()]}0{text[first.start() :]}"
    sign = -1.0 if _SIGN_BEFORE_RE.search(text[: first.start()]) else 1.0
    scientific = _exponent(text) if special else None
    if scientific is not None:
        return sign * scientific, 1.0
    factor = 1.0
    multiplier = _MULTIPLIER_RE.search(text)
    if multiplier:
        factor = _MULTIPLIERS[multiplier.group("word").rstrip(".").lower()]
        text = text[: multiplier.start("word")] + " " + text[multiplier.end("word") :]
    amount = _library_amount(text.replace("'", ""))
    if amount is None:
        return Unparseable(f"no number in {text[:60]!r}")
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


def _currency_position(text: str) -> int | None:
    """Where the currency price-parser finds in ``text`` is written (its first character)."""
    found = _library_price(text)[1]
    if found and found in text:
        return text.index(found)
    code = _ISO_CODE_RE.search(text)
    if code and _is_currency(code.group(1)):
        return code.start()
    return None


def _amount_text(text: str) -> str:
    """``text`` with only the number next to its currency, when words separate it from other
    numbers (``2 Zimmer ab 1.250 €``: the count is blanked, the price kept); else ``text``.

    price-parser takes the first number of a text (its ``extract_price_text`` FIXME says the
    one next to the currency would be better, and it has no option for it), so this is ours.
    """
    if len(_NUMBER_GROUP_RE.findall(text, 0)) < 2:
        return text
    groups = list(_NUMBER_GROUP_RE.finditer(text))
    apart = any(_LETTER_RE.search(text[a.end() : b.start()]) for a, b in itertools.pairwise(groups))
    at = _currency_position(text) if apart else None
    if at is None:
        return text
    nearest = min(
        groups,
        key=lambda g: (
            0 if g.start() <= at < g.end() else min(abs(g.start() - at), abs(g.end() - at))
        ),
    )
    kept = list(text)
    for group in groups:
        if group is not nearest:
            kept[group.start() : group.end()] = " " * (group.end() - group.start())
    return "".join(kept)


@lru_cache(maxsize=512)
def _is_currency(code: str) -> bool:
    from price_parser._currencies import CURRENCY_CODES

    return code in CURRENCY_CODES


@lru_cache(maxsize=CACHE_SIZE)
def parse_price(text: str | None) -> Money | Unparseable:
    """``€1.250 / month``, ``1250 EUR``, ``R$ 1.250,00`` (BRL), ``$63K``, ``2 pairs from
    $349`` (the amount next to the currency) -> :class:`Money` as stated; no amount, no
    currency, a negative amount or one out of range -> :class:`Unparseable`."""
    cleaned = collapse_whitespace(text)
    if cleaned is None:
        return Unparseable("empty")
    number = _number(_amount_text(cleaned))
    if isinstance(number, Unparseable):
        if number.reason.startswith("amount out of range"):
            return number
        return Unparseable(f"no amount in price {shown(cleaned)}")
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
    """A whole number (``3 rooms``, ``-1``, ``2k``); ``2.5``, ``2½`` and numbers beyond 64 bits
    (:data:`LARGEST_INT`) -> :class:`Unparseable`."""
    number = parse_number(text)
    if isinstance(number, Unparseable):
        return number
    if number != int(number):
        return Unparseable(f"not a whole number: {number:g} in {shown(str(text))}")
    if abs(number) > LARGEST_INT:  # as a float, 2**63 - 1 rounds up to 2**63: refused
        return Unparseable(f"out of range for a 64-bit whole number: {shown(str(text))}")
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


def parse_text(text: str | None) -> str | Unparseable:
    """The text, trimmed, inner whitespace collapsed; blank -> :class:`Unparseable`."""
    cleaned = collapse_whitespace(text)
    return Unparseable("empty") if cleaned is None else cleaned
