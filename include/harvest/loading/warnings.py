"""Named warnings of a partition: what passes but is suspicious.

- ``zero_rows``: the partition loads no row.
- ``all_cached``: every response of the crawl came from the HTTP cache although the date was
  never loaded (nothing was asked of the source: its data may be old, and the crawl would pass
  with the source down). A re-run of a loaded date served from the cache is what the cache is
  for, and is not a warning: a re-run leaves the warehouse identical.
- ``empty_field``: a spec field is empty in every record of a non-empty partition (a selector
  that no longer matches, a parser that fails quietly).
- ``crawl_incomplete``: the crawl's completeness account has named warnings (fewer records than
  cards seen, an empty level page, links lost to depth, budget or failures, a drop without a
  reason; :mod:`harvest.crawler.completeness`): the partition may miss items of the site.
- ``unobserved_items`` (catalogue, after the load): items whose version stays open although the
  crawl did not see them, because it did not read where they were listed (a failed list page),
  with how many and why (:mod:`harvest.observation`); always a warning.

Each is logged with its counts and stored in ``partition_loads.warnings`` (the supervisor turns
them into metrics and alerts). A spec makes one critical with ``warnings: {zero_rows: critical}``:
the load then fails before changing anything, with :class:`CriticalWarning` naming the source,
the date and the warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError

log = logging.getLogger(__name__)


class CriticalWarning(HarvestError, RuntimeError):
    """A warning the spec makes critical; a retry cannot clear it (re-scrape, fix the spec)."""

    retryable = False


def partition_warnings(
    spec: SourceSpec,
    frame: pd.DataFrame,
    crawl: Mapping[str, Any] | None = None,
    *,
    loaded_before: bool = False,
) -> dict[str, dict[str, Any]]:
    """The warnings of a cleaned partition ``frame`` (and its crawl summary, a
    ``CrawlResult.to_dict()``, when known; ``loaded_before``: the date is being re-run):
    name -> ``{"severity", ...counts}``."""
    found: dict[str, dict[str, Any]] = {}
    if len(frame) == 0:
        found["zero_rows"] = {"rows": 0}
    if crawl is not None and not loaded_before:
        cached = int(crawl.get("cached_responses") or 0)
        to_site = int(crawl.get("requests_to_site") or 0)
        if cached and not to_site:
            found["all_cached"] = {"cached_responses": cached, "requests_to_site": 0}
    account = (crawl or {}).get("completeness") or {}
    if account.get("warnings"):
        found["crawl_incomplete"] = {
            "warnings": [w.split(":", 1)[0] for w in account["warnings"]],
            "links_skipped": dict((crawl or {}).get("links_skipped") or {}),
        }
    if len(frame):
        empty = [
            name
            for name in spec.detail.fields
            if name not in frame or frame[name].isna().all() or _blank(frame[name])
        ]
        if empty:
            found["empty_field"] = {"fields": empty, "rows": len(frame)}
    severities = spec.warnings.model_dump()
    return {name: {"severity": severities[name], **counts} for name, counts in found.items()}


def unobserved_warning(versions: Any) -> dict[str, Any]:
    """The ``unobserved_items`` warning of a catalogue load (a :class:`~harvest.storage.
    warehouse.versions.VersionCounts`): items whose version stays open although they were not
    observed, because the crawl did not read where they were listed; never critical (nothing
    was closed that may still be on the site)."""
    return {
        "severity": "warning",
        "items": int(versions.unobserved),
        "reasons": dict(versions.unobserved_reasons),
    }


def report_warnings(
    spec: SourceSpec, day: dt.date, warnings: Mapping[str, Mapping[str, Any]]
) -> None:
    """Log every warning; raise :class:`CriticalWarning` when the spec makes one critical."""
    for name, details in warnings.items():
        counts = ", ".join(f"{k}={v}" for k, v in details.items() if k != "severity")
        log.warning(
            "source=%s date=%s warning %s (%s): %s",
            spec.name,
            day,
            name,
            details["severity"],
            counts,
        )
    critical = [name for name, details in warnings.items() if details["severity"] == "critical"]
    if critical:
        described = "; ".join(
            f"{name} ({', '.join(f'{k}={v}' for k, v in warnings[name].items() if k != 'severity')})"
            for name in critical
        )
        raise CriticalWarning(
            f"load source={spec.name} date={day}: critical warning {described}; nothing was "
            f"loaded. The spec's `warnings:` makes it critical; re-scrape the partition or fix "
            f"the source (or lower it to warning)"
        )


def _blank(column: pd.Series) -> bool:
    """Text that is empty or only spaces in every record counts as empty."""
    if not (pd.api.types.is_string_dtype(column) or column.dtype == object):
        return False
    text = column.dropna().astype(str).str.strip()
    return bool((text == "").all())
