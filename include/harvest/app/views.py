"""Each page's figures as plain values: frames read through the warehouse and the Plotly figures
drawn from them, no Streamlit. The pages (:mod:`harvest.app.pages`) render these; tests read the
figures' data (``fig.to_plotly_json()``) against the warehouse's own counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from harvest.config.spec import SourceSpec
from harvest.monitoring.history import PartitionResult
from harvest.monitoring.sla import CheckResult, check_freshness
from harvest.storage.warehouse import Warehouse

STAGE_COUNTS = ("scraped", "valid", "quarantined", "duplicates", "loaded")
"""The ``partition_loads`` counts of a partition, in the order the stages produce them."""

MONITOR_STATUS_CODE = {"failed": 0, "skipped": 1, "passed": 2}
"""How the crawl-monitor heatmap colours a status (red, grey, green)."""


@dataclass
class SourceHealth:
    """The Sources page of one source: its last nights (oldest first) and the figures."""

    source: str
    loads: pd.DataFrame  # partition_loads rows
    crawls: pd.DataFrame  # crawl_stats rows
    freshness: CheckResult
    figures: dict[str, go.Figure] = field(default_factory=dict)

    @property
    def newest(self) -> dict[str, Any] | None:
        """The newest partition's ``partition_loads`` row, or ``None``."""
        return None if self.loads.empty else self.loads.iloc[-1].to_dict()


def since_for(nights: int, today: dt.date) -> dt.date:
    """The first logical date of the last ``nights`` nights up to ``today``."""
    return today - dt.timedelta(days=nights - 1)


def freshness(spec: SourceSpec, loads: pd.DataFrame, now: dt.datetime) -> CheckResult:
    """The supervisor's freshness check (:func:`harvest.monitoring.sla.check_freshness`) of the
    newest loaded partition in ``loads``."""
    if loads.empty:
        return check_freshness(spec, None, now)
    row = loads.iloc[-1]
    newest = PartitionResult(
        logical_date=row["logical_date"],
        scraped=int(row["scraped"]),
        quarantined=int(row["quarantined"]),
        loaded=int(row["loaded"]),
        loaded_at=row["loaded_at"],
    )
    return check_freshness(spec, newest, now)


def _dates(frame: pd.DataFrame) -> list[str]:
    return [d.isoformat() for d in frame["logical_date"]]


def stage_counts_figure(loads: pd.DataFrame, crawls: pd.DataFrame) -> go.Figure:
    """Records per night at each stage (bars, ``partition_loads``) and pages fetched (a line,
    ``crawl_stats``)."""
    fig = go.Figure()
    for count in STAGE_COUNTS:
        fig.add_bar(name=count, x=_dates(loads), y=[int(v) for v in loads[count]])
    if not crawls.empty:
        fig.add_scatter(
            name="pages",
            x=_dates(crawls),
            y=[int(v) for v in crawls["pages"]],
            mode="lines+markers",
        )
    fig.update_layout(barmode="group", title="Records per night, by stage", xaxis_type="category")
    return fig


def _counts(crawls: pd.DataFrame, column: str) -> list[int | None]:
    """A ``crawl_stats`` count per night; ``None`` (a gap) where the row has none: a crawl stored
    before the column was, or a warehouse migrated before it."""
    if column not in crawls:
        return [None] * len(crawls)
    return [None if pd.isna(v) else int(v) for v in crawls[column]]


def completeness_figure(crawls: pd.DataFrame) -> go.Figure:
    """Per night (``crawl_stats``): the records the crawl produced (item pages + card items)
    against the cards its list pages showed and, of those, the cards of an item seen before
    (no second record); then its failed pages and the links it did not follow, by reason.

    Records and cards are the same unit whatever the source's shape: with nothing lost, a
    list-only source (each card a record) or one whose cards share item pages gives a record
    per card that is no repeat, and fewer is what the completeness account's
    ``records_below_cards`` warns of (per level: cards of a level before the last, which lead to
    more list pages, are seen here too); item pages without cards are records and no cards.
    The documents stored (``items``, one a page, list pages too) are no such unit and are not
    shown. A count the row does not have (a crawl stored before it was kept) is a gap, not 0."""
    fig = go.Figure()
    dates = _dates(crawls)
    fig.add_bar(name="records", x=dates, y=_counts(crawls, "records"))
    fig.add_bar(name="cards seen", x=dates, y=_counts(crawls, "cards_seen"))
    fig.add_bar(name="cards repeating an item", x=dates, y=_counts(crawls, "cards_duplicate"))
    fig.add_bar(name="failed pages", x=dates, y=_counts(crawls, "failed_pages"))
    reasons = sorted({r for links in crawls["links_skipped"] for r in (links or {})})
    for reason in reasons:
        values = [int((links or {}).get(reason, 0)) for links in crawls["links_skipped"]]
        fig.add_bar(name=f"skipped: {reason}", x=dates, y=values)
    fig.update_layout(barmode="group", title="Crawl completeness", xaxis_type="category")
    return fig


def quarantine_figure(by_reason: pd.DataFrame) -> go.Figure:
    """Quarantined records per night, stacked by reason (stage, field and check)."""
    fig = go.Figure()
    if by_reason.empty:
        fig.update_layout(title="Quarantined records by reason (none)")
        return fig
    frame = by_reason.assign(
        reason=by_reason["stage"] + ": " + by_reason["field"] + " " + by_reason["check"]
    )
    dates = sorted(frame["logical_date"].unique())
    for reason, rows in frame.groupby("reason", sort=True):
        per_date = rows.groupby("logical_date")["records"].sum()
        fig.add_bar(
            name=str(reason),
            x=[d.isoformat() for d in dates],
            y=[int(per_date.get(d, 0)) for d in dates],
        )
    fig.update_layout(barmode="stack", title="Quarantined records by reason", xaxis_type="category")
    return fig


def coverage_frame(coverage: pd.DataFrame) -> pd.DataFrame:
    """Share (0..1) of loaded rows with a value, a row per field, a column per date."""
    if coverage.empty:
        return pd.DataFrame()
    fields = [c for c in coverage.columns if c not in ("logical_date", "rows")]
    shares = coverage[fields].div(coverage["rows"].where(coverage["rows"] > 0), axis=0)
    shares.index = [d.isoformat() for d in coverage["logical_date"]]
    return shares.T.astype(float)


def coverage_figure(coverage: pd.DataFrame) -> go.Figure:
    """Field coverage per field over the nights: a heatmap of :func:`coverage_frame`."""
    shares = coverage_frame(coverage)
    fig = go.Figure()
    if shares.empty:
        fig.update_layout(title="Field coverage (nothing loaded)")
        return fig
    fig.add_heatmap(
        z=shares.to_numpy().round(4).tolist(),
        x=list(shares.columns),
        y=list(shares.index),
        zmin=0,
        zmax=1,
        colorscale="RdYlGn",
        colorbar={"title": "share"},
    )
    fig.update_layout(title="Field coverage (share of loaded rows with a value)")
    fig.update_xaxes(type="category")
    return fig


def monitors_figure(monitors: pd.DataFrame) -> go.Figure:
    """The crawl monitors per night: passed (green), skipped (grey), failed (red)."""
    fig = go.Figure()
    if monitors.empty:
        fig.update_layout(title="Crawl monitors (none stored)")
        return fig
    grid = monitors.pivot(index="monitor", columns="logical_date", values="status")
    codes = grid.apply(lambda col: col.map(MONITOR_STATUS_CODE)).astype(float)
    fig.add_heatmap(
        z=codes.to_numpy().tolist(),
        x=[d.isoformat() for d in grid.columns],
        y=list(grid.index),
        text=grid.to_numpy().tolist(),
        hovertemplate="%{y} on %{x}: %{text}<extra></extra>",
        zmin=0,
        zmax=2,
        colorscale=[[0, "#d62728"], [0.5, "#bbbbbb"], [1, "#2ca02c"]],
        showscale=False,
    )
    fig.update_layout(title="Crawl monitors")
    fig.update_xaxes(type="category")
    return fig


def source_health(
    warehouse: Warehouse, spec: SourceSpec, since: dt.date | None, now: dt.datetime
) -> SourceHealth:
    """The Sources page of ``spec``: its partitions since ``since`` and every figure.
    Raises :class:`~harvest.storage.warehouse.WarehouseError` when the warehouse cannot be read."""
    loads = warehouse.partition_loads(spec.name, since)
    crawls = warehouse.crawl_stats(spec.name, since)
    health = SourceHealth(spec.name, loads, crawls, freshness(spec, loads, now))
    health.figures = {
        "stages": stage_counts_figure(loads, crawls),
        "completeness": completeness_figure(crawls),
        "quarantine": quarantine_figure(warehouse.quarantine_by_reason(spec.name, since)),
        "coverage": coverage_figure(warehouse.field_coverage_by_date(spec, since)),
        "monitors": monitors_figure(warehouse.crawl_monitor_results(spec.name, since)),
    }
    return health


def overview(warehouse: Warehouse, specs: dict[str, SourceSpec], now: dt.datetime) -> pd.DataFrame:
    """A row per source: its newest partition's counts and its freshness against the SLA.
    Sources with partitions but no spec are listed with what the warehouse has."""
    rows = []
    for name in sorted(set(specs) | set(warehouse.sources())):
        loads = warehouse.partition_loads(name)
        newest = loads.iloc[-1] if not loads.empty else None
        row: dict[str, Any] = {"source": name, "partitions": len(loads)}
        row["newest"] = newest["logical_date"] if newest is not None else None
        for count in STAGE_COUNTS:
            row[count] = int(newest[count]) if newest is not None else None
        if name in specs:
            check = freshness(specs[name], loads, now)
            row["fresh"] = "stale" if check.missed else "fresh"
            row["freshness"] = check.message
        else:
            row["fresh"], row["freshness"] = None, "no spec for this source"
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class PartitionDetail:
    """The Partition page: one source and date."""

    source: str
    logical_date: dt.date
    counts: dict[str, int]  # stage -> count, in flow order (pages, records, then STAGE_COUNTS)
    quarantine: pd.DataFrame  # an issue a row: stage, field, check, severity, value, reason, url
    quarantine_by_reason: pd.DataFrame
    expectations: pd.DataFrame
    monitors: pd.DataFrame
    figures: dict[str, go.Figure] = field(default_factory=dict)


def partition_detail(
    warehouse: Warehouse, source: str, day: dt.date, limit: int = 1000
) -> PartitionDetail | None:
    """One partition's counts of every stage, quarantine, expectations and crawl monitors, or
    ``None`` when it was never loaded."""
    loads = warehouse.partition_loads(source, day)
    loads = loads[loads["logical_date"] == day]
    if loads.empty:
        return None
    row = loads.iloc[0]
    crawls = warehouse.crawl_stats(source, day)
    crawls = crawls[crawls["logical_date"] == day]
    counts: dict[str, int] = {}
    if not crawls.empty:
        counts["pages"] = int(crawls.iloc[0]["pages"])
        (records,) = _counts(crawls.iloc[:1], "records")
        if records is not None:  # the crawl's records, which validation reads as scraped
            counts["records"] = records
    counts.update({count: int(row[count]) for count in STAGE_COUNTS})
    detail = PartitionDetail(
        source,
        day,
        counts,
        warehouse.quarantine_issues(source, day, limit),
        warehouse.quarantine_by_reason(source, day=day),
        warehouse.validation_results(source, day),
        warehouse.crawl_monitor_results(source, day=day),
    )
    fig = go.Figure(go.Funnel(y=list(counts), x=list(counts.values()), textinfo="value"))
    fig.update_layout(title=f"{source} {day}: every stage's count")
    detail.figures["stages"] = fig
    return detail
