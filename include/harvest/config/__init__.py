"""Typed settings (environment with embedded defaults) and validated source specs."""

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, SpecError, load_spec, load_specs

__all__ = ["Settings", "SourceSpec", "SpecError", "load_spec", "load_specs"]
