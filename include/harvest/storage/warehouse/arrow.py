"""Frames to Arrow: a partition's rows as the exact columns and types of their table, checked
(partition columns, required columns, unique keys) before anything is written.

Text is checked too: a value that PostgreSQL cannot store (NUL) or that cannot be encoded as
UTF-8 (surrogates) is repaired with :func:`harvest.text.normalise_text` and logged, so both
backends store the same string. Extraction already normalises every text it takes in; this is
the guard for any other writer (quarantine rows of later stages, frames loaded by hand).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.fields import field_kind
from harvest.storage.warehouse.errors import FrameError
from harvest.storage.warehouse.schema import processed_columns, sql_type
from harvest.text import TextRepairs, normalise_text

log = logging.getLogger(__name__)


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type=type_) if n else pa.array([], type=type_)


def _check_partition_column(frame: pd.DataFrame, column: str, expected: str, where: str) -> None:
    """A ``source``/``logical_date`` column in the frame must hold the partition's own value."""
    if column not in frame or frame.empty:
        return
    # unique on the column's own dtype (a hash of int64 for timestamps), then each value alone
    for value in frame[column].unique():
        # a staged logical_date is a date, a timestamp or ISO text: compared as its ISO day
        found = str(value)[:10] if column == "logical_date" else value
        if found != expected:
            raise FrameError(
                f"{where}: column {column!r} holds {value!r}; every row must belong to the "
                f"partition being written ({expected})"
            )


def _to_arrow(values: pd.Series, kind: str, column: str, where: str) -> pa.Array:
    """One column, as the Arrow type its SQL column stores; bad values raise :class:`FrameError`."""
    try:
        field = field_kind(kind)
        if isinstance(sql_type(field), sa.JSON):  # stored as JSON: staged as its text
            return _json_lists(values)
        target = field.arrow_type()
        if pa.types.is_date(target):
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.date
            try:
                return pa.array(values.astype(object), type=target, from_pandas=True)
            except pa.ArrowException:  # ISO strings
                return pc.cast(pa.array(values.astype("string")), target)
        if pa.types.is_string(target):
            return _text(values, column, where)
        return pa.array(values, type=target, from_pandas=True)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise FrameError(f"{where}: column {column!r} cannot be stored as {kind}: {exc}") from exc


def _text(values: pd.Series, column: str, where: str) -> pa.Array:
    """A text column as Arrow; values holding NUL or surrogates are repaired (see the module
    docstring) and counted in a warning. Costs one vectorised scan when there is none."""
    try:
        array = pa.array(values.astype("string"), type=pa.string(), from_pandas=True)
        if not pc.any(pc.match_substring(array, "\x00")).as_py():
            return array
    except UnicodeEncodeError:  # surrogates
        pass
    repairs = TextRepairs()
    repaired = [None if pd.isna(v) else normalise_text(str(v), repairs) for v in values]
    log.warning(
        "%s: column %r: %s before writing; text should be normalised where it enters "
        "(harvest.text.normalise_text)",
        where,
        column,
        repairs.describe(),
    )
    return pa.array(repaired, type=pa.string())


_LIST_LIKE = (list, tuple, np.ndarray)


def _json_lists(values: pd.Series) -> pa.Array:
    """:func:`_json_list` of every value, computed once per distinct value."""
    memo: dict[Any, str] = {}
    out = []
    for value in values:
        if isinstance(value, np.ndarray) and not value.size:  # most rows: nothing imputed
            out.append("[]")
            continue
        try:
            # an array's items as Python objects: hashed far faster than numpy scalars
            key = (
                tuple(value.tolist() if isinstance(value, np.ndarray) else value)
                if isinstance(value, _LIST_LIKE)
                else value
            )
            text = memo.get(key)
            if text is None:
                text = memo[key] = _json_list(value)
        except TypeError:  # unhashable
            text = _json_list(value)
        out.append(text)
    return pa.array(out, type=pa.string())


def _json_list(value: Any) -> str:
    """``imputed`` as a JSON list of field names, from a list, an array, JSON text or nothing."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "[]"
    if isinstance(value, str):
        parsed = json.loads(value) if value.strip().startswith("[") else [value] if value else []
        return json.dumps([str(v) for v in parsed])
    return json.dumps([str(v) for v in value])


def processed_arrow(spec: SourceSpec, logical_date: dt.date, frame: pd.DataFrame) -> pa.Table:
    """The rows of a partition as an Arrow table with exactly the processed table's columns.

    The frame needs ``url`` and every spec field (and ``<field>_currency`` for prices);
    ``source``/``logical_date`` are checked when present, ``is_duplicate_of`` and ``imputed`` are
    optional. Keys must be present and unique.
    """
    where = f"source {spec.name}, logical date {logical_date}"
    _check_partition_column(frame, "source", spec.name, where)
    _check_partition_column(frame, "logical_date", logical_date.isoformat(), where)
    key = spec.detail.key
    n = len(frame)
    arrays: dict[str, pa.Array] = {}
    for column, kind in processed_columns(spec).items():
        if column == "source":
            arrays[column] = _constant(spec.name, n, pa.string())
        elif column == "logical_date":
            arrays[column] = _constant(logical_date, n, pa.date32())
        elif column == "record_key":
            arrays[column] = _to_arrow(_required(frame, key, where), "text", key, where)
        elif column in ("is_duplicate_of", "imputed") and column not in frame:
            arrays[column] = _constant("[]" if column == "imputed" else None, n, pa.string())
        else:
            arrays[column] = _to_arrow(_required(frame, column, where), kind, column, where)
    table = pa.table(arrays)
    for column in ("record_key", "url"):
        nulls = table[column].null_count
        if nulls:
            raise FrameError(
                f"{where}: {nulls} row(s) have no {key if column == 'record_key' else column!r}"
            )
    keys = table["record_key"]
    if pc.count_distinct(keys).as_py() != n:
        counts = pc.value_counts(keys)
        repeated = [v["values"] for v in counts.to_pylist() if v["counts"] > 1]
        raise FrameError(
            f"{where}: {len(repeated)} {key!r} value(s) occur more than once "
            f"(e.g. {', '.join(map(str, repeated[:3]))}); de-duplicate the partition before loading"
        )
    return table


def _required(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    if column not in frame:
        raise FrameError(
            f"{where}: the frame has no column {column!r} (it has: {', '.join(map(str, frame.columns))})"
        )
    return frame[column]


def _observed(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
