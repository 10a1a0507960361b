"""Work done in this process while a crawl child runs.

During a crawl the parent only waits for its child (:func:`harvest.scraping.runner.run_crawl`),
one core idle on a quiet machine. A caller that runs the later stages in the same process
(``python -m harvest run``: :func:`harvest.pipeline.run_partition`; ``make demo``: Airflow's
``dag.test()`` runs every task in the process that called it) hands that wait the later
stages' start-up work with :func:`while_crawling`, e.g. importing Great Expectations (2 to 3
seconds of CPU) before the validate stage needs it. An Airflow worker runs each task in its
own process, so the Airflow adapters never do: the work would be thrown away there.

The work runs in a background thread started once the crawl child is started, and the crawl
waits for it after its child has exited, so that the work and the stages never import the same
modules at the same time (a partly imported module seen by the other thread). A crawl shorter
than the work returns that much later; the next stage then finds the work done. A failure in
the work is logged (debug) and forgotten: the stage that needs it does it again and raises its
own error there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harvest.config.spec import SourceSpec

log = logging.getLogger(__name__)

Work = Callable[["SourceSpec"], object]

_works: list[Work] = []


@contextlib.contextmanager
def while_crawling(work: Work) -> Iterator[None]:
    """Within this block, every crawl this process runs calls ``work(spec)`` (``spec``: the
    crawled source's spec) in a background thread while its child runs."""
    _works.append(work)
    try:
        yield
    finally:
        _works.remove(work)


def _run(works: tuple[Work, ...], spec: SourceSpec) -> None:
    for work in works:
        try:
            work(spec)
        except Exception:  # the stage that needs it does it again and says what failed
            log.debug("work while crawling %s failed", spec.name, exc_info=True)


def start(spec: SourceSpec) -> threading.Thread | None:
    """The thread running the work handed by :func:`while_crawling` for a crawl of ``spec``
    (started), or ``None`` when there is none."""
    if not _works:
        return None
    thread = threading.Thread(
        target=_run, args=(tuple(_works), spec), name="while-crawling", daemon=True
    )
    thread.start()
    return thread
