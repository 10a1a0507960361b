"""Progress of long steps: bars on a terminal, at most a log line now and then elsewhere."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from harvest import progress
from harvest.progress import each, echo, show_bars, track

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(autouse=True)
def no_bars() -> Iterator[None]:
    yield
    show_bars(None)


def frames(stream: io.StringIO) -> str:
    """What a terminal was sent, without its control sequences."""
    return ANSI.sub("", stream.getvalue())


def test_on_a_terminal_the_bar_advances_to_its_total_and_is_gone_at_the_end() -> None:
    terminal = io.StringIO()
    assert show_bars(terminal, force_terminal=True)
    bars = progress._bars
    assert bars is not None
    with track("crawling demo", unit="pages") as step:
        for done, total in ((1, 3), (7, 12), (12, 12)):  # the total grows as links are found
            step.update(done, total)
            bars.progress.refresh()  # as its refresh thread does 4 times a second
    text = frames(terminal)
    assert "crawling demo" in text
    drawn = [text.index(f"{done}/{total} pages") for done, total in ((1, 3), (7, 12), (12, 12))]
    assert drawn == sorted(drawn)
    # transient: after its last frame the bar's line is erased (a summary is printed there)
    assert "\x1b[2K" in terminal.getvalue().rpartition("12/12")[2]


def test_steps_of_a_loop_count_each_item_and_lines_go_above_the_bar() -> None:
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    assert show_bars(terminal, force_terminal=True)
    seen = []
    for batch in each("validating demo", ["a", "b", "c"], unit="batches"):
        seen.append(batch)
        if batch == "b":
            echo("    scrape      success (3 s)", terminal)
    assert seen == ["a", "b", "c"]
    text = frames(terminal)
    assert "validating demo" in text and "3/3 batches" in text
    assert "scrape      success (3 s)" in text


def test_off_a_terminal_no_bar_and_at_most_a_log_line_now_and_then(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pipe = io.StringIO()  # a pipe, a CI log, an Airflow task log
    assert not show_bars(pipe)
    caplog.set_level(logging.INFO, logger="harvest.progress")
    with track("tuning lightgbm", 10, unit="trials") as step:
        for _ in range(10):
            step.advance()
    assert pipe.getvalue() == ""
    assert caplog.messages == []  # a short step says nothing
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    with track("tuning lightgbm", 10, unit="trials") as step:
        step.update(4)
    assert caplog.messages == ["tuning lightgbm: 4/10 trials"]
    echo("a line", pipe)
    assert pipe.getvalue() == "a line\n"


def test_a_dumb_terminal_gets_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    assert not show_bars(terminal)
