"""The documentation site's rules that need no build: every spec key documented, every example
a valid part of a spec, nothing fetched from the internet, the README short and pointing here.

``make docs`` (in ``make test``) builds the site with ``--strict``; the browser test
(``tests/integration/test_docs_offline.py``) opens it.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvest.config.spec import SourceSpec
from harvest.config.spec.keys import selector_keys, spec_keys, type_text
from scripts.docs_hooks import (
    CLI_PAGE,
    HELP_BLOCK,
    documented_keys,
    fill_help,
    harvest_help,
    make_help,
    spec_reference_problems,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SPEC_PAGE = DOCS / "reference" / "spec.md"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)

# What each example is merged into: the smallest spec that loads.
BASE_SPEC: dict[str, Any] = {
    "name": "example",
    "base_url": "https://shop.example",
    "start_urls": ["{base_url}/"],
    "detail": {"key": "id", "fields": {"id": {"css": "h1"}}},
}


def _merge(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """``part`` over ``base``: mappings merged key by key, anything else replaced. A ``detail``
    that names its own ``key`` replaces the base's item whole."""
    merged = copy.deepcopy(base)
    for key, value in part.items():
        if key == "detail" and isinstance(value, dict) and "key" in value:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _spec_from_example(text: str) -> SourceSpec:
    part = yaml.safe_load(text)
    assert isinstance(part, dict), f"an example must be a mapping of spec keys:\n{text}"
    return SourceSpec.model_validate(_merge(BASE_SPEC, part))


def test_every_spec_key_has_a_section_and_every_section_a_key() -> None:
    markdown = SPEC_PAGE.read_text(encoding="utf-8")
    assert spec_reference_problems(markdown) == []
    assert len(documented_keys(markdown)) == len(spec_keys()) + len(selector_keys())


def test_an_undocumented_key_is_named() -> None:
    markdown = SPEC_PAGE.read_text(encoding="utf-8")
    without = markdown.replace("### `crawl.max_pages`", "### crawl max pages")
    assert spec_reference_problems(without) == ["the spec key 'crawl.max_pages' has no section"]
    extra = markdown + "\n### `crawl.max_pagez`\n"
    assert spec_reference_problems(extra) == ["the section 'crawl.max_pagez' names no spec key"]


@pytest.mark.parametrize("key", sorted(documented_keys(SPEC_PAGE.read_text(encoding="utf-8"))))
def test_every_spec_key_section_has_an_example_that_loads(key: str) -> None:
    section = documented_keys(SPEC_PAGE.read_text(encoding="utf-8"))[key]
    examples = YAML_BLOCK.findall(section)
    assert examples, f"the section {key!r} has no ```yaml example"
    for example in examples:
        spec = _spec_from_example(example)
        leaf = key.removeprefix("selector.").split(".")[-1].removesuffix("[]")
        if leaf != "<name>" and not key.startswith("selector."):
            assert leaf in example, f"the example of {key!r} does not use {leaf!r}"
        assert spec.name == "example"


def test_the_cookbook_examples_load() -> None:
    page = (DOCS / "cookbook" / "page-shapes.md").read_text(encoding="utf-8")
    examples = YAML_BLOCK.findall(page)
    assert len(examples) >= 10
    for example in examples:
        _spec_from_example(example)


def test_a_broken_example_fails_to_load() -> None:
    with pytest.raises(ValueError, match="max_pages"):
        _spec_from_example("crawl: {max_pages: 0}")


def test_key_types_read_as_a_spec_writer_reads_them() -> None:
    keys = {key.path: key for key in spec_keys()}
    assert keys["crawl.max_pages"].type == "integer or null"
    assert keys["crawl.max_pages"].default == "10000"
    assert keys["crawl.max_pages"].constraints == ">= 1"
    assert keys["crawl.on_deadline"].type == "one of `fail`, `warn`"
    assert keys["levels[].links"].type == "selector or null"
    assert keys["detail.fields.<name>.from"].default == "page"
    assert keys["detail.key"].required and not keys["crawl"].required
    assert keys["sla.finish_by"].type == "time of day (HH:MM, UTC) or null"
    with pytest.raises(TypeError, match="no spec-reference name"):
        type_text(complex)


def test_command_help_is_rendered_from_the_parser() -> None:
    assert "--source SOURCE" in harvest_help("run")
    assert "usage: harvest" in harvest_help(None)
    assert "make demo" in make_help() and "make docs" in make_help()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_prints_what_the_reference_renders() -> None:
    """``make help`` (the Makefile's awk) and :func:`make_help` (the reference) pad alike: every
    name in one column, the widest (``app-screenshot-repairs``) included."""
    printed = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout.rstrip()  # fmt: skip
    assert printed == make_help()
    rows = [re.match(r"  make (\S+) +(.*)$", line) for line in printed.splitlines()]
    assert all(rows) and len({row.start(2) for row in rows if row}) == 1


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="the help is written with Python 3.11's argparse (CI's)"
)
def test_the_cli_reference_holds_the_help_the_commands_print() -> None:
    text = CLI_PAGE.read_text(encoding="utf-8")
    assert text.count("<!-- /help -->") == len(HELP_BLOCK.findall(text)) >= 12
    assert fill_help(text) == text, (
        f"{CLI_PAGE} is stale: run `.venv/bin/python scripts/docs_hooks.py` to write the help"
    )


def test_the_site_fetches_nothing_from_the_internet() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8").replace("!!", "#"))
    assert config["theme"]["font"] is False  # Material's default loads Google Fonts
    for key in ("extra_css", "extra_javascript"):
        assert not any("://" in str(item) for item in config.get(key, []))
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"https?://", text), page


def test_the_readme_keeps_the_two_commands_and_links_into_the_site() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 120
    assert "make demo" in readme and "make test" in readme
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) >= 10
    for link in links:
        assert (REPO / link).is_file(), f"README links to {link}, which does not exist"
