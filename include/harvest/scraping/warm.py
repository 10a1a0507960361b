"""A crawl child started ahead of its crawl, for a process that knows one is coming.

``make demo`` runs the scrape task in its own process (``dag.test()``) after 5 to 7 s of
Airflow's start-up (importing it, parsing the DAG, building the in-process execution API): in
that time a crawl child started by :func:`warm_crawl_child` (``python -m harvest.crawler.warm``)
starts Python and imports Scrapy and the crawler on the other core, then waits. The crawl that
:func:`~harvest.scraping.runner.run_crawl` asks for next takes it (:func:`take_warm_child`) and
writes it its arguments, environment and working directory: from then on it is the child
``python -m harvest.crawler.crawl`` would have been (same arguments and environment, its own
process group, SIGTERM when this process dies, its log and progress pipes, its deadline and
timeout), only its imports are done.

A crawl gets a new child as before when none waits (``harvest run``, Celery workers, a retry:
a warm child serves one crawl), or when the one waiting was started with other interpreter
start-up settings (the interpreter, the working directory, ``PYTHON*``, locale or ``TZ``
variables: they act before any order can). A warm child not taken is ended when the block
ends, having only imported modules.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harvest.scraping.child import _kill_group, _spawn

if TYPE_CHECKING:
    from harvest.config.settings import Settings

log = logging.getLogger(__name__)

_STARTUP_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ")


def startup_key(env: Mapping[str, str]) -> tuple[object, ...]:
    """What a child's interpreter reads as it starts, before it could read an order: two
    environments with the same key start the same interpreter (same ``sys.path``, encodings,
    warnings filters, time zone)."""
    names = sorted(
        name for name in env if name.startswith(("PYTHON", "LC_")) or name in _STARTUP_NAMES
    )
    return (sys.executable, os.getcwd(), tuple((name, env[name]) for name in names))


@dataclass
class WarmChild:
    """A crawl child waiting for its order on ``order_fd``; ``progress_fd`` is this process's
    end of its progress pipe, ``child_progress_fd`` the number of the child's end."""

    proc: subprocess.Popen[str]
    key: tuple[object, ...]
    order_fd: int
    progress_fd: int
    child_progress_fd: int
    taken: bool = False  # its order written: it is (or was) a crawl

    def order(
        self, argv: list[str], env: Mapping[str, str]
    ) -> tuple[subprocess.Popen[str], int] | None:
        """Hand this child the crawl ``python -m harvest.crawler.crawl ARGV`` with ``env``
        (its progress pipe added to ``argv``): (the process, this process's end of its
        progress pipe), or None if it ended meanwhile (then ended here, fds closed)."""
        order = {"argv": [*argv, "--progress-fd", str(self.child_progress_fd)],
                 "env": dict(env), "cwd": os.getcwd()}  # fmt: skip
        try:
            with os.fdopen(self.order_fd, "wb") as pipe:
                pipe.write(json.dumps(order).encode())
        except OSError as exc:  # BrokenPipe: it died before its order
            log.debug("crawl child %s started ahead is gone (%s): a new one", self.proc.pid, exc)
            self.end(order_closed=True)
            return None
        log.debug("crawl child %s started ahead takes the crawl", self.proc.pid)
        self.taken = True
        return self.proc, self.progress_fd

    def end(self, order_closed: bool = False) -> None:
        """End the child unused: its process group killed, this process's fds closed."""
        if not order_closed:
            os.close(self.order_fd)
        os.close(self.progress_fd)
        _kill_group(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_waiting: list[WarmChild] = []
_lock = threading.Lock()


def start_warm_child(env: Mapping[str, str], monitors: bool = False) -> WarmChild:
    """Start a crawl child with ``env`` that imports the crawler (and Spidermon if
    ``monitors``) and waits for its order."""
    order_read, order_fd = os.pipe()
    progress_fd, child_progress_fd = os.pipe()
    command = [sys.executable, "-m", "harvest.crawler.warm", "--order-fd", str(order_read)]
    command += ["--monitors"] * monitors
    try:
        proc = _spawn(command, env, (order_read, child_progress_fd))
    except BaseException:
        os.close(order_fd)
        os.close(progress_fd)
        raise
    finally:
        os.close(order_read)
        os.close(child_progress_fd)
    return WarmChild(proc, startup_key(env), order_fd, progress_fd, child_progress_fd)


def take_warm_child(env: Mapping[str, str]) -> WarmChild | None:
    """The crawl child waiting to crawl with ``env``, no longer waiting; None if none (one
    started with other start-up settings, or ended, is ended here)."""
    with _lock:
        warm = _waiting.pop() if _waiting else None
    if warm is None:
        return None
    if warm.proc.poll() is None and warm.key == startup_key(env):
        return warm
    log.debug("crawl child %s started ahead does not fit this crawl: a new one", warm.proc.pid)
    warm.end()
    return None


@contextlib.contextmanager
def warm_crawl_child(settings: Settings, monitors: bool = False) -> Iterator[WarmChild]:
    """While the block runs, a crawl child started with the environment a crawl with
    ``settings`` gets waits for the next :func:`~harvest.scraping.runner.run_crawl` of this
    process; ended at the end of the block if none took it. ``monitors``: the crawl's spec
    runs crawl monitors (``spec.monitors.enabled``): Spidermon is imported too. Call it from the thread that will
    crawl (or the main thread): the child gets SIGTERM when the thread that started it ends."""
    from harvest.scraping.runner import _child_env

    warm = start_warm_child(_child_env(settings), monitors)
    with _lock:
        _waiting.append(warm)
    try:
        yield warm
    finally:
        with _lock:
            unused = warm in _waiting
            if unused:
                _waiting.remove(warm)
        if unused:
            warm.end()
