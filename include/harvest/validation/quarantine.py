"""Quarantine rows: one per failed check of a record, with the raw value and a reason a person reads.

A record lands here when it could not be parsed (``parse:<parser>``, ``required``) or when a
record-level check rejected it (``range``, ``values``, ``regex``, ``unique``); the valid records
are the others. Columns: :data:`QUARANTINE_COLUMNS` (all strings), one row per (url, field, check).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from harvest.canonical import canonical_series
from harvest.config.spec import SourceSpec
from harvest.records import ISSUE_COLUMNS
from harvest.validation.gx import Check

QUARANTINE_COLUMNS = [*ISSUE_COLUMNS, "severity"]


def quarantine_rows(
    check: Check,
    positions: np.ndarray,
    typed: pd.DataFrame,
    raw: pd.DataFrame,
    source: str,
    day: dt.date,
) -> pd.DataFrame:
    """Quarantine rows for the records at ``positions`` that ``check`` rejected; ``typed`` (parsed)
    and ``raw`` (as extracted) are indexed the same way as the frame the check ran on."""
    name = str(check.field)
    parsed = typed[str(check.column or name)].iloc[positions]
    rows = typed[["url"]].iloc[positions].reset_index(drop=True)
    rows.insert(0, "logical_date", day.isoformat())
    rows.insert(0, "source", source)
    rows["field"] = name
    rows["check"] = check.check
    raw_values = raw[name].iloc[positions] if name in raw else parsed
    rows["value"] = raw_values.astype("string").to_numpy()
    rows["reason"] = _reasons(check, parsed, typed)
    rows["severity"] = check.severity
    return rows


def _reasons(check: Check, parsed: pd.Series, typed: pd.DataFrame) -> np.ndarray:
    name = check.column if check.check == "range" else check.field
    text = parsed.astype("string").fillna("<missing>").to_numpy(dtype=object)
    if check.check == "range":
        low, high = check.min_value, check.max_value
        numbers = parsed.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        side = np.where(
            (low is not None) & (numbers < (low if low is not None else -np.inf)),
            f"below the minimum {low}",
            f"above the maximum {high}",
        )
        return np.char.add(np.char.add(f"{name} ", text.astype(str)), np.char.add(" is ", side))
    if check.check == "values":
        return np.char.add(
            np.char.add(f"{name} '", text.astype(str)), "' is not one of the allowed values"
        )
    if check.check == "regex":
        return np.char.add(
            np.char.add(f"{name} '", text.astype(str)), f"' does not match {check.regex!r}"
        )
    if check.check == "unique":
        counts = typed[str(name)].value_counts()
        n = parsed.map(counts).astype("Int64").astype("string").fillna("?").to_numpy(dtype=object)
        return np.char.add(
            np.char.add(np.char.add(f"{name} '", text.astype(str)), "' appears "),
            np.char.add(n.astype(str), " times in the partition (detail.key must be unique)"),
        )
    return np.full(len(parsed), f"{name} failed {check.check}", dtype=object)


def parse_issue_rows(issues: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """``parse_records``' issues as quarantine rows: a required field's issue is critical, any
    other takes the field's ``checks.severity``."""
    frame = issues.copy()
    frame["severity"] = frame["field"].map(
        {
            n: ("critical" if f.required else f.checks.severity)
            for n, f in spec.detail.fields.items()
        }
    )
    return frame


def combine_quarantine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One quarantine frame from the rows of every chunk: strings, one row per (url, field,
    check), sorted by them (so a chunked and a whole run store the same frame)."""
    quarantine = (
        pd.concat(parts, ignore_index=True).astype("string")
        if parts
        else pd.DataFrame(columns=QUARANTINE_COLUMNS).astype("string")
    )
    return (
        quarantine[QUARANTINE_COLUMNS]
        .drop_duplicates(["url", "field", "check"])
        .sort_values(["url", "field", "check"], kind="stable")
        .reset_index(drop=True)
    )


def canonical_values(typed: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """The frame the value-set checks see: typos of allowed values mapped onto them (cleaning
    makes the same correction and counts it), so only values matching nothing are quarantined."""
    fields = {
        name: field.checks.values
        for name, field in spec.detail.fields.items()
        if field.checks.values and name in typed
    }
    if not fields:
        return typed
    checked = typed.copy()
    for name, allowed in fields.items():
        checked[name] = canonical_series(typed[name], allowed)
    return checked
