"""The Catalogue and Browse pages' values: an item's versions over time as events and a step
chart, and a page of a processed table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from harvest.config.spec import SourceSpec


@dataclass(frozen=True)
class Event:
    """One thing that happened to an item: appeared, changed, unobserved, disappeared or
    reappeared."""

    logical_date: dt.date
    event: str
    detail: str = ""


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _changed(before: pd.Series, after: pd.Series, columns: list[str]) -> list[str]:
    """``column: old → new`` for each column whose value differs between two versions."""
    out = []
    for column in columns:
        a, b = before.get(column), after.get(column)
        if _missing(a) and _missing(b):
            continue
        if _missing(a) or _missing(b) or str(a) != str(b):
            out.append(f"{column}: {a} → {b}")
    return out


def item_events(versions: pd.DataFrame, fields: list[str], observed: list[dt.date]) -> list[Event]:
    """What happened to one item of a catalogue source, from its versions (oldest first):
    appeared on the first ``valid_from``; changed on each later one that continues the one
    before (which fields, old → new), reappeared on one after a gap;
    unobserved on each date in ``observed`` (the dates the source was loaded) inside an open
    version's span after its ``last_seen`` (its list page failed: the version stays open);
    disappeared on a ``valid_to`` that no version continues."""
    events: list[Event] = []
    rows = [row for _, row in versions.iterrows()]
    columns = [c for c in fields if c in versions.columns]
    for i, row in enumerate(rows):
        if i == 0:
            events.append(Event(row["valid_from"], "appeared"))
        elif rows[i - 1]["valid_to"] != row["valid_from"]:  # gone for a while, then back
            events.append(Event(row["valid_from"], "reappeared"))
        else:
            detail = "; ".join(_changed(rows[i - 1], row, columns))
            events.append(Event(row["valid_from"], "changed", detail))
        end = row["valid_to"] if not pd.isna(row["valid_to"]) else None
        for day in observed:
            if day > row["last_seen"] and (end is None or day < end):
                events.append(Event(day, "unobserved", "its list page was not read whole"))
        continues = i + 1 < len(rows) and rows[i + 1]["valid_from"] == end
        if end is not None and not continues:
            events.append(Event(end, "disappeared", f"last seen {row['last_seen']}"))
    return sorted(events, key=lambda e: e.logical_date)


def step_figure(versions: pd.DataFrame, column: str, until: dt.date, title: str) -> go.Figure:
    """A step chart of ``column`` over the item's versions: each value from its ``valid_from``
    to its ``valid_to`` (or ``until`` for the current one); gaps where the item was gone."""
    fig = go.Figure()
    xs: list[str | None] = []
    ys: list[float | None] = []
    for _, row in versions.iterrows():
        end = row["valid_to"] if not pd.isna(row["valid_to"]) else until
        value = row[column]
        y = None if pd.isna(value) else float(value)
        if xs and xs[-1] != row["valid_from"].isoformat():
            xs.append(None)
            ys.append(None)
        xs += [row["valid_from"].isoformat(), end.isoformat()]
        ys += [y, y]
    fig.add_scatter(name=column, x=xs, y=ys, mode="lines+markers", line_shape="hv")
    fig.update_layout(title=title)
    return fig


def numeric_columns(spec: SourceSpec, versions: pd.DataFrame) -> list[str]:
    """The columns of the spec's fields an item's step chart can draw (numbers), in spec order."""
    out = []
    for name, field_spec in spec.detail.fields.items():
        for column in field_spec.columns(name):
            values = versions.get(column)
            if values is None or pd.api.types.is_bool_dtype(values):
                continue
            if pd.api.types.is_numeric_dtype(values):
                out.append(column)
    return out
