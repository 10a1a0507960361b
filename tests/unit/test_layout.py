"""The module size rule: no module in ``include/`` (``harvest``, ``harvest_demo``,
``harvest_local``), ``plugins/`` or ``scripts/`` over 400 lines without a written reason.

A module that must stay longer says why in its module docstring, on a line that starts with
``Size:`` followed by the reason, e.g.::

    \"\"\"The spec language.

    Size: one pydantic model per spec section; split, the sections would import each other.
    \"\"\"

Anything else over the limit is a module doing several jobs: split it along its seams.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKED = ("include", "plugins", "scripts")  # every Python module under these folders
MAX_LINES = 400
MARKER = "Size:"


def size_reason(path: Path) -> str | None:
    """The reason after ``Size:`` in the module docstring of ``path``, or ``None``."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for line in docstring.splitlines():
        text = line.strip()
        if text.startswith(MARKER) and text.removeprefix(MARKER).strip():
            return text.removeprefix(MARKER).strip()
    return None


def oversized(package: Path, max_lines: int = MAX_LINES) -> dict[str, int]:
    """Modules under ``package`` longer than ``max_lines`` with no ``Size:`` reason: path -> lines."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > max_lines and size_reason(path) is None:
            found[path.relative_to(package).as_posix()] = lines
    return found


def test_no_module_is_over_the_limit_without_a_reason() -> None:
    found = {
        f"{folder}/{path}": lines
        for folder in CHECKED
        for path, lines in oversized(REPO / folder).items()
    }
    assert not found, (
        f"modules over {MAX_LINES} lines without a '{MARKER}' line in their module docstring: "
        f"{found}; split them along their seams or write the reason there"
    )


def test_the_rule_sees_every_folder_it_names() -> None:
    """The rule reads the product, the demo site, the local-run library, the Airflow adapters
    and the scripts (a folder renamed away would pass silently)."""
    modules = {folder: list((REPO / folder).rglob("*.py")) for folder in CHECKED}
    assert all(modules.values()), {folder: len(found) for folder, found in modules.items()}
    for package in ("harvest", "harvest_demo", "harvest_local"):
        assert (REPO / "include" / package / "__init__.py") in modules["include"], package
    assert REPO / "plugins" / "harvest_airflow" / "operators.py" in modules["plugins"]
    assert REPO / "scripts" / "demo.py" in modules["scripts"]


def test_the_rule_catches_a_long_module_and_accepts_a_written_reason(tmp_path: Path) -> None:
    body = "x = 1\n" * (MAX_LINES + 1)
    (tmp_path / "short.py").write_text('"""Short."""\n' + "x = 1\n" * 10)
    (tmp_path / "long.py").write_text('"""Does several jobs."""\n' + body)
    (tmp_path / "empty_reason.py").write_text('"""Long.\n\nSize:\n"""\n' + body)
    (tmp_path / "reasoned.py").write_text(
        '"""One table of data.\n\nSize: a data table; splitting it would split one list.\n"""\n'
        + body
    )
    assert oversized(tmp_path) == {"empty_reason.py": MAX_LINES + 5, "long.py": MAX_LINES + 2}
    assert size_reason(tmp_path / "reasoned.py") == (
        "a data table; splitting it would split one list."
    )
