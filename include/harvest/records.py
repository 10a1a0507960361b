"""From raw pages to records: extract the detail pages of a partition and parse their fields.

``extract_records`` gives one row of raw strings per detail page, each string in its stored form
(:func:`harvest.text.normalise_text`: NFC, NUL removed, surrogates repaired -- the one place text
enters, so every later stage and both warehouses see the same text); ``parse_records`` turns each
field into its typed column with the parser of the field kind the spec names
(:mod:`harvest.fields`), and lists every value it could not
parse (or a required value that is missing) as an issue with the reason, so nothing is lost.
Each distinct string is parsed once, which keeps a million records fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.fields import field_kind
from harvest.parsers import Unparseable
from harvest.storage.raw import RawDocument
from harvest.text import TextRepairs, normalise_text

log = logging.getLogger(__name__)

META_COLUMNS = ["source", "logical_date", "url"]
ISSUE_COLUMNS = ["source", "logical_date", "url", "field", "check", "value", "reason"]


def extract_records(
    docs: Iterable[RawDocument], spec: SourceSpec, repairs: TextRepairs | None = None
) -> pd.DataFrame:
    """One row per fetched detail page: source, logical_date, url and each field's string, in
    its stored form (:func:`~harvest.text.normalise_text`). What normalising changed is counted
    in ``repairs``, and a NUL or a surrogate (never in a sound page) is logged as a warning.

    Pages that failed to download (``error`` set and no fields) are not records; they stay in the
    raw store, counted as failed pages.
    """
    names = list(spec.detail.fields)
    repairs = repairs if repairs is not None else TextRepairs()
    before = repairs.suspicious
    rows: list[list[Any]] = []
    for doc in docs:
        if doc.page_type != "detail" or (doc.error and not any(doc.fields.values())):
            continue
        values = (doc.fields.get(n) for n in names)
        rows.append(
            [
                doc.source,
                doc.logical_date,
                normalise_text(doc.url, repairs),
                *(v if v is None else normalise_text(v, repairs) for v in values),
            ]
        )
    if repairs.suspicious > before:
        log.warning(
            "text extracted for source %s: %s; the stored text differs from the page there",
            spec.name,
            repairs.describe(),
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
        kind = field_kind(field.parser)
        parsed = {value: kind.parse(value) for value in pd.unique(column[present].to_numpy())}
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
