"""A Great Expectations suite derived from a source spec.

Every expectation carries Harvest's bookkeeping in ``meta``: ``check`` (what kind of check,
one name shared with the quarantine table), ``field``, ``severity`` (critical or warning),
``level`` (``record``: failing records are quarantined; ``batch``: judged on the whole
partition) and a human ``threshold``.

* batch level: the column exists and has its parsed type (critical; schema drift), null rate
  (``checks.max_null_rate`` with the field's severity; ``validation.required_null_rate`` for
  required fields, critical), row count (``validation.min_rows`` and
  ``validation.row_count_min_ratio`` x the median of recent partitions, critical);
* record level: range (``checks.min``/``max``, on ``checks.column`` when set: a price field's
  stated ``price`` or converted ``price_eur``), allowed values (``checks.values``), format
  (``checks.regex``) and uniqueness of the natural key (``detail.key``). Their severity is the
  field's, but a record-level failure never fails the batch on its own: the records are
  quarantined and the batch fails only above ``validation.max_quarantine_rate``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.fields import field_kind

RECORD_CHECKS = ("range", "values", "regex", "unique")
"""Checks whose failing records are quarantined (plus the parse issues: ``parse:*``, ``required``)."""


def suite_name(spec: SourceSpec) -> str:
    return f"harvest_{spec.name}"


def row_count_floor(spec: SourceSpec, recent_row_counts: Sequence[int]) -> tuple[int, str]:
    """The fewest records a partition may have, and why (``min_rows`` or the recent median)."""
    rules = spec.validation
    floor, why = rules.min_rows, f"at least {rules.min_rows} (validation.min_rows)"
    counts = [int(c) for c in recent_row_counts if c is not None and c > 0]
    if counts:
        median = statistics.median(counts)
        relative = math.ceil(rules.row_count_min_ratio * median)
        if relative > floor:
            floor = relative
            why = (
                f"at least {relative} (validation.row_count_min_ratio {rules.row_count_min_ratio}"
                f" x median {median:g} of the last {len(counts)} partitions)"
            )
    return floor, why


def _meta(
    check: str, field: str | None, severity: str, level: str, threshold: str
) -> dict[str, Any]:
    return {
        "check": check,
        "field": field,
        "severity": severity,
        "level": level,
        "threshold": threshold,
    }


def _null_rate_expectation(name: str, field: FieldSpec, spec: SourceSpec) -> gxe.Expectation | None:
    """One not-null expectation per field: the stricter of max_null_rate and, for required
    fields, validation.required_null_rate (then always critical)."""
    limits: list[tuple[float, str, str]] = []
    if field.checks.max_null_rate is not None:
        limits.append((field.checks.max_null_rate, "max_null_rate", field.checks.severity))
    if field.required:
        limits.append((spec.validation.required_null_rate, "required_null_rate", "critical"))
    if not limits:
        return None
    # on a tie the required-field rule names the check: its failure means schema drift
    rate, check, _ = min(limits, key=lambda item: (item[0], item[1] != "required_null_rate"))
    severity = "critical" if any(sev == "critical" for _, _, sev in limits) else "warning"
    return gxe.ExpectColumnValuesToNotBeNull(
        column=name,
        mostly=round(1.0 - rate, 10),
        meta=_meta(check, name, severity, "batch", f"null rate at most {rate:g} ({check})"),
    )


def build_suite(spec: SourceSpec, recent_row_counts: Sequence[int] = ()) -> gx.ExpectationSuite:
    """The expectation suite of one source; ``recent_row_counts`` sets the row-count floor."""
    expectations: list[gxe.Expectation] = []
    floor, why = row_count_floor(spec, recent_row_counts)
    expectations.append(
        gxe.ExpectTableRowCountToBeBetween(
            min_value=floor,
            meta=_meta("row_count", None, "critical", "batch", why),
        )
    )
    for name, field in spec.detail.fields.items():
        schema_severity = "critical" if field.required else "warning"
        expectations.append(
            gxe.ExpectColumnToExist(
                column=name,
                meta=_meta("exists", name, schema_severity, "batch", "column present"),
            )
        )
        types = list(field_kind(field.stored_kind).gx_types)
        expectations.append(
            gxe.ExpectColumnValuesToBeInTypeList(
                column=name,
                type_list=types,
                meta=_meta("type", name, schema_severity, "batch", f"type in {types}"),
            )
        )
        null_rate = _null_rate_expectation(name, field, spec)
        if null_rate is not None:
            expectations.append(null_rate)
        checks = field.checks
        if checks.min is not None or checks.max is not None:
            column = checks.column or name
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column,
                    min_value=checks.min,
                    max_value=checks.max,
                    meta=_meta(
                        "range",
                        name,
                        checks.severity,
                        "record",
                        f"{column} between {_bound(checks.min)} and {_bound(checks.max)}",
                    ),
                )
            )
        if checks.values is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=name,
                    value_set=list(checks.values),
                    meta=_meta(
                        "values", name, checks.severity, "record", f"one of {checks.values}"
                    ),
                )
            )
        if checks.regex is not None:
            expectations.append(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=name,
                    regex=checks.regex,
                    meta=_meta(
                        "regex", name, checks.severity, "record", f"matches {checks.regex!r}"
                    ),
                )
            )
    key = spec.detail.key
    expectations.append(
        gxe.ExpectColumnValuesToBeUnique(
            column=key,
            meta=_meta(
                "unique",
                key,
                spec.detail.fields[key].checks.severity,
                "record",
                "unique within the partition (detail.key)",
            ),
        )
    )
    return gx.ExpectationSuite(name=suite_name(spec), expectations=expectations)


def _bound(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"
