"""Command line: ``python -m harvest <command>`` (also installed as ``harvest``).

Every stage can run without Airflow, which is handy in a notebook or when debugging a spec:

    python -m harvest specs                          # validate every source spec
    python -m harvest crawl --source demo --date 2026-11-26 [--base-url http://127.0.0.1:8000]
    python -m harvest warehouse migrate [--url URL]  # create/migrate the warehouse tables
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

from harvest.config.settings import Settings
from harvest.config.spec import load_specs


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def cmd_specs(settings: Settings, _args: argparse.Namespace) -> int:
    result = load_specs(settings.sources_dir)
    for name, spec in sorted(result.specs.items()):
        print(f"ok      {name:<20} {spec.dag_id:<28} schedule={spec.schedule}")
    for error in result.errors.values():
        print(f"ERROR   {error}")
    if not result.specs and not result.errors:
        print(f"no source specs (*.yaml) in {settings.sources_dir}")
    return 1 if result.errors else 0


def cmd_crawl(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.scraping.runner import CrawlError, run_crawl

    result = load_specs(settings.sources_dir)
    if args.source in result.errors:
        print(f"error: {result.errors[args.source]}", file=sys.stderr)
        return 2
    if args.source not in result.specs:
        known = ", ".join(sorted(result.specs)) or "none"
        print(
            f"error: no source {args.source!r} in {settings.sources_dir} (known: {known})",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        crawl = run_crawl(result.specs[args.source], args.date, settings, base_url=args.base_url)
    except CrawlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(crawl.to_dict(), indent=2))
    return 0


def cmd_warehouse_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.storage.warehouse import Warehouse, WarehouseError, engine_for

    result = load_specs(settings.sources_dir)
    for error in result.errors.values():
        print(f"error: {error} (its table is not migrated)", file=sys.stderr)
    url = args.url or settings.warehouse_url
    try:
        warehouse = Warehouse(engine_for(url))
        try:
            report = warehouse.migrate(result.specs.values())
        finally:
            warehouse.close()
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for table in report.created_tables:
        print(f"created table {table}")
    for column in report.added_columns:
        print(f"added column  {column}")
    for problem in report.type_mismatches:
        print(f"MISMATCH      {problem}", file=sys.stderr)
    if not report.changed:
        print(f"warehouse is up to date ({len(result.specs)} source(s))")
    return 0 if report.ok and not result.errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harvest", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("specs", help="validate every source spec").set_defaults(func=cmd_specs)
    crawl = sub.add_parser(
        "crawl", help="scrape one source for one logical date into the raw store"
    )
    crawl.add_argument("--source", required=True)
    crawl.add_argument("--date", required=True, type=_date, help="logical date, YYYY-MM-DD")
    crawl.add_argument("--base-url", help="override the spec's base URL")
    crawl.set_defaults(func=cmd_crawl)
    warehouse = sub.add_parser("warehouse", help="manage the warehouse tables")
    warehouse_sub = warehouse.add_subparsers(dest="warehouse_command", required=True)
    migrate = warehouse_sub.add_parser(
        "migrate", help="create missing tables and add columns for new spec fields (idempotent)"
    )
    migrate.add_argument("--url", help="warehouse URL (default: HARVEST_WAREHOUSE_URL or SQLite)")
    migrate.set_defaults(func=cmd_warehouse_migrate)
    args = parser.parse_args(argv)
    return int(args.func(Settings.from_env(), args))


if __name__ == "__main__":
    sys.exit(main())
