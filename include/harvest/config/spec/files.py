"""Reading spec files: one YAML file per source, validated into a :class:`SourceSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harvest.config.settings import spec_files as spec_files  # re-exported, its old home
from harvest.config.spec.base import SpecError
from harvest.config.spec.source import SourceSpec

# libyaml's safe loader when PyYAML has it (8x faster: specs are read at every DAG parse)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _error_field(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def load_spec(path: Path | str) -> SourceSpec:
    """Load and validate one spec file; raise :class:`SpecError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, "", f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise SpecError(path, "", "a spec must be a YAML mapping of fields")
    data.setdefault("name", path.stem)
    rates = data.get("currency_rates")
    if isinstance(rates, str) and not Path(rates).is_absolute():
        data["currency_rates"] = str(path.parent / rates)
    dedup = data.get("dedup")
    if dedup is None or isinstance(dedup, dict):  # labelled pairs live beside the spec
        pairs = (dedup or {}).get("training_file") or f"{path.stem}.dedup.json"
        if isinstance(pairs, str) and not Path(pairs).is_absolute():
            data["dedup"] = {**(dedup or {}), "training_file": str(path.parent / pairs)}
    if data["name"] != path.stem:
        raise SpecError(path, "name", f"{data['name']!r} must match the file name {path.stem!r}")
    try:
        return SourceSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise SpecError(path, _error_field(first), message) from exc


@dataclass
class SpecSet:
    """The result of loading a folder of specs: the good ones, and an error per bad file."""

    specs: dict[str, SourceSpec] = field(default_factory=dict)
    errors: dict[str, SpecError] = field(default_factory=dict)


def load_specs(sources_dir: Path | str) -> SpecSet:
    """Load every ``*.yaml`` in a folder; bad files are reported in ``errors`` by source name."""
    result = SpecSet()
    for path in spec_files(sources_dir):
        try:
            spec = load_spec(path)
        except SpecError as exc:
            result.errors[path.stem] = exc
        else:
            result.specs[spec.name] = spec
    return result
