"""Every key a spec file may hold, read from the spec models: the list the spec reference
(``docs/reference/spec.md``) documents, and a test holds it to.

A key is a dotted path as a spec writer types it: ``crawl.max_pages``, ``levels[].links`` (a key
of every item of a list), ``detail.fields.<name>.kind`` (a key of every entry of a mapping).
Selectors (:class:`harvest.config.selectors.SelectorSpec`) are a type of their own, documented
once, not expanded under every key that takes one.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from harvest.config.selectors import SelectorSpec


@dataclass(frozen=True)
class SpecKey:
    """One key of a spec: its dotted ``path``, its ``type`` and ``default`` as a spec writer
    reads them (``default`` is YAML text, ``None`` for a required key), its ``constraints``
    (``>= 1``) and the model's ``description`` (may be empty)."""

    path: str
    type: str
    default: str | None
    constraints: str
    description: str

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def section(self) -> str:
        """The top-level key this key belongs to (``crawl`` for ``crawl.max_pages``)."""
        return self.path.split(".", 1)[0].removesuffix("[]")


def _arguments(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _model(annotation: Any) -> type[BaseModel] | None:
    """The spec model a key's value is (or is ``None`` of), else ``None``."""
    candidates = _arguments(annotation) if _is_union(annotation) else (annotation,)
    for candidate in candidates:
        if (
            isinstance(candidate, type)
            and issubclass(candidate, BaseModel)
            and candidate is not SelectorSpec
        ):
            return candidate
    return None


def type_text(annotation: Any) -> str:
    """A type as a spec writer reads it: ``integer or null``, ``list of strings``, ``one of
    `fail`, `warn```, ``selector``, ``mapping``."""
    if annotation is type(None):
        return "null"
    if _is_union(annotation):
        parts = [type_text(a) for a in _arguments(annotation) if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return f"{text} or null" if type(None) in _arguments(annotation) else text
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in _arguments(annotation))
    if origin is list:
        (item,) = _arguments(annotation)
        return f"list of {_plural(type_text(item))}"
    if origin is tuple:
        items = _arguments(annotation)
        return f"pair of {_plural(type_text(items[0]))}"
    if origin is dict:
        key, value = _arguments(annotation)
        return f"mapping of {type_text(key)} to {type_text(value)}"
    names: dict[Any, str] = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        dt.date: "date (YYYY-MM-DD)",
        dt.time: "time of day (HH:MM, UTC)",
        SelectorSpec: "selector",
    }
    if annotation in names:
        return names[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    raise TypeError(f"no spec-reference name for the type {annotation!r}: add one to type_text")


def _plural(text: str) -> str:
    return {
        "string": "strings",
        "integer": "integers",
        "number": "numbers",
        "selector": "selectors",
        "mapping": "mappings",
    }.get(text, text)


def _default_text(info: FieldInfo) -> str | None:
    if info.is_required():
        return None
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return None
    if isinstance(default, BaseModel):
        return "(its keys' defaults)"
    if isinstance(default, dt.date | dt.time):
        return default.isoformat()
    if isinstance(default, tuple):
        default = list(default)
    text = yaml.safe_dump(default, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _constraints_text(info: FieldInfo) -> str:
    bounds = (
        (annotated_types.Ge, ">=", "ge"),
        (annotated_types.Gt, ">", "gt"),
        (annotated_types.Le, "<=", "le"),
        (annotated_types.Lt, "<", "lt"),
    )
    parts = []
    for item in info.metadata:
        for kind, sign, attribute in bounds:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attribute)}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _walk(model: type[BaseModel], prefix: str) -> typing.Iterator[SpecKey]:
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        yield SpecKey(
            path=path,
            type=type_text(annotation),
            default=_default_text(info),
            constraints=_constraints_text(info),
            description=info.description or "",
        )
        origin = typing.get_origin(annotation)
        if origin is list and (item := _model(_arguments(annotation)[0])) is not None:
            yield from _walk(item, f"{path}[].")
        elif origin is dict and (value := _model(_arguments(annotation)[1])) is not None:
            yield from _walk(value, f"{path}.<name>.")
        elif (nested := _model(annotation)) is not None:
            yield from _walk(nested, f"{path}.")


def spec_keys() -> list[SpecKey]:
    """Every key of a source spec, in the models' order (``name`` first)."""
    from harvest.config.spec.source import SourceSpec

    return list(_walk(SourceSpec, ""))


def selector_keys() -> list[SpecKey]:
    """The keys of a selector written as a mapping (``{css: ..., jmespath: ...}``)."""
    return list(_walk(SelectorSpec, "selector."))
