"""What a person reads at the console: the log file, and a run's summary and warnings.

The command line (``python -m harvest``) and ``make demo`` print a short summary of what each
stage did and the warnings that matter; the libraries' logs (Scrapy's settings, Great
Expectations' INFO lines, the crawl child's output) go to a log file whose path is printed, and
to the console too with ``-v``. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class WarningCount(logging.Handler):
    """Counts the WARNING and ERROR records logged (to say how many the log file holds)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def configure_logging(log_dir: Path, command: str, *, verbose: bool = False) -> Path:
    """Send every log record (INFO and up) to ``log_dir/harvest-<command>-<time>.log`` and
    return its path; with ``verbose`` to the console (stderr) too. Without it the console shows
    no log record: the command prints its summary and warnings, and
    :func:`logged_warnings` how many warnings the file holds. Replaces the root logger's
    handlers (a second call in one process starts a new file)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"harvest-{command.replace(' ', '-')}-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(to_file)
    root.addHandler(WarningCount())
    if verbose:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(console)
    logging.captureWarnings(True)  # library DeprecationWarnings to the file, not the console
    return path


def logged_warnings() -> int:
    """How many WARNING and ERROR records were logged since :func:`configure_logging`."""
    return sum(h.count for h in logging.getLogger().handlers if isinstance(h, WarningCount))


def _line(label: str, value: Any) -> str:
    return f"  {label:<20}{value}"


def summary_lines(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The summary of a partition's stage reports (keys ``scrape``, ``validate``, ``clean``,
    ``load``, each optional: the ``to_dict()`` of that stage's report), one line per figure."""
    lines: list[str] = []
    scrape, validate = reports.get("scrape"), reports.get("validate")
    clean, load = reports.get("clean"), reports.get("load")
    if scrape:
        if scrape.get("reused"):
            lines.append(_line("crawl", f"not crawled again: {scrape['reused']}"))
        lines.append(_line("pages visited", scrape["pages"]))
        lines.append(_line("documents stored", scrape["documents"]))
        lines.append(_line("failed pages", scrape["failed_pages"]))
        lines.append(_line("JS pages rendered", scrape["js_pages"] - scrape["js_unavailable"]))
        levels = (scrape.get("completeness") or {}).get("levels") or []
        cards, repeated = (
            sum(e.get(k, 0) for e in levels) for k in ("cards_seen", "cards_duplicate")
        )
        if cards:  # a card repeating an item is no second record: say where the gap goes
            again = (
                f" ({repeated} repeating an item seen before: no second record)" if repeated else ""
            )
            lines.append(_line("cards seen", f"{cards}{again}"))
        if scrape.get("cached_responses"):
            replayed = " (replayed without Scrapy)" if scrape.get("replayed_from_cache") else ""
            lines.append(_line("from HTTP cache", f"{scrape['cached_responses']}{replayed}"))
    if validate:
        lines.append(_line("records scraped", validate["scraped"]))
        lines.append(_line("valid", validate["valid"]))
        lines.append(_line("quarantined", validate["quarantined"]))
        for reason, count in validate.get("quarantined_by_reason", {}).items():
            lines.append(f"    {reason:<26}{count}")
    if clean:
        lines.append(
            _line(
                "duplicates removed",
                f"{clean['duplicates']} (exact {clean['exact_duplicates_batch']}"
                f" + {clean['exact_duplicates_history']} history, near "
                f"{clean['near_duplicates_batch']} + {clean['near_duplicates_history']} history)",
            )
        )
        imputed = ", ".join(f"{field} {n}" for field, n in clean.get("imputed", {}).items())
        total = sum(clean.get("imputed", {}).values())
        lines.append(_line("values imputed", f"{total} ({imputed or 'none'})"))
    on_dask = [
        name for name in ("validate", "clean") if (reports.get(name) or {}).get("engine") == "dask"
    ]
    if on_dask:  # a partition above HARVEST_DASK_THRESHOLD_ROWS
        lines.append(
            _line(
                "on Dask", f"{', '.join(on_dask)} (more records than HARVEST_DASK_THRESHOLD_ROWS)"
            )
        )
    if load:
        lines.append(_line("rows loaded", f"{load['loaded']} into processed_{load['source']}"))
        if load.get("rechecked"):  # listings: later dates' duplicates of this one dropped
            lines.append(
                _line(
                    "later dates",
                    f"{', '.join(load['rechecked'])} de-duplicated again against this date",
                )
            )
        if load.get("versions_opened") is not None:  # a catalogue source: versions of this date
            lines.append(
                _line(
                    "versions",
                    f"{load['versions_opened']} opened, {load['versions_closed']} closed, "
                    f"{load['versions_unchanged']} unchanged, in versions_{load['source']}",
                )
            )
    if scrape and scrape.get("raw_uri"):
        lines.append(_line("raw partition", scrape["raw_uri"]))
    if load and load.get("warehouse"):
        url = str(load["warehouse"])
        lines.append(_line("warehouse", url.removeprefix("sqlite:///")))
    if validate and validate.get("data_docs_path"):
        lines.append(_line("Data Docs", validate["data_docs_path"]))
    return lines


def warning_lines(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The warnings that matter in a partition's stage reports, one line each ("" none): pages
    that failed or were not rendered, a crawl that stopped early or came all from the cache,
    crawl monitors that did not pass, the completeness account's and the load's named
    warnings, and the validation's."""
    lines: list[str] = []
    scrape, validate = reports.get("scrape") or {}, reports.get("validate") or {}
    load = reports.get("load") or {}
    if scrape.get("failed_pages"):
        lines.append(f"{scrape['failed_pages']} page(s) failed (recorded in the raw partition)")
    if scrape.get("js_unavailable"):
        lines.append(
            f"{scrape['js_unavailable']} JavaScript page(s) not rendered: headless Chromium is "
            "not available (install chromium and chromium-driver); their JavaScript-only "
            "fields are missing"
        )
    if scrape.get("partial") or scrape.get("finish_reason") not in (None, "finished"):
        lines.append(f"the crawl stopped early: {scrape.get('finish_reason')}")
    if scrape.get("max_pages_skipped"):
        lines.append(
            f"the page budget (crawl.max_pages) was reached: {scrape['max_pages_skipped']} "
            "page(s) not fetched"
        )
    if scrape.get("depth_limit_skipped"):
        lines.append(
            f"the depth limit was reached: {scrape['depth_limit_skipped']} page(s) not fetched"
        )
    if scrape.get("pages") and scrape.get("cached_responses", 0) >= scrape["pages"]:
        lines.append("every page came from the HTTP cache: nothing was fetched from the site")
    for monitor in scrape.get("monitors", []):
        if monitor.get("status") not in ("passed", "skipped"):
            lines.append(
                f"crawl monitor {monitor['monitor']} {monitor['status']}: {monitor['message']}"
            )
    completeness = scrape.get("completeness") or {}
    for warning in [*completeness.get("warnings", []), *completeness.get("field_warnings", [])]:
        lines.append(f"crawl: {warning}")
    if scrape.get("repair"):  # the spec patch proposed after a drifted crawl, or why none
        lines.append(str(scrape["repair"]))
    for warning in validate.get("warnings", []):
        lines.append(f"validation: {warning}")
    if load.get("unchecked"):
        lines.append(
            f"later date(s) {', '.join(load['unchecked'])} not de-duplicated against this date "
            "(their validated records are gone from staging): re-run them"
        )
    for name, details in (load.get("warnings") or {}).items():
        counts = ", ".join(f"{k}={v}" for k, v in dict(details).items() if k != "severity")
        lines.append(f"{name}: {counts}")
    return lines


def output_options() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parent parsers of the command line's output options: ``-v`` (every command) and
    ``-v`` with ``--json`` (the stage commands)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the libraries' logs (Scrapy, Great Expectations, ...) here too, not only in "
        "the log file",
    )
    reports = argparse.ArgumentParser(add_help=False, parents=[common])
    reports.add_argument(
        "--json", action="store_true", help="print the stage reports as JSON, not the summary"
    )
    return common, reports


def print_error(exc: BaseException, log_path: Path | None, warnings: Sequence[str] = ()) -> int:
    """Print the ``warnings`` gathered before it (:func:`warning_lines` of the stages that
    finished: a spec patch proposed by the scrape before the validation failed), then an
    expected error (its message, no traceback) and where the log is; return 1, the exit
    status."""
    if warnings:
        print(f"warnings before the error ({len(warnings)}):", file=sys.stderr)
        for line in warnings:
            print(f"  ! {line}", file=sys.stderr)
    print(f"error: {exc}", file=sys.stderr)
    if log_path:
        print(f"(the log: {log_path})", file=sys.stderr)
    return 1


def print_reports(args: argparse.Namespace, reports: Mapping[str, Mapping[str, Any]]) -> int:
    """A stage command's output (``args``: its ``command``, ``source``, ``date``, ``json``,
    ``log_path``): the reports as JSON with ``--json``, else the summary, the log's path and
    the warnings that matter. Returns 0, the exit status."""
    if args.json:
        only = next(iter(reports.values())) if len(reports) == 1 else reports
        print(json.dumps(only, indent=2, default=str))
        return 0
    print(f"{args.command} of source {args.source} for {args.date}: done")
    for line in summary_lines(reports):
        print(line)
    logged = logged_warnings()
    logged_note = f" ({logged} warning{'s' if logged > 1 else ''} logged)" if logged else ""
    print(_line("log", args.log_path) + logged_note)
    warnings = warning_lines(reports)
    if warnings:
        print(f"warnings ({len(warnings)}):")
        for line in warnings:
            print(f"  ! {line}")
    return 0


def quiet_broken_pipe() -> int:
    """After the reader of stdout went away (``harvest preview ... | head``): send what is left
    to ``os.devnull``, so that flushing at exit raises nothing, and return 141 (128 + SIGPIPE),
    the status of a standard tool that the closed pipe stopped (see "Note on SIGPIPE" in the
    Python documentation of :mod:`signal`)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141
