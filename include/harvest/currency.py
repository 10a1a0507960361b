"""Currency conversion from a dated rates table the user provides (opt-in per field).

A price is always stored as stated (amount and currency); a field with ``convert_to: EUR`` also
gets ``<field>_eur``, converted with the rate of the partition's date from the spec's
``currency_rates`` CSV::

    date,from,to,rate
    2026-01-01,USD,EUR,0.86

``rate`` is how many ``to`` one ``from`` buys. The rate used for a date is the latest one dated on
or before it; the inverse pair is used when only that one is given. A currency with no rate is
not guessed: :meth:`RatesTable.convert` says why, and the record is quarantined with that reason.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from harvest.errors import HarvestError
from harvest.parsers import Unparseable

RATE_COLUMNS = ("date", "from", "to", "rate")


class RatesError(HarvestError, ValueError):
    """A rates file that cannot be used; names the file and the line."""

    retryable = False


@dataclass
class RatesTable:
    """Dated rates per currency pair, from :func:`load_rates`."""

    path: str
    rates: dict[tuple[str, str], tuple[list[dt.date], list[float]]] = field(default_factory=dict)

    def rate(self, source: str, target: str, day: dt.date) -> float | Unparseable:
        """Units of ``target`` per unit of ``source`` on ``day``, or why there is none."""
        if source == target:
            return 1.0
        for pair, invert in (((source, target), False), ((target, source), True)):
            dated = self.rates.get(pair)
            if dated is None:
                continue
            dates, values = dated
            index = bisect.bisect_right(dates, day) - 1
            if index < 0:
                return Unparseable(
                    f"no {source}->{target} rate on or before {day} in {self.path} "
                    f"(the first is dated {dates[0]})"
                )
            return 1.0 / values[index] if invert else values[index]
        return Unparseable(f"no {source}->{target} rate in {self.path}: cannot convert {source}")

    def convert(self, amount: float, source: str, target: str, day: dt.date) -> float | Unparseable:
        """``amount`` in ``source`` as ``target`` on ``day``, rounded to cents, or why not."""
        rate = self.rate(source, target, day)
        return rate if isinstance(rate, Unparseable) else round(amount * rate, 2)


def load_rates(path: Path | str) -> RatesTable:
    """Read a rates CSV (:data:`RATE_COLUMNS`); cached per file and modification time.

    Raises :class:`RatesError` naming the file (and line) when it is missing or malformed.
    """
    file = Path(path)
    try:
        modified = file.stat().st_mtime_ns
    except OSError as exc:
        raise RatesError(f"currency rates file {file}: cannot read it ({exc.strerror})") from exc
    return _load(str(file), modified)


@lru_cache(maxsize=8)
def _load(path: str, modified: int) -> RatesTable:
    table = RatesTable(path)
    rows: dict[tuple[str, str], list[tuple[dt.date, float]]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(RATE_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise RatesError(
                f"currency rates file {path}: missing column(s) {', '.join(sorted(missing))}; "
                f"expected {','.join(RATE_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat(row["date"].strip())
                rate = float(row["rate"])
            except (ValueError, AttributeError) as exc:
                raise RatesError(f"currency rates file {path}, line {line}: {exc}") from exc
            if not rate > 0:
                raise RatesError(f"currency rates file {path}, line {line}: rate must be > 0")
            pair = (row["from"].strip().upper(), row["to"].strip().upper())
            rows.setdefault(pair, []).append((day, rate))
    for pair, dated in rows.items():
        dated.sort()
        table.rates[pair] = ([d for d, _ in dated], [r for _, r in dated])
    return table
