"""Judge a whole partition: one results row per check, the critical breaches, the warnings.

The GX expectations are judged on their counts summed over chunks (:class:`CheckTally`): a
record-level check that failed is a warning (its records are already quarantined); a batch-level
one is a breach when critical, a warning otherwise. Two more checks are Harvest's own, judged from
the quarantine rather than by GX: the quarantine rate (``validation.max_quarantine_rate``) and the
number of valid records (``validation.min_rows``), plus one coverage row per field: the share of
the partition's records where the field has a value (after ``on_error: null``), judged against
``checks.min_coverage``; a field with no value at all is always at least a warning. Their results
rows carry the names in :data:`QUARANTINE_RATE`, :data:`VALID_ROWS` and :data:`COVERAGE` (GX-style, so the results table and the failure
message read as one list; they are stored values, which dashboards and tests match on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harvest.config.spec import SourceSpec
from harvest.records import NulledValues
from harvest.validation.gx import NOT_NULL, CheckTally
from harvest.validation.report import Breach

RESULT_COLUMNS = [
    "source",
    "logical_date",
    "expectation",
    "column",
    "severity",
    "success",
    "element_count",
    "unexpected_count",
    "pass_rate",
    "observed_value",
    "details",
]
QUARANTINE_RATE = "expect_quarantine_rate_to_be_at_most"
VALID_ROWS = "expect_valid_row_count_to_be_at_least"
COVERAGE = "expect_column_coverage_to_be_at_least"
HINTS = {
    "exists": "A spec field is missing from the parsed records: the parser or the spec changed.",
    "type": "A field no longer has its parsed type: check the field's parser in the spec.",
    "required_null_rate": "A required field is empty on most detail pages: the page layout "
    "probably changed; compare a raw page with the field's selector in the spec.",
    "max_null_rate": "Far more values are missing than allowed: check the field's selector "
    "against a raw page (layout drift?) and the source site.",
    "row_count": "The partition has far fewer records than usual: check the scrape task log "
    "(failed pages, blocked crawl, empty index pages) and the source site.",
    "valid_rows": "Too few records survived validation: see the quarantine reasons.",
    "coverage": "A field has a value on too few records: check its selector against a raw page "
    "and its parser's warnings (values set to null by on_error: null).",
}


@dataclass
class Judgement:
    """Results rows (without source and date; :data:`RESULT_COLUMNS` after them), one per tally
    in order and then Harvest's own checks; the critical breaches; the warnings."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def judge_partition(
    tallies: list[CheckTally],
    scraped: int,
    quarantined: int,
    valid: int,
    spec: SourceSpec,
    top_reasons: dict[str, int],
    coverage: dict[str, tuple[int, NulledValues | None]] | None = None,
) -> Judgement:
    """Judge every tally, then the quarantine rate, the valid-record floor and each field's
    coverage; ``top_reasons`` (quarantined records per ``field:check``, most first) names the
    causes of a high rate; ``coverage`` gives per field the records with a value and the values
    set to null because they did not parse."""
    judgement = Judgement()
    for tally in tallies:
        _judge_expectation(tally, scraped, judgement)
    _judge_quarantine_rate(scraped, quarantined, spec, top_reasons, judgement)
    _judge_valid_rows(scraped, valid, spec, judgement)
    for name, (present, nulled) in (coverage or {}).items():
        _judge_coverage(name, present, nulled, scraped, spec, judgement)
    return judgement


def _judge_coverage(
    name: str,
    present: int,
    nulled: NulledValues | None,
    scraped: int,
    spec: SourceSpec,
    judgement: Judgement,
) -> None:
    checks = spec.detail.fields[name].checks
    share = present / scraped if scraped else 1.0
    floor = checks.min_coverage
    severity = checks.severity if floor is not None else "warning"
    success = (floor is None or share >= floor - 1e-12) and (present > 0 or scraped == 0)
    observed = f"coverage {share:.3f} ({present} of {scraped} records)"
    if nulled is not None:
        observed += (
            f"; {nulled.count} values did not parse and were set to null (on_error: null), "
            f"e.g. {nulled.example[:60]!r}: {nulled.reason}"
        )
        judgement.warnings.append(
            f"field '{name}': {nulled.count} values did not parse and were set to null "
            f"(on_error: null), e.g. {nulled.example[:60]!r}: {nulled.reason}"
        )
    threshold = f"at least {floor:g} (checks.min_coverage)" if floor is not None else "above 0"
    judgement.rows.append(
        {
            "expectation": COVERAGE,
            "column": name,
            "severity": severity,
            "success": success,
            "element_count": scraped,
            "unexpected_count": scraped - present,
            "pass_rate": share,
            "observed_value": observed,
            "details": {
                "check": "coverage",
                "field": name,
                "level": "batch",
                "threshold": threshold,
                "nulled": 0 if nulled is None else nulled.count,
            },
        }
    )
    if success:
        return
    if severity == "critical":
        judgement.breaches.append(
            Breach(COVERAGE, name, "coverage", observed, threshold, HINTS["coverage"])
        )
    else:
        judgement.warnings.append(f"{COVERAGE} on '{name}': {observed}, threshold {threshold}")


def _judge_expectation(tally: CheckTally, scraped: int, judgement: Judgement) -> None:
    c = tally.check
    element = tally.element_count
    unexpected = tally.unexpected_count
    if c.expectation_type == NOT_NULL:
        null_rate = unexpected / element if element else 0.0
        limit = 1.0 - c.mostly
        success = tally.exception is None and null_rate <= limit + 1e-12
        observed = f"null rate {null_rate:.3f} ({unexpected} of {element} records)"
    elif c.level == "record":
        success = tally.exception is None and unexpected == 0
        observed = f"{unexpected} of {element} records failing"
    elif c.check == "row_count":
        success = tally.success and tally.exception is None
        observed = f"{tally.observed} records"
    else:
        success = tally.success and tally.exception is None
        observed = (
            _format(tally.observed)
            if tally.observed is not None
            else ("ok" if success else "failed")
        )
    if tally.exception:
        observed = f"error: {tally.exception}"
    pass_rate = (1.0 - unexpected / element) if element else (1.0 if success else 0.0)
    if c.level != "record" and c.check not in ("max_null_rate", "required_null_rate"):
        pass_rate = 1.0 if success else 0.0
    judgement.rows.append(
        {
            "expectation": c.expectation_type,
            "column": c.column,
            "severity": c.severity,
            "success": success,
            "element_count": element or (scraped if c.check == "row_count" else 0),
            "unexpected_count": unexpected,
            "pass_rate": pass_rate,
            "observed_value": observed,
            "details": {
                "check": c.check,
                "field": c.field,
                "threshold": c.threshold,
                "level": c.level,
            },
        }
    )
    if success:
        return
    if c.level == "record":
        judgement.warnings.append(
            f"{c.expectation_type} on '{c.column}' ({c.check}, {c.severity}): {observed}; "
            f"those records were quarantined"
        )
    elif c.severity == "critical":
        judgement.breaches.append(
            Breach(
                c.expectation_type, c.column, c.check, observed, c.threshold, HINTS.get(c.check, "")
            )
        )
    else:
        judgement.warnings.append(
            f"{c.expectation_type} on '{c.column}' ({c.check}): {observed}, threshold {c.threshold}"
        )


def _judge_quarantine_rate(
    scraped: int,
    quarantined: int,
    spec: SourceSpec,
    top_reasons: dict[str, int],
    judgement: Judgement,
) -> None:
    limit = spec.validation.max_quarantine_rate
    rate = quarantined / scraped if scraped else 0.0
    rate_ok = rate <= limit + 1e-12
    reasons = ", ".join(f"{k} ({v})" for k, v in list(top_reasons.items())[:3])
    judgement.rows.append(
        {
            "expectation": QUARANTINE_RATE,
            "column": None,
            "severity": "critical",
            "success": rate_ok,
            "element_count": scraped,
            "unexpected_count": quarantined,
            "pass_rate": 1.0 - rate,
            "observed_value": f"{rate:.3f} ({quarantined} of {scraped} records)",
            "details": {
                "check": "max_quarantine_rate",
                "field": None,
                "level": "batch",
                "threshold": f"at most {limit:g}",
            },
        }
    )
    if not rate_ok:
        judgement.breaches.append(
            Breach(
                QUARANTINE_RATE,
                None,
                "max_quarantine_rate",
                f"quarantine rate {rate:.3f} ({quarantined} of {scraped} records)",
                f"at most {limit:g} (validation.max_quarantine_rate)",
                f"Top quarantine reasons (field:check): {reasons}." if reasons else "",
            )
        )


def _judge_valid_rows(scraped: int, valid: int, spec: SourceSpec, judgement: Judgement) -> None:
    min_rows = spec.validation.min_rows
    valid_ok = valid >= min_rows
    judgement.rows.append(
        {
            "expectation": VALID_ROWS,
            "column": None,
            "severity": "critical",
            "success": valid_ok,
            "element_count": scraped,
            "unexpected_count": scraped - valid,
            "pass_rate": 1.0 if valid_ok else 0.0,
            "observed_value": f"{valid} valid records",
            "details": {
                "check": "valid_rows",
                "field": None,
                "level": "batch",
                "threshold": f"at least {min_rows}",
            },
        }
    )
    if not valid_ok:
        judgement.breaches.append(
            Breach(
                VALID_ROWS,
                None,
                "valid_rows",
                f"{valid} valid records",
                f"at least {min_rows} (validation.min_rows)",
                HINTS["valid_rows"],
            )
        )


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
