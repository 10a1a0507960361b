"""The ``repair`` command's arguments, kept light: the learning, the raw store and the
warehouse are imported only when the command runs (``python -m harvest`` starts fast)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harvest.config.settings import Settings

DAYS = 7
"""How many nights back ``repair`` takes stored values from, by default."""
MINIMUM = 0.95
"""The agreement (0-1) a selector must reach to be proposed, by default."""


def cmd_repair(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.learning.repair import run_repair

    return run_repair(settings, args)


def add_repair_command(
    sub: Any,
    parents: list[argparse.ArgumentParser],
    date_type: Callable[[str], Any],
    func: Callable[[Settings, argparse.Namespace], int] = cmd_repair,
) -> None:
    """Register ``repair`` on the CLI's subparsers (``date_type``: how ``--date`` is read;
    ``func(settings, args)`` runs it: the CLI's fetches pages from the site, this module's
    reads the stored pages only)."""
    repair = sub.add_parser(
        "repair",
        parents=parents,
        help="propose new selectors for the fields whose selectors no longer read the values "
        "stored the nights before (a spec diff; --apply writes it)",
    )
    repair.add_argument("--source", required=True, help="a source in the sources folder")
    repair.add_argument(
        "--date", required=True, type=date_type, help="the night whose pages to use"
    )
    repair.add_argument("--field", action="append", help="only this field (repeatable)")
    repair.add_argument(
        "--days",
        type=int,
        default=DAYS,
        help=f"how many nights back values are taken (default {DAYS})",
    )
    repair.add_argument(
        "--minimum",
        type=float,
        default=MINIMUM,
        help=f"agreement a selector must reach, 0-1 (default {MINIMUM})",
    )
    repair.add_argument(
        "--base-url",
        help="where the site is served now, as `harvest run --base-url` (default the spec's "
        "base_url, or HARVEST_SOURCE_<NAME>_BASE_URL): the pages a repaired level leads to are "
        "fetched there",
    )
    repair.add_argument("--apply", action="store_true", help="write the patched spec file")
    repair.add_argument(
        "--offline",
        action="store_true",
        help="fetch nothing: when a level is repaired, learn the fields only from the item "
        "pages stored tonight (default: fetch a sample through the proposed levels)",
    )
    repair.set_defaults(func=func)
