"""The registry of field kinds: :func:`register` one, :func:`field_kind` looks it up by the name a
spec gives."""

from __future__ import annotations

from harvest.errors import HarvestError
from harvest.fields.kinds import FieldKind


class UnknownFieldKind(HarvestError, KeyError):
    """A field kind that is not registered; the message lists the known ones."""

    retryable = False

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown field kind {self.name!r}; known kinds: {', '.join(sorted(_KINDS))}"


_KINDS: dict[str, FieldKind] = {}


def register(kind: FieldKind) -> FieldKind:
    """Add a field kind; a name already taken raises ``ValueError`` (unregister it first), an
    extra column of an unknown kind :class:`UnknownFieldKind`."""
    if kind.name in _KINDS:
        raise ValueError(f"field kind {kind.name!r} is already registered")
    for extra in kind.extra_columns:
        if extra.kind not in _KINDS:
            raise UnknownFieldKind(extra.kind)
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a field kind (for tests that register a throwaway one)."""
    if _KINDS.pop(name, None) is None:
        raise UnknownFieldKind(name)


def field_kind(name: str) -> FieldKind:
    """The registered kind called ``name``; :class:`UnknownFieldKind` lists the known names."""
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownFieldKind(name) from None


def kind_names() -> frozenset[str]:
    """The names a spec may give as a field's ``kind``."""
    return frozenset(_KINDS)
