"""Validation: a Great Expectations suite built from the source spec, run on each partition.

Failing records are quarantined with their reasons (never dropped silently); a partition that
breaks a critical expectation raises :class:`ValidationFailed`. The report and the error import
without Great Expectations; the suite and the run load it on first use.
"""

from __future__ import annotations

from typing import Any

from harvest.validation.report import Breach, ValidationFailed, ValidationReport

__all__ = [
    "Breach",
    "ValidationFailed",
    "ValidationReport",
    "build_data_docs",
    "build_suite",
    "validate_partition",
    "validate_records",
]

_LAZY = {
    "build_suite": "harvest.validation.suite",
    "validate_partition": "harvest.validation.run",
    "validate_records": "harvest.validation.run",
    "build_data_docs": "harvest.validation.run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harvest.validation' has no attribute {name!r}")
