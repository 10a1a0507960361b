"""Selectors that learn: candidate selectors for a source's fields derived from the values the
warehouse stored for the same pages (:mod:`.candidates`), the spec patch that would use them
(:mod:`.patch`), level selectors (links, cards, next page) from the URLs seen before
(:mod:`.levels`), shown to a person and never applied silently, and the ``repair`` command
(:mod:`.repair`). The names below are imported when first used, so that the command line
(:mod:`.command`) starts without parsel, pandas or the warehouse."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names' types, for mypy and readers; imported lazily at run time
    from harvest.learning.candidates import (
        Candidate,
        Example,
        KnownPage,
        check_field,
        learn_field,
        learn_fields,
        proposal,
    )
    from harvest.learning.levels import LevelPage, check_level, learn_cards, learn_links
    from harvest.learning.patch import SpecPatchError, patch_spec_text, spec_patch

_WHERE = {
    "Candidate": "candidates",
    "Example": "candidates",
    "KnownPage": "candidates",
    "check_field": "candidates",
    "learn_field": "candidates",
    "learn_fields": "candidates",
    "proposal": "candidates",
    "LevelPage": "levels",
    "check_level": "levels",
    "learn_cards": "levels",
    "learn_links": "levels",
    "SpecPatchError": "patch",
    "patch_spec_text": "patch",
    "spec_patch": "patch",
}

__all__ = [
    "Candidate",
    "Example",
    "KnownPage",
    "LevelPage",
    "SpecPatchError",
    "check_field",
    "check_level",
    "learn_cards",
    "learn_field",
    "learn_fields",
    "learn_links",
    "patch_spec_text",
    "proposal",
    "spec_patch",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'harvest.learning' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harvest.learning.{_WHERE[name]}"), name)
