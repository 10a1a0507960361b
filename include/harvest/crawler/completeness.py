"""The completeness account of a crawl: per level, every link and card seen and where it ended.

The spider counts, per level of the crawl graph (``start`` for item pages given as start URLs,
``sitemap`` for a sitemap start), in the crawl stats ``harvest/account/<level>/<counter>``:

- ``links_seen``: links found (to the next level, deeper pages of the level, next pages,
  numbered pages, sitemap entries); each ends as ``followed`` or ``skipped/<reason>``:
  ``duplicate`` (its URL was asked for already), ``off-site``, ``robots`` (robots.txt forbids
  it), ``depth`` (``max_recursion`` or ``crawl.max_depth``), ``budget`` (``crawl.max_pages``, or
  a numbering's ``pages.max``), ``failed`` (the page failed after retries), ``deadline`` (the
  crawl stopped at its deadline before the page came: :mod:`harvest.crawler.deadline`),
  ``not followed``
  (a sitemap entry ``sitemap.follow`` does not match), ``no link`` (a card without the link
  ``links`` selects), ``ignored`` (Scrapy refused it for another reason, said in the log);
- ``cards_seen`` and ``records``: cards found, and records produced (item pages reached from
  this level, cards that are the items, cards joined to a shared item page);
  ``cards_duplicate``: cards that are items seen before on the level (a numbered page repeating
  the last one), or cards joined to an item page that gave a record of their ``detail.key``
  already (one item carded twice), which are no new record;
- ``pages`` and ``empty_pages``: pages of the level, and those where it found no card nor link;
- ``scroll_rounds``: scrolls or "load more" clicks made on the level's pages (``scroll:``);
  ``scroll_capped``/``scroll_cut``: pages still loading new cards when ``scroll.max_rounds``
  or the deadline stopped the scrolling.

:func:`account_from_stats` turns those counters into a table, :func:`completeness_warnings`
into named warnings: fewer records than cards seen, a level whose pages all had nothing on them, links
skipped for depth, budget, failure or the deadline (the partition may miss items), and any link that ended
nowhere (a drop without a reason). The crawl summary, the ``completeness`` crawl monitor and the
metric ``harvest.scrape.completeness_warnings.<source>`` all come from these. Importing this
module imports nothing of Scrapy's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

LEVEL_META = "harvest_level"  # request.meta: the level whose link asked for the page
ACCOUNT_PREFIX = "harvest/account/"
LEVELS_STAT = "harvest/account_levels"  # the level names, in crawl order
LIMITS_STAT = "harvest/account_limits"  # the spec's limits named in the warnings' advice
SKIP_REASONS = (
    "duplicate", "off-site", "robots", "depth", "budget", "failed", "deadline", "not followed",
    "no link", "ignored",
)  # fmt: skip
"""Why a link was not followed (see the module docstring)."""
LOSSY_REASONS = ("depth", "budget", "failed", "deadline", "ignored")
"""Reasons that may leave items of the site out of the partition: each is a warning."""
REGEX_UNMATCHED_PREFIX = "harvest/fields_regex_unmatched/"  # + field: item pages or cards read
REGEX_UNMATCHED_EXAMPLE = "harvest/fields_regex_unmatched_example/"  # + field: [URL, text]
COUNTERS = (
    "links_seen", "followed", "cards_seen", "cards_duplicate", "records", "pages", "empty_pages",
    "scroll_rounds", "scroll_capped", "scroll_cut",
)  # fmt: skip


def stat_key(level: str, counter: str) -> str:
    """The crawl stat of one counter of one level: ``harvest/account/<level>/<counter>``."""
    return f"{ACCOUNT_PREFIX}{level}/{counter}"


def skip_key(level: str, reason: str) -> str:
    return stat_key(level, f"skipped/{reason}")


def account_from_stats(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per level, in crawl order: ``{"level", "links_seen", "followed", "skipped": {reason: n},
    "cards_seen", "records", "pages", "empty_pages"}`` (only reasons that occurred)."""
    levels: list[str] = list(stats.get(LEVELS_STAT) or [])
    for key in stats:
        if key.startswith(ACCOUNT_PREFIX):
            name = key[len(ACCOUNT_PREFIX) :].split("/", 1)[0]
            if name not in levels:
                levels.append(name)
    out = []
    for name in levels:
        entry: dict[str, Any] = {"level": name}
        for counter in COUNTERS:
            entry[counter] = int(stats.get(stat_key(name, counter)) or 0)
            if counter.startswith("scroll_") and not entry[counter]:
                del entry[counter]  # only levels that scroll say so
        entry["skipped"] = {
            reason: int(stats[skip_key(name, reason)])
            for reason in SKIP_REASONS
            if int(stats.get(skip_key(name, reason)) or 0)
        }
        if any(entry.get(c) for c in COUNTERS) or entry["skipped"]:
            out.append(entry)
    return out


def completeness_warnings(
    account: list[dict[str, Any]], limits: Mapping[str, Any] | None = None
) -> list[str]:
    """The named warnings of an account (see the module docstring). ``limits``: the spec's
    settings named in the advice (``max_recursion`` per level, ``max_pages``, ``max_depth``)."""
    limits = limits or {}
    warnings = []
    for entry in account:
        name = entry["level"]
        skipped = entry["skipped"]
        unexplained = entry["links_seen"] - entry["followed"] - sum(skipped.values())
        if unexplained > 0:
            warnings.append(
                f"unexplained_drop: level {name!r}: {unexplained} of {entry['links_seen']} links "
                "neither followed nor skipped with a reason"
            )
        cards = entry["cards_seen"] - entry["cards_duplicate"]
        if name == limits.get("last_level", name) and cards > entry["records"]:
            reasons = ", ".join(f"{n} {r}" for r, n in skipped.items() if r != "duplicate")
            warnings.append(
                f"records_below_cards: level {name!r}: {entry['records']} records from "
                f"{cards} cards" + (f" (links skipped: {reasons})" if reasons else "")
            )
        if entry["empty_pages"] and entry["empty_pages"] == entry["pages"]:
            # every page of the level empty: the selector no longer matches (one empty page
            # among full ones is an empty category: logged and counted, no warning)
            warnings.append(
                f"empty_level_page: level {name!r}: none of its {entry['pages']} pages had a "
                "card or a link (the selector may no longer match; see the log for the URL)"
            )
        for counter, why, advice in (
            ("scroll_capped", "after scroll.max_rounds scrolls or clicks",
             f"raise the level's scroll.max_rounds (now {limits.get(f'scroll_max_rounds/{name}', '?')})"),
            ("scroll_cut", "when the crawl's deadline came",
             "allow the crawl more time (the scrape task's execution_timeout)"),
        ):  # fmt: skip
            if entry.get(counter):
                warnings.append(
                    f"{counter}: level {name!r}: {entry[counter]} of its {entry['pages']} pages "
                    f"still showed new cards {why}; the partition may miss items: {advice}"
                )
        for reason in LOSSY_REASONS:
            count = skipped.get(reason, 0)
            if not count:
                continue
            advice = {
                "depth": f"raise the level's max_recursion (now {limits.get(f'max_recursion/{name}', '?')}) "
                f"or crawl.max_depth (now {limits.get('max_depth', '?')})",
                "budget": f"raise crawl.max_pages (now {limits.get('max_pages', '?')}) or the "
                "level's pages.max",
                "failed": "see the failed pages in the raw store",
                "deadline": "the crawl stopped at its deadline before their pages came: allow "
                "it more time (the scrape task's execution_timeout) or crawl fewer pages",
                "ignored": "see the crawl log",
            }[reason]
            warnings.append(
                f"links_skipped_{reason.replace('-', '_')}: level {name!r}: {count} links not "
                f"followed ({reason}); the partition may miss items: {advice}"
            )
    return warnings


def limits_of(spec: Any) -> dict[str, Any]:
    """The spec's limits that :func:`completeness_warnings` names in its advice."""
    out: dict[str, Any] = {
        "source": spec.name,
        "max_pages": spec.crawl.max_pages,
        "max_depth": spec.crawl.max_depth,
    }
    for level in spec.graph:
        out[f"max_recursion/{level.name}"] = level.max_recursion
        if level.scroll is not None:
            out[f"scroll_max_rounds/{level.name}"] = level.scroll.max_rounds
    for name, field in spec.detail.fields.items():
        if field.regex:
            out[f"regex/{name}"] = field.regex
    if spec.graph:  # the level whose cards are records (earlier levels' cards travel on)
        out["last_level"] = spec.graph[-1].name
    return out


def regex_unmatched(stats: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per field, the item pages or cards read (one extraction each: a record, or a card seen
    again) where its selector found text that its ``regex`` matched none of (the value is missing, or its ``default``): ``{field: {"count", "url", "text"}}``
    (the example: the least URL, and the first string found there)."""
    out = {}
    for key in sorted(stats):
        if key.startswith(REGEX_UNMATCHED_PREFIX) and int(stats[key] or 0):
            name = key[len(REGEX_UNMATCHED_PREFIX) :]
            url, text = stats.get(f"{REGEX_UNMATCHED_EXAMPLE}{name}") or (None, None)
            out[name] = {"count": int(stats[key]), "url": url, "text": text}
    return out


def field_warnings(
    unmatched: Mapping[str, Mapping[str, Any]], limits: Mapping[str, Any] | None = None
) -> list[str]:
    """The named warning ``fields_regex_unmatched`` of each field of :func:`regex_unmatched`:
    the field, its regex (from ``limits``, with the source), how many, one URL and the text
    there, and the ``preview`` command that shows that page."""
    limits = limits or {}
    source = limits.get("source", "SOURCE")
    return [
        f"fields_regex_unmatched: field {name!r}: its regex '{limits.get(f'regex/{name}', '?')}' "
        f"matched none of the text found in {entry['count']} item page(s) or card(s) read (one "
        f"extraction each: a record, or a card seen again), e.g. {entry['text']!r} on "
        f"{entry['url']}; the value is missing (or its default): fix the regex (python -m "
        f"harvest preview --source {source} --url {entry['url'] or 'URL'} shows it)"
        for name, entry in unmatched.items()
    ]


def completeness_of(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The account and its warnings from a crawl's stats: ``{"levels": [...], "warnings": [...],
    "fields_regex_unmatched": {...}, "field_warnings": [...]}`` (the field warnings are not the
    account's: every record is there, a value of it is not)."""
    levels = account_from_stats(stats)
    limits = stats.get(LIMITS_STAT)
    unmatched = regex_unmatched(stats)
    return {
        "levels": levels,
        "warnings": completeness_warnings(levels, limits),
        "fields_regex_unmatched": unmatched,
        "field_warnings": field_warnings(unmatched, limits),
    }


def completeness_fields(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The crawl result's completeness fields from its stats: ``completeness`` (levels and
    warnings), ``cards_seen`` and ``cards_duplicate`` (of them, cards of an item seen before: no
    second record; every level), ``links_skipped`` (reason -> links, every level),
    ``completeness_warnings`` (how many) and ``fields_regex_unmatched`` (field -> item pages
    or cards read where its regex matched none of the text found)."""
    completeness = completeness_of(stats)
    skipped: dict[str, int] = {}
    for entry in completeness["levels"]:
        for reason, n in entry["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    return {
        "completeness": completeness,
        "cards_seen": sum(e["cards_seen"] for e in completeness["levels"]),
        "cards_duplicate": sum(e["cards_duplicate"] for e in completeness["levels"]),
        "links_skipped": skipped,
        "completeness_warnings": len(completeness["warnings"]),
        "fields_regex_unmatched": {
            name: entry["count"] for name, entry in completeness["fields_regex_unmatched"].items()
        },
    }


def log_account(logger: logging.Logger, prefix: str, completeness: Mapping[str, Any]) -> None:
    """Log the account: a line per level (INFO), then each named warning (WARNING)."""
    for line in summary_lines(completeness.get("levels") or [], []):
        logger.info("%s: %s", prefix, line)
    for warning in [
        *(completeness.get("warnings") or []),
        *(completeness.get("field_warnings") or []),
    ]:
        logger.warning("%s: %s", prefix, warning)


def summary_lines(account: list[dict[str, Any]], warnings: list[str]) -> list[str]:
    """The account as the lines the crawl summary logs: one per level, then each warning."""
    lines = []
    for entry in account:
        skipped = ", ".join(f"{r} {n}" for r, n in entry["skipped"].items()) or "none"
        lines.append(
            f"level {entry['level']!r}: {entry['pages']} pages, links seen {entry['links_seen']}, "
            f"followed {entry['followed']}, skipped {sum(entry['skipped'].values())} ({skipped}); "
            f"cards seen {entry['cards_seen']}"
            + (f" ({entry['cards_duplicate']} seen before)" if entry["cards_duplicate"] else "")
            + f", records {entry['records']}"
            + (f"; scrolls {entry['scroll_rounds']}" if entry.get("scroll_rounds") else "")
        )
    lines += [f"WARNING {w}" for w in warnings]
    return lines
