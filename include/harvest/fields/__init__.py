"""Field kinds, declared once: what a spec's ``kind: <name>`` means on every floor.

A :class:`FieldKind` holds, for one kind of field (``text``, ``price``, ``area``...), its parser,
its column types (the pandas dtype of its column in the typed records, the Arrow and SQL types
it is staged and stored as, the dtype names Great Expectations may report for it), the columns
it adds beside the field's own (a ``price`` field ``rent`` also fills ``rent_currency``), and its
behaviour on the floors that use it: its :class:`FeatureRole` (what the model makes of it), its
:class:`Normalisation` (what cleaning does to it) and its :class:`Comparison` (how
de-duplication compares and blocks on it). The spec validates kind names and options against
this registry; record parsing, normalisation, imputation, de-duplication, the validation suite,
the features and the warehouse ask the kind, never its name. Adding a kind is one
:func:`register` call.

This module sits below config: it imports only the standard library and :mod:`harvest.parsers`
(pyarrow and SQLAlchemy are imported when a type is asked for, not at DAG parse time).
"""

from harvest.fields.builtins import MANY_KIND, parse_json_array
from harvest.fields.kinds import (
    NUMERIC_DTYPES,
    Comparison,
    ExtraColumn,
    FeatureRole,
    FieldKind,
    Normalisation,
    Parser,
)
from harvest.fields.registry import (
    UnknownFieldKind,
    field_kind,
    kind_names,
    register,
    unregister,
)

__all__ = [
    "MANY_KIND",
    "NUMERIC_DTYPES",
    "Comparison",
    "ExtraColumn",
    "FeatureRole",
    "FieldKind",
    "Normalisation",
    "Parser",
    "UnknownFieldKind",
    "field_kind",
    "kind_names",
    "parse_json_array",
    "register",
    "unregister",
]
