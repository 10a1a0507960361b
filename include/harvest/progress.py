"""Progress of a long step: a bar on a terminal, a log line now and then anywhere else.

A step (the pages of a crawl, the batches of a validation, the trials of an Optuna study)
reports through :func:`track`. What the reports become is chosen once per process by what owns
the console (the command line, ``make demo``), with :func:`show_bars`:

- on a terminal, bars (rich) on that stream, transient: gone before the command prints its
  summary, so they never mix with it; steps running at once share one display;
- anywhere else (an Airflow task log, CI, a pipe, ``-v``), no bar: at most one log line per
  :data:`LOG_EVERY_SECONDS` per step (``crawling demo: 120/300 pages``), none for a short step.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

logger = logging.getLogger("harvest.progress")

LOG_EVERY_SECONDS = 30.0  # without bars: the least gap between two progress lines of a step


class _Bars:
    """One rich display on a terminal stream, started by the first step and stopped by the last."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,  # the tasks' own output goes where it went (a log file)
            redirect_stderr=False,
            refresh_per_second=4,
        )
        self.active = 0
        self.lock = threading.Lock()

    def add(self, description: str, total: int | None, unit: str) -> Any:
        with self.lock:
            if self.active == 0:
                self.progress.start()
            self.active += 1
            return self.progress.add_task(description, total=total, unit=unit)

    def remove(self, task_id: Any) -> None:
        with self.lock:
            self.progress.refresh()  # the step's last state is drawn once before it goes
            self.progress.remove_task(task_id)
            self.active -= 1
            if self.active == 0:
                self.progress.stop()


_bars: _Bars | None = None


def show_bars(stream: TextIO | None, *, force_terminal: bool = False) -> bool:
    """Draw progress bars on ``stream`` from now on when it is a terminal (not a dumb one), or
    always with ``force_terminal``; ``None`` (or a stream that is no terminal) turns them off:
    steps then log a line now and then. Returns whether bars are drawn."""
    global _bars
    if _bars is not None and _bars.active:
        _bars.progress.stop()
    _bars = None
    if stream is None:
        return False
    from rich.console import Console

    console = Console(file=stream, force_terminal=force_terminal or None, highlight=False)
    if not console.is_terminal or console.is_dumb_terminal:
        return False
    _bars = _Bars(console)
    return True


def echo(text: str, stream: TextIO) -> None:
    """Write the line ``text`` to ``stream``: above the bars while they are drawn on a terminal
    (a line written past them would be torn by their next refresh)."""
    bars = _bars
    if bars is not None and bars.active and stream.isatty():
        bars.console.out(text, highlight=False)
        return
    stream.write(text + "\n")
    stream.flush()


class Step:
    """A step's progress: ``completed`` of ``total`` ``unit`` (a total may grow, or be unknown:
    ``None``). Made by :func:`track`."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0
        self._bars = _bars
        self._task = self._bars.add(description, total, unit) if self._bars else None
        self._logged_at = time.monotonic()

    def update(self, completed: int, total: int | None = None) -> None:
        """Say that ``completed`` units are done (of ``total``, when it is known or changed)."""
        self.completed = completed
        if total is not None:
            self.total = total
        if self._bars is not None:
            if self._task is not None:
                self._bars.progress.update(self._task, completed=completed, total=self.total)
            return
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            of = f"/{self.total}" if self.total is not None else ""
            logger.info("%s: %d%s %s", self.description, completed, of, self.unit)

    def advance(self, units: int = 1) -> None:
        """Say that ``units`` more units are done."""
        self.update(self.completed + units)

    def close(self) -> None:
        if self._bars is not None and self._task is not None:
            self._bars.remove(self._task)
            self._task = None


@contextlib.contextmanager
def track(description: str, total: int | None = None, *, unit: str = "") -> Iterator[Step]:
    """The progress of one step, for the time of the ``with`` block: ``step.update(done,
    total)`` or ``step.advance()``; drawn or logged as :func:`show_bars` chose."""
    step = Step(description, total, unit)
    try:
        yield step
    finally:
        step.close()


def each(description: str, items: Sequence[T], *, unit: str = "") -> Iterator[T]:
    """``items`` one by one, as the step ``description`` of ``len(items)`` ``unit``: one
    more done each time the loop's body asks for the next (run the loop to its end)."""
    with track(description, len(items), unit=unit) as step:
        for item in items:
            yield item
            step.advance()
