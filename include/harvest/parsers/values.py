"""What parsers return: a value (:class:`Money`, :class:`Range`, or a plain one) or an
:class:`Unparseable` saying why."""

from __future__ import annotations

from dataclasses import dataclass

CACHE_SIZE = 65_536
"""Distinct strings whose parse result each parser keeps."""


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
    (ISO 4217, ``None`` when none is stated), the period (a key of :data:`harvest.parsers.numbers.PERIODS`, or ``None``)
    and the stated text (whitespace-collapsed)."""

    minimum: float
    maximum: float
    currency: str | None
    period: str | None
    text: str


def shown(text: str, width: int = 60) -> str:
    """``text`` for a reason: quoted, cut to ``width`` characters with its length said."""
    return repr(text) if len(text) <= width else f"{text[:width]!r}... ({len(text)} characters)"
