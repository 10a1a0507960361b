"""A spec patch: the source's YAML spec with some fields' selectors replaced, as a unified diff.

The spec is edited as text, line by line, so its comments and layout stay as they are: in the
``detail: fields:`` block, each named field's selector keys (``css``, ``xpath``, ``jmespath``,
``metadata``, ``label``, ``header``) are replaced by the new selector, written where the first
one was. The patched text is checked to still load as a
spec with the new selectors (:func:`harvest.config.spec.files.load_spec`). Nothing here writes
the spec file: the caller shows the diff and applies it only when asked.
"""

from __future__ import annotations

import difflib
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harvest.config.spec.files import load_spec
from harvest.errors import HarvestError
from harvest.learning.candidates import SELECTOR_KEYS, Candidate

_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")


class SpecPatchError(HarvestError, ValueError):
    """A spec whose field cannot be patched as text (flow style, not found): says which."""

    retryable = False


def _block_end(lines: list[str], start: int, indent: int, items: bool = False) -> int:
    """The index after the block that begins at ``start`` (lines indented more than ``indent``;
    blank and comment lines inside it belong to it; with ``items``, also the ``- `` sequence
    items at ``indent`` itself, as YAML allows under a key and PyYAML's dump writes them)."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        at = len(lines[i]) - len(lines[i].lstrip(" "))
        if at < indent or (at == indent and not (items and stripped.startswith("- "))):
            break
        end = i + 1
    return end


def _find(lines: list[str], key: str, start: int, end: int, indent: int | None) -> int | None:
    for i in range(start, end):
        match = _LINE.match(lines[i])
        if match and match["key"] == key and (indent is None or len(match["indent"]) == indent):
            return i
    return None


def patch_spec_text(
    text: str, selectors: Mapping[str, Mapping[str, str]], where: str = "spec"
) -> str:
    """``text`` (a spec's YAML) with each field of ``selectors`` (field -> ``{"css": ...}``)
    given that selector instead of its own; :class:`SpecPatchError` names the field (and
    ``where``, the file) when its block cannot be edited as text."""
    lines = text.splitlines(keepends=True)
    detail = _find(lines, "detail", 0, len(lines), 0)
    if detail is None:
        raise SpecPatchError(f"{where}: no top-level 'detail:' block")
    fields_at = _find(lines, "fields", detail + 1, _block_end(lines, detail, 0), None)
    if fields_at is None:
        raise SpecPatchError(f"{where}: no 'detail: fields:' block")
    fields_indent = len(lines[fields_at]) - len(lines[fields_at].lstrip(" "))
    for name, selector in selectors.items():
        end = _block_end(lines, fields_at, fields_indent)
        at = _find(lines, name, fields_at + 1, end, None)
        match = _LINE.match(lines[at]) if at is not None else None
        if at is None or match is None or len(match["indent"]) <= fields_indent:
            raise SpecPatchError(f"{where}: field {name!r} not found under 'detail: fields:'")
        if match["rest"].split("#")[0].strip():
            raise SpecPatchError(
                f"{where}: field {name!r} is written on one line (flow style): patch it by hand"
            )
        block_end = _block_end(lines, at, len(match["indent"]))
        children = [i for i in range(at + 1, block_end) if _LINE.match(lines[i])]
        child_indent = min(len(lines[i]) - len(lines[i].lstrip(" ")) for i in children)
        old = [
            i
            for i in children
            if (m := _LINE.match(lines[i]))
            and len(m["indent"]) == child_indent
            and m["key"] in SELECTOR_KEYS
        ]
        new = [
            f"{' ' * child_indent}{k}: {json.dumps(v, ensure_ascii=False)}\n"
            for k, v in selector.items()
        ]
        first = old[0] if old else at + 1
        lines[first : first + 1 if old else first] = new
        for i in sorted(old[1:], reverse=True):
            del lines[i + len(new) - 1]
    return "".join(lines)


_ITEM = re.compile(r"^(?P<indent> *)- +name: *(?P<name>.+?) *(#.*)?$")
INDEX_KEYS = {"links": "detail_links", "next_page": "next_page"}
"""The ``index:`` block's names of the level keys (its one level is named ``index``)."""


def _level_block(lines: list[str], level: str, where: str) -> tuple[int, int, dict[str, str]]:
    """(first line, end, key names) of level ``level``: the ``index:`` block or the
    ``levels:`` item named so."""
    top = _find(lines, "index", 0, len(lines), 0)
    if top is not None and level == "index":
        return top + 1, _block_end(lines, top, 0), INDEX_KEYS
    top = _find(lines, "levels", 0, len(lines), 0)
    if top is not None:
        for i in range(top + 1, _block_end(lines, top, 0, items=True)):
            item = _ITEM.match(lines[i])
            if item and item["name"].strip("'\"") == level:
                end = _block_end(lines, i, len(item["indent"]))
                return i, end, {k: k for k in ("links", "next_page", "cards")}
    raise SpecPatchError(f"{where}: level {level!r} not found under 'levels:' or 'index:'")


def patch_levels_text(
    text: str, selectors: Mapping[tuple[str, str], str], where: str = "spec"
) -> str:
    """``text`` (a spec's YAML) with each level selector of ``selectors`` ((level, key) ->
    CSS; key ``links``, ``next_page`` or ``cards``) replaced, the line (and a mapping under it)
    rewritten in place; :class:`SpecPatchError` names the level and key when it is absent."""
    lines = text.splitlines(keepends=True)
    for (level, key), css in selectors.items():
        start, end, names = _level_block(lines, level, where)
        name = names.get(key)
        at = None
        for i in range(start, end):
            item = lines[i].lstrip().startswith("- ")
            match = _LINE.match(lines[i].replace("- ", "  ", 1) if item else lines[i])
            if match and name is not None and match["key"] == name:
                at = i
                break
        if at is None or match is None:
            raise SpecPatchError(f"{where}: level {level!r} has no {key!r} selector to replace")
        value_end = _block_end(lines, at, len(match["indent"]))
        comment = re.search(r"( +#.*)$", match["rest"])
        new = f"{lines[at][: len(match['indent'])]}{name}: {json.dumps(css, ensure_ascii=False)}"
        if lines[at].lstrip().startswith("- "):
            new = lines[at][: lines[at].index("-") + 2] + new.lstrip(" ")
        lines[at:value_end] = [new + (comment[1] if comment else "") + "\n"]
    return "".join(lines)


def spec_patch(
    path: Path | str,
    proposals: Mapping[str, Candidate],
    levels: Mapping[tuple[str, str], Candidate] | None = None,
) -> tuple[str, str]:
    """The unified diff that gives each field of ``proposals`` its candidate's selector (and
    each level selector of ``levels``, (level, key) -> candidate, its CSS) in the spec file at
    ``path``, and the patched text (checked to load, with those selectors). Nothing is written
    to ``path``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    selectors = {name: dict(c.selector) for name, c in proposals.items()}
    patched = patch_spec_text(text, selectors, str(path)) if selectors else text
    level_css = {at: c.selector["css"] for at, c in (levels or {}).items()}
    patched = patch_levels_text(patched, level_css, str(path))
    with tempfile.TemporaryDirectory() as folder:  # same file name: the spec's name must match it
        trial = Path(folder) / path.name
        trial.write_text(patched, encoding="utf-8")
        for extra in path.parent.iterdir():  # files the spec names beside it (rates, pairs)
            if extra.name != path.name:
                (Path(folder) / extra.name).symlink_to(extra.resolve())
        loaded = load_spec(trial)
    for name, selector in selectors.items():
        got = loaded.detail.fields[name]
        if any(getattr(got, k) != v for k, v in selector.items()):
            raise SpecPatchError(f"{path}: field {name!r} did not take the new selector")
    graph = {level.name: level for level in loaded.graph}
    for (level, key), css in level_css.items():
        now = getattr(graph[level], key) if level in graph else None
        if now is None or now.css != css:
            raise SpecPatchError(f"{path}: level {level!r} {key} did not take the new selector")
    diff = difflib.unified_diff(
        text.splitlines(keepends=True),
        patched.splitlines(keepends=True),
        fromfile=f"a/{path.name}",
        tofile=f"b/{path.name}",
    )
    return "".join(diff), patched
