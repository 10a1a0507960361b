"""Named warnings of a partition: what passes but is suspicious.

- ``zero_rows``: the partition loads no row.
- ``all_cached``: every response of the crawl came from the HTTP cache although the date was
  never loaded (nothing was asked of the source: its data may be old, and the crawl would pass
  with the source down). A re-run of a loaded date served from the cache is what the cache is
  for, and is not a warning: a re-run leaves the warehouse identical. A re-run that reuses
  the stored pages (no crawl) repeats what the crawl that stored them showed (its
  ``crawl_stats``: all cached, the date loaded then or not), whether that crawl's load
  succeeded or failed.
- ``empty_field``: a spec field is empty in every record of a non-empty partition (a selector
  that no longer matches, a parser that fails quietly).
- ``crawl_incomplete``: the crawl's completeness account has named warnings (fewer records than
  cards seen, an empty level page, links lost to depth, budget or failures, a drop without a
  reason; :mod:`harvest.crawler.completeness`): the partition may miss items of the site.
- ``records_unaccounted``: the records account does not add up: the crawl produced
  ``crawl_records`` (item pages and card items), validation read ``scraped``; of those,
  ``quarantined`` were quarantined and ``duplicates`` removed by de-duplication, so
  ``scraped - quarantined - duplicates`` rows should load: a difference is records lost without
  a reason. Item pages that ended at another URL's page of the same item (``same_item``, one
  record for both) are accounted for.
- ``looks_like_catalogue`` (listings): most of the partition's valid records were seen on an
  earlier date (history duplicates and updates): the site shows the same items every night, so
  the listings mode loads almost nothing from the second night on. Set ``mode: catalogue``.
- ``unobserved_items`` (catalogue, after the load): items whose version stays open although the
  crawl did not see them, because it did not read where they were listed (a failed list page),
  with how many and why (:mod:`harvest.observation`); always a warning.
- ``observed_later``: a past date crawled because it was forced (``recrawl``,
  ``crawl.recrawl_past``; :mod:`harvest.scraping.past`): its pages show the site as it was on
  ``observed_on``, not on the partition's date; always a warning, repeated by every re-run
  that reuses those pages (the day is kept in ``crawl_stats``, even when the load failed).

Each is logged with its counts and stored in ``partition_loads.warnings`` (the supervisor turns
them into metrics and alerts). A spec makes one critical with ``warnings: {zero_rows: critical}``:
the load then fails before changing anything, with :class:`CriticalWarning` naming the source,
the date and the warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError

if TYPE_CHECKING:
    from harvest.storage.staging import FrameParts

log = logging.getLogger(__name__)


class CriticalWarning(HarvestError, RuntimeError):
    """A warning the spec makes critical; a retry cannot clear it (re-scrape, fix the spec)."""

    retryable = False


def partition_warnings(
    spec: SourceSpec,
    frame: pd.DataFrame | FrameParts,
    crawl: Mapping[str, Any] | None = None,
    *,
    loaded_before: bool = False,
    counts: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The warnings of a cleaned partition ``frame`` (and its crawl summary, a
    ``CrawlResult.to_dict()``, when known; ``loaded_before``: the date is being re-run;
    ``counts``: the stage counts ``scraped``, ``valid``, ``quarantined``, ``duplicates``,
    ``history_duplicates``, ``updated`` and ``same_item``, when known):
    name -> ``{"severity", ...counts}``."""
    found: dict[str, dict[str, Any]] = {}
    rows, empty = frame_facts(spec, frame)
    if rows == 0:
        found["zero_rows"] = {"rows": 0}
    seen_before = repeats(spec, counts)
    if seen_before is not None:
        found["looks_like_catalogue"] = {
            **seen_before,
            "message": "looks like a catalogue: set mode: catalogue",
        }
    # a re-run reusing stored pages decides on the crawl that stored them (``crawled``), as
    # that crawl's load did: the date was loaded then or not
    fetched = crawl
    if crawl is not None and crawl.get("crawled") is not None:
        fetched = crawl["crawled"]
        if fetched.get("date_loaded") is not None:
            loaded_before = bool(fetched["date_loaded"])
    if fetched is not None and not loaded_before:
        cached = int(fetched.get("cached_responses") or 0)
        to_site = int(fetched.get("requests_to_site") or 0)
        if cached and not to_site:
            found["all_cached"] = {"cached_responses": cached, "requests_to_site": 0}
    account = (crawl or {}).get("completeness") or {}
    if account.get("warnings"):
        found["crawl_incomplete"] = {
            "warnings": [w.split(":", 1)[0] for w in account["warnings"]],
            "links_skipped": dict((crawl or {}).get("links_skipped") or {}),
        }
    unaccounted = _unaccounted(rows, crawl, counts)
    if unaccounted:
        found["records_unaccounted"] = unaccounted
    if rows and empty:
        found["empty_field"] = {"fields": empty, "rows": rows}
    severities = spec.warnings.model_dump()
    named = {name: {"severity": severities[name], **counts} for name, counts in found.items()}
    if (crawl or {}).get("observed_on"):
        named["observed_later"] = {
            "severity": "warning",
            "observed_on": crawl["observed_on"],  # type: ignore[index]
            "message": f"the pages were observed on {crawl['observed_on']} (a forced re-crawl)",  # type: ignore[index]
        }
    return named


def frame_facts(spec: SourceSpec, frame: pd.DataFrame | FrameParts) -> tuple[int, list[str]]:
    """The rows of a cleaned frame (or of its parts, read one at a time) and the spec's fields
    that are empty in all of them (null, or text of only spaces)."""
    if isinstance(frame, pd.DataFrame):
        rows, parts = len(frame), iter([frame])
    else:
        rows, parts = frame.rows, frame.parts()
    empty = dict.fromkeys(spec.detail.fields, True)
    for part in parts:
        for name, still in empty.items():
            if still and name in part and not (part[name].isna().all() or _blank(part[name])):
                empty[name] = False
        if not any(empty.values()):  # every field has a value: the other parts are not read
            break
    return rows, [name for name, still in empty.items() if still]


REPEAT_SHARE = 0.5
"""``looks_like_catalogue``: the share of a listings partition's valid records seen before
(history duplicates and updates) above which its nights repeat."""


def repeats(spec: SourceSpec, counts: Mapping[str, int] | None) -> dict[str, Any] | None:
    """A listings partition whose valid records were mostly seen on earlier dates: its counts
    (``valid``, ``seen_before``, ``share``), else ``None``."""
    if spec.mode != "listings" or not counts:
        return None
    valid = int(counts.get("valid") or 0)
    seen = int(counts.get("history_duplicates") or 0) + int(counts.get("updated") or 0)
    if not valid or seen / valid <= REPEAT_SHARE:
        return None
    return {"valid": valid, "seen_before": seen, "share": round(seen / valid, 3)}


FRAME_WARNINGS = ("zero_rows", "empty_field", "looks_like_catalogue")
"""The warnings a partition's cleaned frame (and counts) decide, checked again whenever the
partition is re-loaded (a later partition re-checked by :mod:`harvest.loading.order`)."""


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


def _unaccounted(
    rows: int, crawl: Mapping[str, Any] | None, counts: Mapping[str, Any] | None
) -> dict[str, int] | None:
    """The records account of a partition when it does not add up (see the module docstring)."""
    if counts is None:
        return None
    scraped = int(counts.get("scraped") or 0)
    expected = scraped - int(counts.get("quarantined") or 0) - int(counts.get("duplicates") or 0)
    crawled = crawl.get("item_pages") if crawl is not None else None
    merged = int(counts.get("same_item") or 0)  # one record for an item reached under two URLs
    if rows == expected and (crawled is None or int(crawled) == scraped + merged):
        return None
    account = {
        "scraped": scraped,
        "quarantined": int(counts.get("quarantined") or 0),
        "duplicates": int(counts.get("duplicates") or 0),
        "rows": rows,
    }
    if crawled is not None:
        account["crawl_records"] = int(crawled)
    if merged:
        account["same_item"] = merged
    return account


def _blank(column: pd.Series) -> bool:
    """Text that is empty or only spaces in every record counts as empty."""
    if not (pd.api.types.is_string_dtype(column) or column.dtype == object):
        return False
    text = column.dropna().astype(str).str.strip()
    return bool((text == "").all())
