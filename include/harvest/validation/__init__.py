"""Validation: a Great Expectations suite built from the source spec, run on each partition.

Failing records are quarantined with their reasons (never dropped silently); a partition that
breaks a critical expectation raises :class:`ValidationFailed`. The report and the error import
without Great Expectations; the suite and the run load it on first use.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from harvest.validation.report import Breach, ValidationFailed, ValidationReport

if TYPE_CHECKING:
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.partitions import Partition

__all__ = [
    "Breach",
    "ValidationFailed",
    "ValidationReport",
    "build_data_docs",
    "build_suite",
    "validate",
    "validate_partition",
    "validate_records",
]

_LAZY = {
    "build_suite": "harvest.validation.suite",
    "validate_partition": "harvest.validation.run",
    "validate_records": "harvest.validation.run",
    "build_data_docs": "harvest.validation.run",
}


def validate(
    spec: SourceSpec, partition: Partition | dt.date, settings: Settings, **options: Any
) -> ValidationReport:
    """The validate stage's entry point: :func:`harvest.validation.run.validate_partition`
    (raw partition -> quarantine, results, staged valid records; ``options``: its keywords).
    Raises :class:`ValidationFailed` (not retryable) when a critical expectation broke."""
    from harvest.validation.run import validate_partition

    return validate_partition(spec, partition, settings, **options)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harvest.validation' has no attribute {name!r}")
