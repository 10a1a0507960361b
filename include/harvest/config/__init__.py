"""Typed settings (environment with embedded defaults) and validated source specs.

The spec models load on first use of a spec name here (building the pydantic models is most
of what importing this package costs), so a DAG file that needs only :class:`Settings`, e.g.
the supervisor's, parses without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harvest.config.settings import Settings

if TYPE_CHECKING:
    from harvest.config.spec import SourceSpec, SpecError, load_spec, load_specs

__all__ = ["Settings", "SourceSpec", "SpecError", "load_spec", "load_specs"]
_SPEC_NAMES = frozenset(__all__) - {"Settings"}


def __getattr__(name: str) -> Any:
    if name in _SPEC_NAMES:
        from harvest.config import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
