"""The ``init`` command's arguments, kept light: the fetching and drafting are imported only when
the command runs (``python -m harvest`` starts fast)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_init_command(
    sub: Any, parents: list[argparse.ArgumentParser], func: Callable[..., int]
) -> None:
    """Register ``init`` on the CLI's subparsers; ``func(settings, args)`` runs it."""
    init = sub.add_parser(
        "init",
        parents=parents,
        help="draft a source spec from one list page: item links, cards, next page, and the "
        "fields of a sample of item pages, named and typed (then check it with preview)",
    )
    init.add_argument("url", help="a list page of the site (or one item page)")
    init.add_argument(
        "--example",
        action="append",
        metavar="FIELD=VALUE",
        help="a value an item page shows: pins FIELD to where it is shown (repeatable)",
    )
    init.add_argument("--output", "-o", help="the spec file to write (default: <name>.yaml)")
    init.add_argument("--name", help="the source's name (default: from the host)")
    init.add_argument("--sample", type=int, default=10, help="item pages to read (default 10)")
    init.add_argument(
        "--delay", type=float, default=1.0, help="seconds between requests (default 1)"
    )
    init.add_argument("--no-browser", action="store_true", help="never render pages with Chromium")
    init.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    init.set_defaults(func=func)
