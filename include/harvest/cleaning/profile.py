"""The profiling report of a cleaned partition: skrub's ``TableReport`` (every column's type,
missing values, distribution, most frequent values, and the associations between columns) as one
self-contained HTML page (its CSS and JS inline: it renders offline; skrub sends nothing).

The cost is bounded by the settings: at most ``profile_max_rows`` rows (a uniform sample with a
fixed seed, so a re-run profiles the same rows), the first ``profile_max_columns`` columns, and
``profile_seconds`` of wall-clock time (the report is built in a child process, stopped when
over). The page is written beside the staged Parquet and recorded
(:mod:`harvest.storage.artifacts`, kind ``profile``) with what it read and cost. A report that
fails or runs out of time is a warning, never a failed partition.

Why skrub and not ydata-profiling (pandas-profiling's successor): ydata-profiling 4.18 needs
pandas < 3, numpy < 2.4 and scipy < 1.17, which the lock cannot take; skrub installs beside
the lock (it adds only pydot) and reads pandas 3 frames in the pipeline's own process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.config.settings import Settings
from harvest.partitions import Partition
from harvest.storage.artifacts import artifact_uri, record_artifact, write_bytes

log = logging.getLogger(__name__)

KIND = "profile"
SAMPLE_SEED = 0


@dataclass(frozen=True)
class ProfileReport:
    """What profiling one partition did: ``status`` is ``built``, ``off`` (``profile_max_rows``
    = 0), ``timed out`` or ``failed`` (``message`` says why); ``seconds`` is wall-clock time."""

    status: str
    uri: str = ""
    rows: int = 0
    rows_profiled: int = 0
    columns: int = 0
    columns_profiled: int = 0
    seconds: float = 0.0
    budget_seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bounded_frame(frame: pd.DataFrame, max_rows: int, max_columns: int) -> pd.DataFrame:
    """The part of ``frame`` that is profiled: its first ``max_columns`` columns and, above
    ``max_rows`` rows, a uniform sample of them (seed fixed, rows kept in their order)."""
    bounded = frame.iloc[:, :max_columns]
    if len(bounded) > max_rows:
        bounded = bounded.sample(n=max_rows, random_state=SAMPLE_SEED).sort_index()
    return bounded


def report_html(frame: pd.DataFrame, title: str, plots: bool = True) -> str:
    """skrub's ``TableReport`` of ``frame`` as one HTML page (no outside resource); ``plots``:
    each column's distribution (matplotlib, inline SVG; most of the cost)."""
    from skrub import TableReport

    report = TableReport(frame, title=title, verbose=0, plot_distributions=plots)
    return str(report.html())


def _child(frame: pd.DataFrame, title: str, plots: bool, out: str) -> None:  # pragma: no cover
    try:
        Path(out).write_text(report_html(frame, title, plots), encoding="utf-8")
    except BaseException as exc:  # the parent reads the reason
        Path(out + ".error").write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        raise SystemExit(1) from exc


def _context() -> multiprocessing.context.ForkServerContext:
    """A ``forkserver`` context with skrub preloaded: each report's process is forked from a
    clean server started once per process (a plain fork of a task that has run OpenMP code,
    LightGBM or de-duplication, can hang in the child), without importing skrub again."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["skrub", "harvest.cleaning.profile"])
    return context


def start_profile_server(settings: Settings) -> bool:
    """Start the process the reports are forked from (the ``forkserver`` of :func:`_context`:
    Python and skrub imported, 1.5 s of CPU) now rather than at the first report, when reports
    are on (``profile_max_rows`` > 0); whether it was started. It starts in the background: a
    process that will clean a partition and has other work first (``make demo``: Airflow's
    start) does that work meanwhile, and the first report waits only for what is left. The
    first report uses it as it would have started it (the same server, the same preloaded
    modules; :mod:`multiprocessing` starts one per process)."""
    if settings.profile_max_rows <= 0:
        return False
    _context()
    multiprocessing.forkserver.ensure_running()
    return True


@contextlib.contextmanager
def _main_not_run_again() -> Iterator[None]:
    """While a report's child starts: ``multiprocessing`` runs the parent's main script again in
    the child (as ``__mp_main__``) unless the main module names neither a path nor a module. The
    child needs nothing of it (its target is this module's), and in an Airflow task the main
    script is the ``airflow`` command, whose import fails there (the task blocks the metadata
    DB's URL in its environment), so every report under ``make up`` failed with exit code 1."""
    main = sys.modules["__main__"]
    spec, path = getattr(main, "__spec__", None), vars(main).pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            main.__file__ = path


def _build_within(
    frame: pd.DataFrame, title: str, plots: bool, seconds: float
) -> tuple[str | None, str]:
    """The report's HTML built in a child process within ``seconds``; ``(None, why)`` when it
    failed or ran out of time (the child is then stopped)."""
    with tempfile.TemporaryDirectory(prefix="harvest-profile-") as folder:
        out = os.path.join(folder, "report.html")
        child = _context().Process(target=_child, args=(frame, title, plots, out), daemon=True)
        with _main_not_run_again():
            child.start()
        child.join(seconds)
        if child.is_alive():
            child.kill()
            child.join()
            return None, f"timed out: over the {seconds:g} s budget (HARVEST_PROFILE_SECONDS)"
        error = Path(out + ".error")
        if child.exitcode != 0 or not os.path.exists(out):
            reason = (
                error.read_text(encoding="utf-8")
                if error.exists()
                else "before building it (the child's traceback is on this process's stderr)"
            )
            return None, f"failed (exit code {child.exitcode}) {reason}".strip()
        return Path(out).read_text(encoding="utf-8"), ""


def profile_partition(
    frame: pd.DataFrame, partition: Partition, settings: Settings
) -> ProfileReport:
    """Profile the cleaned ``frame`` of ``partition`` within the settings' bounds, write the page
    beside the staged Parquet and record it; never raises (a failure is logged as a warning
    and recorded with its reason)."""
    started = time.perf_counter()
    budget = settings.profile_seconds
    if settings.profile_max_rows <= 0:
        return ProfileReport(status="off", rows=len(frame), columns=frame.shape[1])
    bounded = bounded_frame(frame, settings.profile_max_rows, settings.profile_max_columns)
    base = {
        "rows": len(frame),
        "rows_profiled": len(bounded),
        "columns": frame.shape[1],
        "columns_profiled": bounded.shape[1],
        "budget_seconds": budget,
    }
    uri, message = "", ""
    try:
        title = f"{partition.source} {partition.iso}: cleaned partition"
        html, message = _build_within(bounded, title, settings.profile_plots, budget)
        if html is not None:
            uri = write_bytes(
                artifact_uri(settings.staging_url, partition, f"{KIND}.html"), html.encode()
            )
    except Exception as exc:  # a view of the data: never fail the partition over it
        message = f"failed: {type(exc).__name__}: {exc}"
    status = "built" if uri else ("timed out" if message.startswith("timed out") else "failed")
    report = ProfileReport(
        status=status, uri=uri, seconds=time.perf_counter() - started, message=message, **base
    )
    if message:
        log.warning("profiling report of %s not built: %s", partition, message)
    try:
        record_artifact(settings.staging_url, partition, KIND, report.to_dict())
    except Exception as exc:
        log.warning("profiling report of %s not recorded: %s", partition, exc)
    return report
