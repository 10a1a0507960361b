"""What a person reads at the console: the summary, the warnings, the log file, the errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvest.__main__ import main
from harvest.console import configure_logging, logged_warnings, summary_lines, warning_lines


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_library_logs_go_to_the_file_and_only_with_verbose_to_the_console(
    tmp_path: Path, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    log = configure_logging(tmp_path / "logs", "run")
    logging.getLogger("scrapy.crawler").info("Overridden settings: {'BOT_NAME': 'harvest'}")
    logging.getLogger("great_expectations").info("Skipping registering function get_context")
    logging.getLogger("harvest.validation").warning("2 of 300 records failing")
    assert capsys.readouterr().err == ""
    text = log.read_text(encoding="utf-8")
    assert "Overridden settings" in text and "Skipping registering" in text
    assert "2 of 300 records failing" in text
    assert logged_warnings() == 1
    assert log.parent == tmp_path / "logs" and log.name.startswith("harvest-run-")

    verbose_log = configure_logging(tmp_path / "logs", "crawl", verbose=True)
    logging.getLogger("scrapy.crawler").info("Spider opened")
    assert "Spider opened" in capsys.readouterr().err
    assert "Spider opened" in verbose_log.read_text(encoding="utf-8")
    assert "Spider opened" not in log.read_text(encoding="utf-8")
    assert logged_warnings() == 0


REPORTS: dict[str, dict[str, Any]] = {
    "scrape": {
        "pages": 12,
        "documents": 12,
        "failed_pages": 2,
        "js_pages": 3,
        "js_unavailable": 1,
        "cached_responses": 12,
        "raw_uri": "file:///h/raw/shop/2026-11-26.jsonl",
        "finish_reason": "finished",
        "partial": False,
        "max_pages_skipped": 4,
        "depth_limit_skipped": 0,
        "monitors": [
            {"monitor": "item_count", "status": "passed", "message": "enough"},
            {"monitor": "retry_count", "status": "failed", "message": "3 requests retried"},
        ],
        "completeness": {
            "levels": [
                {"level": "categories", "cards_seen": 0, "cards_duplicate": 0},
                {"level": "list", "cards_seen": 11, "cards_duplicate": 1},
            ],
            "warnings": ["fewer records than cards: 8 of 10 cards"],
            "field_warnings": ["fields_regex_unmatched: field 'availability': 13 pages"],
        },
    },
    "validate": {
        "scraped": 10,
        "valid": 9,
        "quarantined": 1,
        "quarantined_by_reason": {"price:parse:price": 1},
        "warnings": ["expect_column_values_to_be_between on 'area': 1 of 10 failing"],
        "data_docs_path": "/h/data_docs/x.html",
    },
    "clean": {
        "duplicates": 1,
        "exact_duplicates_batch": 1,
        "exact_duplicates_history": 0,
        "near_duplicates_batch": 0,
        "near_duplicates_history": 0,
        "imputed": {"area": 2},
    },
    "load": {
        "source": "shop",
        "loaded": 8,
        "warehouse": "sqlite:////h/warehouse.db",
        "versions_opened": 3,
        "versions_closed": 1,
        "versions_unchanged": 4,
        "warnings": {"records_unaccounted": {"severity": "warning", "scraped": 10, "rows": 8}},
        "rechecked": ["2026-11-27", "2026-11-28"],
        "unchecked": ["2026-11-29"],
    },
}


def test_summary_has_a_line_per_figure_of_each_stage() -> None:
    lines = summary_lines(REPORTS)
    text = "\n".join(lines)
    for expected in (
        "  pages visited       12",
        "  cards seen          11 (1 repeating an item seen before: no second record)",
        "  failed pages        2",
        "  JS pages rendered   2",
        "  from HTTP cache     12",
        "  quarantined         1",
        "    price:parse:price         1",
        "  duplicates removed  1 (exact 1 + 0 history, near 0 + 0 history)",
        "  values imputed      2 (area 2)",
        "  rows loaded         8 into processed_shop",
        "  later dates         2026-11-27, 2026-11-28 de-duplicated again against this date",
        "  versions            3 opened, 1 closed, 4 unchanged, in versions_shop",
        "  warehouse           /h/warehouse.db",
        "  Data Docs           /h/data_docs/x.html",
    ):
        assert expected in lines, (expected, text)
    assert summary_lines({"validate": REPORTS["validate"]})[0] == "  records scraped     10"
    no_cards = {"scrape": {**REPORTS["scrape"], "completeness": {"levels": [{"cards_seen": 0}]}}}
    assert not any("cards seen" in line for line in summary_lines(no_cards))
    once = {"list": {"level": "list", "cards_seen": 4, "cards_duplicate": 0}}
    each_once = {"scrape": {**REPORTS["scrape"], "completeness": {"levels": [once["list"]]}}}
    assert "  cards seen          4" in summary_lines(each_once)
    in_order = {"load": {**REPORTS["load"], "rechecked": []}}
    assert not any("later dates" in line for line in summary_lines(in_order))
    replayed = {"scrape": {**REPORTS["scrape"], "replayed_from_cache": True}}
    assert "  from HTTP cache     12 (replayed without Scrapy)" in summary_lines(replayed)


def test_summary_says_which_stages_ran_on_dask() -> None:
    """A partition above the Dask threshold says so (nothing else tells the two paths apart);
    one on pandas prints no such line."""
    assert not any("on Dask" in line for line in summary_lines(REPORTS))
    dasked = {
        **REPORTS,
        "validate": {**REPORTS["validate"], "engine": "dask"},
        "clean": {**REPORTS["clean"], "engine": "dask"},
    }
    assert (
        "  on Dask             validate, clean (more records than HARVEST_DASK_THRESHOLD_ROWS)"
        in summary_lines(dasked)
    )
    fell_below = {**dasked, "clean": {**REPORTS["clean"], "engine": "pandas"}}
    assert "  on Dask             validate (" in "\n".join(summary_lines(fell_below))


def test_warnings_name_what_is_suspicious() -> None:
    lines = warning_lines(REPORTS)
    assert lines == [
        "2 page(s) failed (recorded in the raw partition)",
        "1 JavaScript page(s) not rendered: headless Chromium is not available (install "
        "chromium and chromium-driver); their JavaScript-only fields are missing",
        "the page budget (crawl.max_pages) was reached: 4 page(s) not fetched",
        "every page came from the HTTP cache: nothing was fetched from the site",
        "crawl monitor retry_count failed: 3 requests retried",
        "crawl: fewer records than cards: 8 of 10 cards",
        "crawl: fields_regex_unmatched: field 'availability': 13 pages",
        "validation: expect_column_values_to_be_between on 'area': 1 of 10 failing",
        "later date(s) 2026-11-29 not de-duplicated against this date (their validated records "
        "are gone from staging): re-run them",
        "records_unaccounted: scraped=10, rows=8",
    ]
    quiet = {"scrape": {"pages": 5, "failed_pages": 0, "cached_responses": 0}}
    assert warning_lines(quiet) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--source", "demo", "--date", "2026-11-02"],
        ["run", "--source", "demo", "--date", "2026-11-02", "--no-scrape"],
    ],
)
def test_a_stage_before_its_crawl_says_to_crawl_first(
    argv: list[str],
    harvest_env: Path,
    root_logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: no raw pages of source demo for 2026-11-02 (file://")
    assert "crawl the date first (`python -m harvest crawl --source demo --date 2026-11-02`" in (
        captured.err
    )
    assert "Traceback" not in captured.err


def test_an_expected_error_prints_no_traceback_and_names_the_log(
    harvest_env: Path, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clean", "--source", "demo", "--date", "2026-11-02"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: staged partition file://")
    assert "does not exist: run the task that writes it first" in err
    assert f"(the log: {harvest_env / 'logs'}/harvest-clean-" in err
    assert "Traceback" not in err


def test_ctrl_c_stops_a_command_without_a_traceback(
    harvest_env: Path,
    root_logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harvest.validation

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(harvest.validation, "validate", interrupted)
    monkeypatch.setattr("harvest.__main__._raw_partition_missing", lambda *_args: False)
    assert main(["validate", "--source", "demo", "--date", "2026-11-02"]) == 130
    err = capsys.readouterr().err
    assert err.startswith(f"interrupted (the log: {harvest_env / 'logs'}/harvest-validate-")
    assert "Traceback" not in err


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    """``harvest preview ... | head``: the reader goes away; the command stops without a
    traceback, with the status of a standard tool the closed pipe stopped (141)."""
    import os
    import subprocess
    import sys

    from harvest_demo import DemoSite, SiteConfig

    repo = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HARVEST_HOME": str(tmp_path / "home"),
        "PYTHONPATH": f"{repo / 'include'}:{repo / 'plugins'}",
    }
    with DemoSite(SiteConfig(seed=3, listings_per_day=5)) as site:
        url = f"{site.base_url}/listings/2026-03-01"
        command = [sys.executable, "-m", "harvest", "preview", "--source", "demo", "--url", url]
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # as `head` does once it has its lines
        err = child.stderr.read()
        assert child.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert err == "", err


def test_every_option_of_repair_and_of_the_demo_site_server_says_what_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--help` explains each option, with its default where it has one."""
    import argparse

    from harvest_demo.__main__ import build_parser

    with pytest.raises(SystemExit):
        main(["repair", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default 7)" in out and "(default 0.95)" in out
    assert "--source SOURCE a source in the sources folder" in out
    assert "--base-url BASE_URL where the site is served now" in out

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    silent = [a.option_strings for a in serve._actions if a.option_strings and not a.help]
    assert silent == [], f"options of `harvest_demo serve` without help: {silent}"
