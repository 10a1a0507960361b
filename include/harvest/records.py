"""From raw pages to records: extract the detail pages of a partition and parse their fields.

``extract_records`` gives one row of raw strings per item (an item page, or a card that is the
item: its URL is the list page's with ``#card-N``), a ``many: true`` field's strings as one JSON
array; ``parse_records`` turns each
field into its typed column with the parser of the field kind the spec names
(:mod:`harvest.fields`), and lists every value it could not
parse (or a required value that is missing) as an issue with the reason, so nothing is lost.
Each distinct string is parsed once, which keeps a million records fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.fields import FieldKind, field_kind
from harvest.parsers import Unparseable
from harvest.storage.raw import RawDocument

META_COLUMNS = ["source", "logical_date", "url"]
ISSUE_COLUMNS = ["source", "logical_date", "url", "field", "check", "value", "reason"]


def _raw_string(value: object) -> str | None:
    """A stored field value as one string: a ``many: true`` list as its JSON array."""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False) if value else None
    return None if value is None else str(value)


def extract_records(docs: Iterable[RawDocument], spec: SourceSpec) -> pd.DataFrame:
    """One row per item: source, logical_date, url and each field's raw string; an item page
    gives one, a list page whose cards are the items one per card (``<url>#card-<n>``).

    Pages that failed to download (``error`` set and no fields) are not records; they stay in the
    raw store, counted as failed pages.
    """
    names = list(spec.detail.fields)
    rows: list[list[Any]] = []
    for doc in docs:
        for number, record in enumerate(doc.records, start=1):
            url = f"{doc.url}#card-{number}"
            rows.append(
                [doc.source, doc.logical_date, url, *(_raw_string(record.get(n)) for n in names)]
            )
        if doc.page_type != "detail" or (doc.error and not any(doc.fields.values())):
            continue
        rows.append(
            [
                doc.source,
                doc.logical_date,
                doc.url,
                *(_raw_string(doc.fields.get(n)) for n in names),
            ]
        )
    frame = pd.DataFrame(rows, columns=META_COLUMNS + names, dtype="object")
    return frame.astype({c: "string" for c in frame.columns})


@dataclass
class ParsedRecords:
    """Typed records, and one issue row per value that could not be used."""

    frame: pd.DataFrame
    issues: pd.DataFrame

    @property
    def bad_urls(self) -> set[str]:
        return set(self.issues["url"])


def parse_records(raw: pd.DataFrame, spec: SourceSpec) -> ParsedRecords:
    """Parse every field with its kind's parser into the kind's pandas dtype; a kind's extra
    columns are filled too (a price field ``rent`` also gets ``rent_currency``)."""
    out = raw[META_COLUMNS].copy()
    issues: list[pd.DataFrame] = []
    for name, field in spec.detail.fields.items():
        column = raw[name] if name in raw else pd.Series(pd.NA, index=raw.index, dtype="string")
        present = column.notna() & (column.str.strip() != "")
        kind = field_kind(field.column_kind)
        parse = _many_parser(field_kind(field.parser)) if field.many else kind.parse
        parsed = {value: parse(value) for value in pd.unique(column[present].to_numpy())}
        results = column.map(parsed)
        failed = present & results.map(lambda r: isinstance(r, Unparseable)).astype(bool)
        values = results.map(lambda r: None if isinstance(r, Unparseable) or r is None else r)
        usable = present & ~failed
        out[name] = _part(values, usable, kind.value).astype(kind.pandas_dtype)
        for extra in kind.extra_columns:
            out[extra.column(name)] = _part(values, usable, extra.value).astype(
                field_kind(extra.kind).pandas_dtype
            )
        if failed.any():
            reasons = results[failed].map(lambda r: r.reason)
            issues.append(
                _issues(raw[failed], name, f"parse:{field.parser}", column[failed], reasons)
            )
        if field.required:
            missing = ~present
            if missing.any():
                issues.append(
                    _issues(
                        raw[missing], name, "required", column[missing], "missing required field"
                    )
                )
    issue_frame = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame(columns=ISSUE_COLUMNS).astype("string")
    )
    return ParsedRecords(out, issue_frame)


def _many_parser(kind: FieldKind) -> Callable[[str], object]:
    """The parser of a ``many: true`` field: each string of its JSON array with ``kind``'s
    parser, the values back as a JSON array (dates as ISO text); the first failure is the reason."""

    def parse(text: str) -> object:
        values = []
        for item in json.loads(text):
            result = kind.parse(item)
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
