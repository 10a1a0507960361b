"""The crawl child as a process, seen from the parent: its log lines streamed, its progress
shown, its process group killed on a timeout or on SIGTERM, and its death tied to the parent's (Linux ``prctl``).
Used by :func:`harvest.scraping.runner.run_crawl`."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from harvest.progress import track

_LEVEL_RE = re.compile(r"\] (DEBUG|INFO|WARNING|ERROR|CRITICAL): ")
_LEVELS = {
    name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
}


def _stream(pipe: Any, logger: logging.Logger, tail: collections.deque[str]) -> None:
    for raw in pipe:
        line = raw.rstrip("\n")
        if not line:
            continue
        tail.append(line)
        match = _LEVEL_RE.search(line)
        level = _LEVELS.get(match.group(1), logging.INFO) if match else logging.INFO
        logger.log(level, "%s", line)
    pipe.close()


def _read_progress(fd: int, description: str) -> None:
    """Show the crawl child's progress lines (:mod:`harvest.crawler.progress`) read from ``fd``
    as the step ``description`` of :mod:`harvest.progress`, until the child closes its end."""
    with track(description, unit="pages") as step, os.fdopen(fd, encoding="utf-8") as pipe:
        for line in pipe:
            try:
                counts = json.loads(line)
                step.update(int(counts["done"]), int(counts["total"]))
            except (ValueError, KeyError, TypeError):  # a line cut short: the next one says it
                continue


def _spawn(
    command: list[str], env: Mapping[str, str], pass_fds: tuple[int, ...]
) -> subprocess.Popen[str]:
    """Start a crawl child: its output (stdout and stderr) on a text pipe read line by line,
    no stdin, its own process group (so a timeout kills its browsers too), SIGTERM when this
    process dies, ``pass_fds`` inherited."""
    return subprocess.Popen(  # noqa: S603 - our own module, run with our own interpreter
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        env=dict(env),
        start_new_session=True,
        preexec_fn=_die_with_parent,  # prctl only: safe before exec
        pass_fds=pass_fds,
    )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _die_with_parent() -> None:
    """In the child, before exec: be sent SIGTERM when the parent dies (Linux ``prctl``)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def _forward_sigterm(proc: subprocess.Popen[str]) -> Iterator[None]:
    """While the crawl runs, SIGTERM to this process kills the crawl's process group first.

    The child runs in its own session (so a timeout can kill its browsers too), which also means
    a SIGTERM sent to this process alone would not reach it. The previous handler (Airflow's,
    say) runs afterwards; without one, this process exits with 143 as SIGTERM's default would.
    Only possible in the main thread; elsewhere ``_die_with_parent`` still covers the child.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        _kill_group(proc)
        if callable(previous):
            previous(signum, frame)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
