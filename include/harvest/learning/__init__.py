"""Selectors that learn: candidate selectors for a source's fields derived from the values the
warehouse stored for the same pages (:mod:`.candidates`), and the spec patch that would use
them (:mod:`.patch`), shown to a person and never applied silently."""

from harvest.learning.candidates import (
    Candidate,
    Example,
    KnownPage,
    learn_field,
    learn_fields,
    proposal,
)
from harvest.learning.patch import SpecPatchError, patch_spec_text, spec_patch

__all__ = [
    "Candidate",
    "Example",
    "KnownPage",
    "SpecPatchError",
    "learn_field",
    "learn_fields",
    "patch_spec_text",
    "proposal",
    "spec_patch",
]
