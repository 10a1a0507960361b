"""Command line: ``python -m harvest <command>`` (also installed as ``harvest``).

Every stage can run without Airflow (``crawl``, ``validate``, ``clean``, ``load``, or ``run``
for all four), which is handy in a notebook or when debugging a spec; ``specs``, ``preview``,
``warehouse migrate``, ``dedup label|review``, ``init`` (a spec drafted from one URL) and
``repair`` (new selectors from the values stored the nights before) help write and keep a source
(every command, with an example: docs/reference/cli.md). A stage command prints a summary and
the warnings that matter (:mod:`harvest.console`), after progress bars of its long steps on a
terminal (:mod:`harvest.progress`); the libraries' logs go to a log file under
``$HARVEST_HOME/logs`` (``-v``: to the console too). An expected failure (a Harvest error)
prints its message and the log's path and exits 1, without a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from harvest.config.settings import Settings
from harvest.config.spec import SourceSpec, load_specs
from harvest.console import (
    configure_logging,
    output_options,
    print_error,
    print_reports,
    quiet_broken_pipe,
    warning_lines,
)
from harvest.errors import HarvestError
from harvest.learning.command import add_repair_command
from harvest.learning.draft_command import add_init_command
from harvest.partitions import Partition, partition_date
from harvest.progress import show_bars

RECRAWL_HELP = (
    "crawl even a past date whose pages are stored or that the site cannot show any more "
    "(recorded as observed today); default: reuse the stored records, refuse the rest"
)


def _date(text: str) -> dt.date:
    try:
        return partition_date(text)
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


def _spec(settings: Settings, source: str) -> SourceSpec | None:
    """The spec of ``source``, or ``None`` after printing why not."""
    result = load_specs(settings.sources_dir)
    if source in result.errors:
        print(f"error: {result.errors[source]}", file=sys.stderr)
        return None
    if source not in result.specs:
        known = ", ".join(sorted(result.specs)) or "none"
        print(
            f"error: no source {source!r} in {settings.sources_dir} (known: {known})",
            file=sys.stderr,
        )
        return None
    return result.specs[source]


def _partition(args: argparse.Namespace) -> Partition:
    """The partition named on the command line (``--source``, ``--date``); no data interval."""
    return Partition(source=args.source, day=args.date)


def cmd_crawl(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.scraping import scrape

    return _stage(  # as the scrape task: monitors stored, the crawl checked (exit 1 if it failed)
        settings,
        args,
        lambda spec, partition: scrape(
            spec, partition, settings, base_url=args.base_url, recrawl=args.recrawl
        ).to_dict(),
    )


def _stage(
    settings: Settings,
    args: argparse.Namespace,
    run: Callable[[SourceSpec, Partition], Any],
    gathered: dict[str, dict[str, Any]] | None = None,
) -> int:
    """Run one stage (or all) on the partition of ``--source``/``--date``; print its report.
    A stage that fails (any :class:`~harvest.errors.HarvestError`, a staged frame missing)
    prints the warnings of the stages before it (``gathered``: their reports) and why, and
    exits 1, as its Airflow task fails."""
    from harvest.errors import HarvestError

    spec = _spec(settings, args.source)
    if spec is None:
        return 2
    try:
        report = run(spec, _partition(args))
    except (HarvestError, FileNotFoundError) as exc:
        return print_error(exc, args.log_path, warning_lines(gathered or {}))
    name = "scrape" if args.command == "crawl" else args.command
    return print_reports(args, report if args.command == "run" else {name: report})


def _raw_partition_missing(settings: Settings, args: argparse.Namespace) -> bool:
    """True (after saying so and what to do) when the raw store holds no page of the partition:
    validating it would only report 0 records."""
    from harvest.storage.raw import open_raw_store

    store = open_raw_store(settings.raw_store_url)
    try:
        if store.count(args.source, args.date):
            return False
        uri = store.uri(args.source, args.date)
    finally:
        store.close()
    print(
        f"error: no raw pages of source {args.source} for {args.date} ({uri}): crawl the date "
        f"first (`python -m harvest crawl --source {args.source} --date {args.date}`, or `run` "
        "for all four stages)",
        file=sys.stderr,
    )
    return True


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.validation import validate

    if _raw_partition_missing(settings, args):
        return 1
    return _stage(settings, args, lambda spec, p: validate(spec, p, settings).to_dict())


def cmd_clean(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.cleaning import clean

    return _stage(settings, args, lambda spec, p: clean(spec, p, settings).to_dict())


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.cleaning import reclean
    from harvest.loading import load

    return _stage(  # the staged cleaned frame, with the counts the earlier stages stored
        settings, args, lambda spec, p: load(spec, p, settings, clean=reclean).to_dict()
    )


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.pipeline import run_partition

    if args.no_scrape and _raw_partition_missing(settings, args):
        return 1
    done: dict[str, dict[str, Any]] = {}  # the reports of the stages that finished
    return _stage(
        settings,
        args,
        lambda spec, partition: run_partition(
            spec,
            partition,
            settings,
            base_url=args.base_url,
            scrape=not args.no_scrape,
            recrawl=args.recrawl,
            reports=done,
        ),
        done,
    )


def cmd_preview(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.scraping.preview import run_preview

    return run_preview(settings, args, _spec)


def cmd_repair(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.scraping.site_fetch import run_site_repair

    return run_site_repair(settings, args)


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.scraping.draft import run_init

    return run_init(settings, args)


def cmd_warehouse_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.storage.warehouse import WarehouseError, open_warehouse

    result = load_specs(settings.sources_dir)
    for error in result.errors.values():
        print(f"error: {error} (its table is not migrated)", file=sys.stderr)
    if args.url:
        settings = settings.with_overrides(warehouse_url=args.url)
    specs = list(result.specs.values())
    if args.source:
        specs = [s for s in specs if s.name == args.source]
        if not specs:
            print(f"error: no valid spec for source {args.source!r}", file=sys.stderr)
            return 1
    try:
        with open_warehouse(settings) as warehouse:
            if args.plan:  # what it would do, in a transaction rolled back
                with warehouse.engine.connect() as conn, conn.begin() as transaction:
                    from harvest.storage.warehouse.migrations import migrate

                    report = migrate(conn, specs, apply=True)
                    transaction.rollback()
            else:
                report = warehouse.migrate(specs, apply=True)
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(f"would: {line}" if args.plan else line)
    if not report.changed and not report.recorded:
        print(f"warehouse is up to date ({len(specs)} source(s))")
    elif args.plan:
        print("nothing was changed (--plan); run the command without --plan to do it")
    return 0 if report.ok and not result.errors else 1


def _history_window(spec: SourceSpec, args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    until = args.until or dt.datetime.now(dt.UTC).date()
    since = args.since or until - dt.timedelta(days=max(spec.dedup.history_days, 1))
    return since, until


def cmd_dedup_label(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.cleaning.labelling import label
    from harvest.cleaning.stage import history_columns
    from harvest.storage.warehouse import open_warehouse

    spec = _spec(settings, args.source)
    if spec is None:
        return 1
    since, until = _history_window(spec, args)
    with open_warehouse(settings, spec) as warehouse:
        frame = warehouse.read_history(spec.name, since, until, history_columns(spec))
    print(
        f"{len(frame)} processed records of {spec.name} from {since} to {until}; answer "
        "y(es) / n(o) / u(nsure) / f(inished) / p(revious) for each pair shown",
        file=sys.stderr,
    )
    try:
        result = label(spec, frame, sample=args.sample)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{result.path}: {result.matches} match and {result.distincts} distinct pairs "
        f"({result.added} new){'; stopped early, run again to go on' if result.interrupted else ''}"
    )
    return 0


def cmd_dedup_review(settings: Settings, args: argparse.Namespace) -> int:
    from harvest.cleaning.labelling import review_lines
    from harvest.storage.warehouse import open_warehouse

    spec = _spec(settings, args.source)
    if spec is None:
        return 1
    with open_warehouse(settings, spec) as warehouse:
        matches = warehouse.read_dedup_matches(spec.name, since=args.since, until=args.until)
    for line in review_lines(spec, matches, limit=args.limit):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harvest", description=__doc__.splitlines()[0])
    common, reports = output_options()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("specs", help="validate every source spec", parents=[common]).set_defaults(
        func=cmd_specs
    )
    crawl = sub.add_parser(
        "crawl", help="scrape one source for one logical date into the raw store", parents=[reports]
    )
    crawl.add_argument("--source", required=True)
    crawl.add_argument("--date", required=True, type=_date, help="logical date, YYYY-MM-DD")
    crawl.add_argument("--base-url", help="override the spec's base URL")
    crawl.add_argument("--recrawl", action="store_true", help=RECRAWL_HELP)
    crawl.set_defaults(func=cmd_crawl)
    stages = {
        "validate": (
            "validate one partition: quarantine, results, staged valid records",
            cmd_validate,
        ),
        "clean": ("clean one validated partition: normalise, de-duplicate, impute", cmd_clean),
        "load": ("load one cleaned partition into the warehouse, record its counts", cmd_load),
        "run": ("scrape, validate, clean and load one partition in this process", cmd_run),
    }
    for name, (text, func) in stages.items():
        stage = sub.add_parser(name, help=text, parents=[reports])
        stage.add_argument("--source", required=True)
        stage.add_argument("--date", required=True, type=_date, help="logical date, YYYY-MM-DD")
        if name == "run":
            stage.add_argument("--base-url", help="override the spec's base URL")
            stage.add_argument(
                "--no-scrape", action="store_true", help="start from the raw partition stored"
            )
            stage.add_argument("--recrawl", action="store_true", help=RECRAWL_HELP)
        stage.set_defaults(func=func)
    preview = sub.add_parser(
        "preview",
        help="fetch one page and show every field and link level a spec finds there",
        parents=[common],
    )
    which = preview.add_mutually_exclusive_group(required=True)
    which.add_argument("--source", help="a source in the sources folder")
    which.add_argument("--spec", help="a spec file (a source not added yet)")
    preview.add_argument("--url", required=True, help="the page to try the spec on")
    preview.add_argument("--render", action="store_true", help="render with Chromium anyway")
    preview.set_defaults(func=cmd_preview)
    warehouse = sub.add_parser("warehouse", help="manage the warehouse tables")
    warehouse_sub = warehouse.add_subparsers(dest="warehouse_command", required=True)
    migrate = warehouse_sub.add_parser(
        "migrate",
        parents=[common],
        help="make the warehouse match the specs: new tables and columns, retyped fields and "
        "mode switches, keeping every row (idempotent; --plan says what it would do)",
    )
    migrate.add_argument("--url", help="warehouse URL (default: HARVEST_WAREHOUSE_URL or SQLite)")
    migrate.add_argument("--source", help="only this source's tables")
    migrate.add_argument(
        "--plan",
        action="store_true",
        help="say what it would do (a retyped field, a mode switch, new columns), change nothing",
    )
    migrate.set_defaults(func=cmd_warehouse_migrate)
    dedup = sub.add_parser("dedup", help="label and review de-duplication pairs")
    dedup_sub = dedup.add_subparsers(dest="dedup_command", required=True)
    label = dedup_sub.add_parser(
        "label",
        parents=[common],
        help="label re-listing pairs at the console (dedupe active learning, resumable)",
    )
    review = dedup_sub.add_parser(
        "review",
        parents=[common],
        help="show the near pairs scored close to the threshold, dropped or kept",
    )
    for command in (label, review):
        command.add_argument("--source", required=True)
        command.add_argument("--since", type=_date, help="first logical date, YYYY-MM-DD")
        command.add_argument("--until", type=_date, help="last logical date, YYYY-MM-DD")
    label.add_argument("--sample", type=int, default=5000, help="records to draw pairs from")
    label.set_defaults(func=cmd_dedup_label)
    review.add_argument("--limit", type=int, default=20, help="pairs to show, closest first")
    review.set_defaults(func=cmd_dedup_review)
    add_repair_command(sub, [common], _date, cmd_repair)
    add_init_command(sub, [common], cmd_init)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    command_name = args.func.__name__.removeprefix("cmd_").replace("_", "-")
    args.log_path = configure_logging(settings.home / "logs", command_name, verbose=args.verbose)
    if not args.verbose:  # with -v the log lines say how far a step is
        show_bars(sys.stderr)  # on a terminal only: bars of the crawl's pages, batches, trials
    try:
        code = int(args.func(settings, args))
        sys.stdout.flush()  # a reader gone (`| head`) is met here, not at the interpreter's exit
        return code
    except BrokenPipeError:  # `harvest preview ... | head`: stop quietly, as standard tools do
        return quiet_broken_pipe()
    except HarvestError as exc:  # expected: the message says what, where and what to do
        return print_error(exc, args.log_path)
    except KeyboardInterrupt:  # Ctrl-C: stopped on purpose, no traceback (the crawl child too)
        print(f"interrupted (the log: {args.log_path})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
