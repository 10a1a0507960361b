"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

The spec reference (``docs/reference/spec.md``) documents every key of a source spec under a
heading of its own, ``### `crawl.max_pages` ``. At build time each such heading gets its type,
default and bounds read from the spec models (:mod:`harvest.config.spec.keys`), so they cannot
drift from the code; a heading naming no key, or a key with no heading, fails the build.
``tests/unit/test_docs.py`` holds the same rules without building the site.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "include", REPO / "plugins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

SPEC_PAGE = "reference/spec.md"
KEY_HEADING = re.compile(r"^(#{2,4}) `([^`]+)`\s*$", re.MULTILINE)
_SECTION_END = re.compile(r"^#{2,4} ", re.MULTILINE)


def documented_keys(markdown: str) -> dict[str, str]:
    """The keys the spec reference documents: heading key -> the text of its section (up to
    the next heading)."""
    sections = {}
    for match in KEY_HEADING.finditer(markdown):
        following = _SECTION_END.search(markdown, match.end())
        end = following.start() if following else len(markdown)
        sections[match.group(2)] = markdown[match.end() : end]
    return sections


def key_facts(key: Any) -> str:
    """The line under a key's heading: type, bounds, default (or required)."""
    facts = [f"*{key.type}*"]
    if key.constraints:
        facts.append(key.constraints)
    facts.append("required" if key.required else f"default `{key.default}`")
    return '<p class="spec-key-facts">' + " · ".join(_markdown_to_html(f) for f in facts) + "</p>"


def _markdown_to_html(text: str) -> str:
    text = re.sub(r"`([^`]*)`", lambda m: f"<code>{_escape(m.group(1))}</code>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def spec_reference_problems(markdown: str) -> list[str]:
    """What is wrong with the spec reference: keys of the models it does not document, and
    headings that name no key."""
    from harvest.config.spec.keys import selector_keys, spec_keys

    known = {key.path for key in [*spec_keys(), *selector_keys()]}
    documented = set(documented_keys(markdown))
    problems = [f"the spec key {path!r} has no section" for path in sorted(known - documented)]
    problems += [f"the section {path!r} names no spec key" for path in sorted(documented - known)]
    return problems


HELP_BLOCK = re.compile(
    r"^<!-- (harvest-help(?:: ([a-z ]+))?|make-help) -->(?:\n```text\n.*?\n```\n<!-- /help -->)?$",
    re.MULTILINE | re.DOTALL,
)
"""A help block of ``docs/reference/cli.md``: its marker, then (once filled) the fenced help text
and ``<!-- /help -->``. Filled in the file itself (``python scripts/docs_hooks.py``), so the
Markdown read on GitHub shows it; ``tests/unit/test_docs.py`` fails when it is stale."""
CLI_PAGE = REPO / "docs" / "reference" / "cli.md"


def harvest_help(command: str | None) -> str:
    """What ``python -m harvest [command] --help`` prints, 100 columns wide."""
    import contextlib
    import io
    import os

    from harvest.__main__ import main

    out = io.StringIO()
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*(command.split() if command else []), "--help"])
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
    return out.getvalue().rstrip()


def make_help() -> str:
    """The ``make help`` list, read from the Makefile's ``## `` comments as ``make help`` does."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    commands = [
        m.groups() for m in (re.match(r"^([a-z-]+):.*## (.*)$", line) for line in lines) if m
    ]
    width = max(len(name) for name, _ in commands)  # the widest name, as make help's awk pads
    return "\n".join(f"  make {name:<{width}} {text}" for name, text in commands)


def _fenced(text: str) -> str:
    return f"```text\n{text}\n```"


def fill_help(markdown: str) -> str:
    """``markdown`` with every help block (:data:`HELP_BLOCK`) holding the help printed now."""

    def block(match: re.Match[str]) -> str:
        text = make_help() if match.group(1) == "make-help" else harvest_help(match.group(2))
        return f"<!-- {match.group(1)} -->\n{_fenced(text)}\n<!-- /help -->"

    return HELP_BLOCK.sub(block, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = fill_help(markdown)
    if page.file.src_uri != SPEC_PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    from harvest.config.spec.keys import selector_keys, spec_keys

    problems = spec_reference_problems(markdown)
    if problems:
        raise PluginError(f"{SPEC_PAGE}: " + "; ".join(problems))
    keys = {key.path: key for key in [*spec_keys(), *selector_keys()]}

    def with_facts(match: re.Match[str]) -> str:
        return f"{match.group(0).rstrip()}\n\n{key_facts(keys[match.group(2)])}\n"

    return KEY_HEADING.sub(with_facts, markdown)


if __name__ == "__main__":  # python scripts/docs_hooks.py: write the help blocks into cli.md
    CLI_PAGE.write_text(fill_help(CLI_PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the help blocks of {CLI_PAGE.relative_to(REPO)}")  # noqa: T201
