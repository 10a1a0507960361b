"""From raw pages to records: extract the detail pages of a partition and parse their fields.

``extract_records`` gives one row of raw strings per item (an item page, or a card that is the
item: its URL is the list page's with ``#card-N``), a ``many: true`` field's strings as one JSON
array, each string in its stored form (:func:`harvest.text.normalise_text`: NFC, NUL removed,
surrogates repaired -- the one place text enters, so every later stage and both warehouses see the
same text); ``parse_records`` turns each
field into its typed column with the parser of the field kind the spec names
(:mod:`harvest.fields`) and the field's kind options (``formats``, ``languages``). A value that
does not parse follows the field's ``on_error``: ``quarantine`` lists it as an issue with the
reason (so the record is quarantined and nothing is lost), ``null`` leaves the field empty and
counts it per field (:attr:`ParsedRecords.nulled`). A required value that is missing is always
an issue. A price field with ``convert_to`` also gets its converted column from the spec's
dated rates table (:mod:`harvest.currency`); an amount that cannot be converted is an issue.
Each distinct string is parsed once, which keeps a million records fast.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.currency import load_rates
from harvest.fields import FieldKind, field_kind
from harvest.observation import item_url
from harvest.parsers import Money, Unparseable
from harvest.storage.raw import RawDocument
from harvest.text import TextRepairs, normalise_text

log = logging.getLogger(__name__)

META_COLUMNS = ["source", "logical_date", "url"]
ISSUE_COLUMNS = ["source", "logical_date", "url", "field", "check", "value", "reason"]


def _raw_string(value: object, repairs: TextRepairs) -> str | None:
    """A stored field value as one string in its stored form: a ``many: true`` list as its JSON
    array of normalised strings."""
    if isinstance(value, list):
        items = [normalise_text(str(v), repairs) for v in value]
        return json.dumps(items, ensure_ascii=False) if items else None
    return None if value is None else normalise_text(str(value), repairs)


def earliest_cards(docs: Iterable[RawDocument]) -> dict[tuple[str, int], dict[str, Any]]:
    """(URL of a document, number of a record in its ``records``; 0: its ``fields``) -> the
    values of the card that comes first among the ``earlier_cards`` naming that record."""
    first: dict[tuple[str, int], tuple[list[Any], dict[str, Any]]] = {}
    for doc in docs:
        for card in doc.earlier_cards:
            stored = (str(card["of"]), int(card["card"]))
            if stored not in first or list(card["at"]) < first[stored][0]:
                first[stored] = (list(card["at"]), card["fields"])
    return {stored: fields for stored, (_, fields) in first.items()}


def extract_records(
    docs: Iterable[RawDocument],
    spec: SourceSpec,
    repairs: TextRepairs | None = None,
    same_item: list[str] | None = None,
) -> pd.DataFrame:
    """One row per item: source, logical_date, url and each field's string, in its stored form
    (:func:`~harvest.text.normalise_text`); an item page gives one, a list page whose cards are
    the items one per card (``<url>#card-<n>``). What normalising changed is counted in
    ``repairs``, and a NUL or a surrogate (never in a sound page) is logged as a warning.

    Pages that failed to download (``error`` set and no fields) are not records; they stay in the
    raw store, counted as failed pages. An item page is identified by where it ended (its final
    URL, after redirects: the record's ``url``) and its key: pages of one item reached under
    several URLs give one record, the others are listed in ``same_item`` (``"<url> (ended at
    <final>, as <the URL kept> did)"``). :class:`RecordExtraction` gives the same rows in parts.

    Of several cards of one item, the record holds the values of the card that comes first in
    (level, list page URL, position) order, whichever the crawl met first: a record that a
    document's ``earlier_cards`` names takes the values of the first of them
    (:mod:`harvest.crawler.spiders.item_pages`).
    """
    docs = docs if isinstance(docs, list) else list(docs)
    extraction = RecordExtraction(spec, repairs, same_item, earlier=earliest_cards(docs))
    for doc in docs:
        extraction.add(doc)
    frame = extraction.take()
    extraction.finish()
    return frame


def item_identity_urls(docs: Iterable[RawDocument]) -> set[str]:
    """The record URLs (normalised) that two item pages of ``docs`` may share: those of the
    pages whose record URL is not the URL asked (a redirect, or text normalising changed it).
    Two pages asked under different URLs end at the same record URL only if one of them is
    such a page, so :class:`RecordExtraction` needs to remember only these."""
    scratch = TextRepairs()
    shared = set()
    for doc in docs:
        if doc.page_type == "detail" and not (doc.error and not any(doc.fields.values())):
            url = normalise_text(item_url(doc), scratch)
            if url != doc.url:
                shared.add(url)
    return shared


class RecordExtraction:
    """:func:`extract_records` fed one document at a time, its rows taken in parts.

    ``shared`` (:func:`item_identity_urls` of the same documents): remember only the item pages
    at these record URLs (default: every one, as :func:`extract_records` does); ``earlier``:
    :func:`earliest_cards` of the same documents. A row taken
    already that a later page of the same item replaces is in :attr:`replaced` (its position in
    the partition -> the new row) for the caller to apply to its part."""

    def __init__(
        self,
        spec: SourceSpec,
        repairs: TextRepairs | None = None,
        same_item: list[str] | None = None,
        shared: set[str] | None = None,
        earlier: dict[tuple[str, int], dict[str, Any]] | None = None,
    ) -> None:
        self.spec, self.names = spec, list(spec.detail.fields)
        self.earlier = earlier or {}
        self.repairs = repairs if repairs is not None else TextRepairs()
        self.same_item, self.shared = same_item, shared
        self.key_at = len(META_COLUMNS) + self.names.index(spec.detail.key)
        self.rows: list[list[Any]] = []  # not taken yet; rows[0] is row ``start`` of the partition
        self.start = 0
        self.replaced: dict[int, list[Any]] = {}
        self._items: dict[tuple[str, str | None], tuple[int, str]] = {}  # -> (row, asked)
        self._suspicious = self.repairs.suspicious

    def add(self, doc: RawDocument) -> None:
        """The rows of one document (its cards, its item)."""
        repairs, names, earlier = self.repairs, self.names, self.earlier
        for number, record in enumerate(doc.records, start=1):
            record = earlier.get((doc.url, number), record)
            url = normalise_text(f"{doc.url}#card-{number}", repairs)
            self.rows.append(
                [
                    doc.source,
                    doc.logical_date,
                    url,
                    *(_raw_string(record.get(n), repairs) for n in names),
                ]
            )
        if doc.page_type != "detail" or (doc.error and not any(doc.fields.values())):
            return
        url = normalise_text(item_url(doc), repairs)
        fields = earlier.get((doc.url, 0), doc.fields)
        row = [
            doc.source,
            doc.logical_date,
            url,
            *(_raw_string(fields.get(n), repairs) for n in names),
        ]
        if self.shared is not None and url not in self.shared:
            self.rows.append(row)
            return
        identity = (url, row[self.key_at])
        if identity not in self._items:
            self._items[identity] = (self.start + len(self.rows), doc.url)
            self.rows.append(row)
            return
        # one item reached under two URLs (/x/ redirecting to /x, both linked): one record,
        # the one asked for at its own URL (else the first URL in order)
        at, asked = self._items[identity]
        if doc.url == url or (asked != url and doc.url < asked):
            if at >= self.start:
                self.rows[at - self.start] = row
            else:
                self.replaced[at] = row
            asked, dropped = doc.url, asked
            self._items[identity] = (at, asked)
        else:
            dropped = doc.url
        if self.same_item is not None:
            self.same_item.append(f"{dropped} (ended at {url}, as {asked} did)")

    def take(self, rows: int | None = None) -> pd.DataFrame:
        """The first ``rows`` rows not taken yet (default: all) as a frame of strings."""
        count = len(self.rows) if rows is None else min(rows, len(self.rows))
        taken, self.rows = self.rows[:count], self.rows[count:]
        self.start += count
        return rows_frame(taken, self.names)

    def finish(self) -> None:
        """Log a warning when normalising met a NUL or a surrogate (never in a sound page)."""
        if self.repairs.suspicious > self._suspicious:
            log.warning(
                "text extracted for source %s: %s; the stored text differs from the page there",
                self.spec.name,
                self.repairs.describe(),
            )


def rows_frame(rows: list[list[Any]], names: list[str]) -> pd.DataFrame:
    """Extracted rows (``META_COLUMNS`` then the fields ``names``) as a frame of strings."""
    frame = pd.DataFrame(rows, columns=META_COLUMNS + names, dtype="object")
    return frame.astype({c: "string" for c in frame.columns})


@dataclass
class NulledValues:
    """Values of one field that did not parse and were set to null (``on_error: null``)."""

    count: int
    example: str
    reason: str


@dataclass
class ParsedRecords:
    """Typed records, one issue row per value that could not be used, and per field the values
    set to null instead (``on_error: null``)."""

    frame: pd.DataFrame
    issues: pd.DataFrame
    nulled: dict[str, NulledValues] = field(default_factory=dict)

    @property
    def bad_urls(self) -> set[str]:
        return set(self.issues["url"])


def parse_records(raw: pd.DataFrame, spec: SourceSpec) -> ParsedRecords:
    """Parse every field with its kind's parser into the kind's pandas dtype; a kind's extra
    columns are filled too (a price field ``rent`` also gets ``rent_currency``, and ``rent_eur``
    with ``convert_to: EUR``). See the module docstring for failures."""
    out = raw[META_COLUMNS].copy()
    issues: list[pd.DataFrame] = []
    nulled: dict[str, NulledValues] = {}
    for name, field_spec in spec.detail.fields.items():
        column = raw[name] if name in raw else pd.Series(pd.NA, index=raw.index, dtype="string")
        present = column.notna() & (column.str.strip() != "")
        kind = field_kind(field_spec.stored_kind)
        element_kind = field_kind(field_spec.kind)
        element_parse = element_kind.parser(**field_spec.kind_options)
        parse = _many_parser(element_kind, element_parse) if field_spec.many else element_parse
        parsed = {value: parse(value) for value in pd.unique(column[present].to_numpy())}
        results = column.map(parsed)
        failed = present & results.map(lambda r: isinstance(r, Unparseable)).astype(bool)
        values = results.map(lambda r: None if isinstance(r, Unparseable) or r is None else r)
        usable = present & ~failed
        out[name] = _part(values, usable, kind.value).astype(kind.pandas_dtype)
        for extra in kind.extra_columns:
            if extra.value is not None:
                out[extra.column(name)] = _part(values, usable, extra.value).astype(
                    field_kind(extra.kind).pandas_dtype
                )
        if failed.any():
            reasons = results[failed].map(lambda r: r.reason)
            if field_spec.error_policy == "quarantine":
                issues.append(
                    _issues(raw[failed], name, f"parse:{field_spec.kind}", column[failed], reasons)
                )
            else:
                first = failed.idxmax()
                nulled[name] = NulledValues(
                    int(failed.sum()), str(column[first]), str(reasons[first])
                )
        if field_spec.required:
            missing = ~present
            if missing.any():
                issues.append(
                    _issues(
                        raw[missing], name, "required", column[missing], "missing required field"
                    )
                )
        if field_spec.convert_to is not None:
            issues.extend(_convert(raw, out, name, field_spec, values.where(usable, None), spec))
    issue_frame = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame(columns=ISSUE_COLUMNS).astype("string")
    )
    return ParsedRecords(out, issue_frame, nulled)


def _convert(
    raw: pd.DataFrame,
    out: pd.DataFrame,
    name: str,
    field_spec: FieldSpec,
    values: pd.Series,
    spec: SourceSpec,
) -> list[pd.DataFrame]:
    """Fill ``<name>_<currency>`` with each stated amount converted on its record's date; the
    amounts that cannot be converted become ``convert:<currency>`` issues."""
    target = str(field_spec.convert_to)
    column = str(field_spec.converted_column(name))
    table = load_rates(str(spec.currency_rates))
    days = pd.to_datetime(raw["logical_date"], errors="coerce").dt.date
    converted: dict[tuple[float, str, dt.date], float | Unparseable] = {}
    results: list[float | Unparseable | None] = []
    for money, day in zip(values, days, strict=True):
        if not isinstance(money, Money) or not isinstance(day, dt.date):
            results.append(None)
            continue
        key = (money.amount, money.currency, day)
        if key not in converted:
            converted[key] = table.convert(money.amount, money.currency, target, day)
        results.append(converted[key])
    series = pd.Series(results, index=raw.index, dtype="object")
    failed = series.map(lambda r: isinstance(r, Unparseable)).astype(bool)
    out[column] = series.where(~failed, None).astype("Float64")
    if not failed.any():
        return []
    reasons = series[failed].map(lambda r: r.reason)
    return [_issues(raw[failed], name, f"convert:{target}", raw[name][failed], reasons)]


def _many_parser(kind: FieldKind, element_parse: Callable[[str], Any]) -> Callable[[str], object]:
    """The parser of a ``many: true`` field: each string of its JSON array with
    ``element_parse`` (``kind``'s parser with the field's options), the values back as a JSON
    array (dates as ISO text); the first failure is the reason."""

    def parse(text: str) -> object:
        values = []
        for item in json.loads(text):
            result = element_parse(item)
            if isinstance(result, Unparseable):
                return Unparseable(f"{item!r}: {result.reason}")
            value = kind.value(result) if kind.value is not None else result
            values.append(value.isoformat() if hasattr(value, "isoformat") else value)
        return json.dumps(values, ensure_ascii=False)

    return parse


def _part(values: pd.Series, usable: pd.Series, part: Callable[[Any], object] | None) -> pd.Series:
    """``part`` of each usable parsed value (``None`` elsewhere); the values themselves without one."""
    if part is None:
        return values
    return values.where(usable, None).map(lambda v: None if v is None else part(v))


def _issues(
    rows: pd.DataFrame, field: str, check: str, values: pd.Series, reason: pd.Series | str
) -> pd.DataFrame:
    frame = rows[META_COLUMNS].copy()
    frame["field"] = field
    frame["check"] = check
    frame["value"] = values.astype("string")
    frame["reason"] = reason
    return frame[ISSUE_COLUMNS].astype("string")
