"""Operators that run Harvest stages inside Airflow tasks.

``__init__`` only stores arguments; the spec, the settings (Airflow Connections, then the
environment) and the crawl are all resolved in ``execute()``, so parsing a DAG file stays cheap.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

# Leave the crawl child this much of the task's execution_timeout to stop and report cleanly.
_TIMEOUT_MARGIN_SECONDS = 30.0


def raw_asset(source: str) -> Asset:
    """The Asset of a source's raw partitions; each event's extra names the partition."""
    return Asset(name=f"harvest_raw_{source}", uri=f"harvest://raw/{source}", group="harvest_raw")


class ScrapeOperator(BaseOperator):
    """Crawl one source for one logical date into the raw store.

    :param source: the source name (its spec is ``<sources_dir>/<source>.yaml``).
    :param logical_date: ISO date of the partition to crawl (templated, default ``{{ ds }}``).
    :param sources_dir: where the specs are; default ``Settings.sources_dir``.
    :param crawl_timeout_seconds: stop the crawl after this long; default the task's
        ``execution_timeout`` minus a margin, so the crawl reports before Airflow kills it.

    Returns (XCom) the crawl's counts and the raw partition URI, and emits an event on
    :func:`raw_asset` with ``{logical_date, documents, raw_uri}`` as extra.
    """

    template_fields = ("source", "logical_date")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        source: str,
        logical_date: str = "{{ ds }}",
        sources_dir: str | None = None,
        crawl_timeout_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [raw_asset(source)])
        super().__init__(**kwargs)
        self.source = source
        self.logical_date = logical_date
        self.sources_dir = sources_dir
        self.crawl_timeout_seconds = crawl_timeout_seconds

    def _partition_date(self, context: Context) -> dt.date:
        value = (self.logical_date or "").strip()
        if not value:
            # A manual run without a logical date: crawl the day it was triggered for.
            run_after = context["dag_run"].run_after
            return run_after.date()
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise AirflowFailException(
                f"source {self.source!r}: logical_date {value!r} is not an ISO date (YYYY-MM-DD)"
            ) from None

    def _crawl_timeout(self) -> float | None:
        if self.crawl_timeout_seconds is not None:
            return self.crawl_timeout_seconds
        if self.execution_timeout is None:
            return None
        return max(self.execution_timeout.total_seconds() - _TIMEOUT_MARGIN_SECONDS, 1.0)

    def execute(self, context: Context) -> dict[str, Any]:
        from harvest.config import SpecError, load_spec
        from harvest.config.spec import spec_files
        from harvest.scraping.runner import CrawlError, run_crawl
        from harvest_airflow.connections import resolve_settings

        settings = resolve_settings()
        sources_dir = Path(self.sources_dir) if self.sources_dir else settings.sources_dir
        day = self._partition_date(context)
        paths = [p for p in spec_files(sources_dir) if p.stem == self.source]
        if not paths:
            raise AirflowFailException(
                f"source {self.source!r}: no spec {self.source}.yaml in {sources_dir} "
                "(set HARVEST_SOURCES_DIR or add the file)"
            )
        try:
            spec = load_spec(paths[0])
        except SpecError as exc:
            # A bad spec does not fix itself on retry.
            raise AirflowFailException(f"source {self.source!r}: bad spec: {exc}") from exc

        self.log.info(
            "Crawling source %s for %s into %s",
            self.source,
            day.isoformat(),
            settings.raw_store_url,
        )
        try:
            result = run_crawl(
                spec,
                day,
                settings,
                logger=self.log,  # type: ignore[arg-type]
                timeout_seconds=self._crawl_timeout(),
            )
        except CrawlError as exc:
            raise AirflowException(
                f"crawl of source {self.source!r} for {day.isoformat()} failed: {exc}"
            ) from exc
        summary = result.to_dict()
        if summary.get("exit_code") not in (0, None):
            raise AirflowException(
                f"crawl of source {self.source!r} for {day.isoformat()} exited with code "
                f"{summary['exit_code']}; see the crawl log lines above"
            )
        failed = int(summary.get("failed_pages") or 0)
        if int(summary.get("pages") or 0) <= failed:
            raise AirflowException(
                f"crawl of source {self.source!r} for {day.isoformat()} fetched no page "
                f"({failed} failed); is {spec.resolved_base_url()} up? "
                f"(override the URL with HARVEST_SOURCE_{self.source.upper()}_BASE_URL)"
            )
        self.log.info(
            "Source %s %s: %s pages, %s documents, %s failed pages, %s JS pages -> %s",
            self.source,
            day.isoformat(),
            summary.get("pages"),
            summary.get("documents"),
            summary.get("failed_pages"),
            summary.get("js_pages"),
            summary.get("raw_uri"),
        )
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = {
                    "source": self.source,
                    "logical_date": day.isoformat(),
                    "documents": summary.get("documents"),
                    "raw_uri": summary.get("raw_uri"),
                }
        return summary
