"""``python -m harvest_demo serve|truth``: run the demo site (listings and catalogue), or
write a day's ground truth of either."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest_demo.catalogue import CatalogueConfig
from harvest_demo.catalogue_truth import (
    CATALOGUE_TRUTH_COLUMNS,
    DEFAULT_BASE_URL,
    catalogue_truth,
)
from harvest_demo.faults import Faults
from harvest_demo.generator import SiteConfig, ground_truth
from harvest_demo.listing import GROUND_TRUTH_COLUMNS
from harvest_demo.server import DemoSite

DEMO_SPEC = DEFAULT_SOURCES_DIR / "demo.yaml"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (expected YYYY-MM-DD): {text!r}") from exc


def _add_site_options(parser: argparse.ArgumentParser) -> None:
    defaults = SiteConfig()
    for option, text in (
        ("--seed", "the random seed of every page: the same seed, the same site"),
        ("--listings-per-day", "listings published per day"),
        ("--page-size", "listings per index page"),
    ):
        default = getattr(defaults, option.removeprefix("--").replace("-", "_"))
        parser.add_argument(option, type=int, default=default, help=f"{text} (default {default})")
    parser.add_argument(
        "--catalogue-products",
        type=int,
        default=CatalogueConfig().products,
        help="product slots of the catalogue at /catalogue/ (about 9 in 10 are visible on a day)",
    )


def _config(args: argparse.Namespace) -> SiteConfig:
    return SiteConfig(
        seed=args.seed, listings_per_day=args.listings_per_day, page_size=args.page_size
    )


def _catalogue(args: argparse.Namespace) -> CatalogueConfig:
    return CatalogueConfig(seed=args.seed, products=args.catalogue_products)


def _hour_minute(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time (HH:MM)") from exc


def latest_interval_day(now: dt.datetime, ends_at: dt.time) -> dt.date:
    """The start day of the latest complete daily data interval that ends at ``ends_at`` (UTC)
    at or before ``now``: the date a scheduled run due at ``now`` processes (a cron
    ``M H * * *`` with data intervals; see docs/concepts/runs.md)."""
    now = now.astimezone(dt.UTC)
    end = dt.datetime.combine(now.date(), ends_at, tzinfo=dt.UTC)
    if end > now:
        end -= dt.timedelta(days=1)
    return (end - dt.timedelta(days=1)).date()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harvest_demo",
        description="The bundled demo sites: rental listings (/) and a product catalogue (/catalogue/).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the site over HTTP until interrupted")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--date",
        type=_date,
        help="YYYY-MM-DD: the day the catalogue shows (default: today, UTC); "
        "POST /_control/day changes it while serving",
    )
    serve.add_argument(
        "--nightly-at",
        type=_hour_minute,
        metavar="HH:MM",
        help="follow the clock as a nightly run sees it: the catalogue shows the start day of "
        "the latest daily data interval ending at HH:MM UTC (`make up`: the catalogue source's "
        "schedule), so a scheduled run of date D finds day D, as `make demo` for D does",
    )
    _add_site_options(serve)
    no_faults = Faults()
    faults = serve.add_argument_group(
        "faults", "what the site gets wrong on purpose (none by default)"
    )
    for option, kind, text in (
        ("--error-rate", float, "probability (0-1) that a request is answered 503"),
        ("--fail-first", int, "each URL is answered 503 on its first N requests, then served"),
        ("--slow-rate", float, "probability (0-1) that an answer waits --slow-seconds"),
        ("--slow-seconds", float, "how long a slow answer waits (default %(default)s)"),
        ("--truncate-rate", float, "probability (0-1) that an HTML body is cut half-way"),
    ):
        default = getattr(no_faults, option.removeprefix("--").replace("-", "_"))
        faults.add_argument(option, type=kind, default=default, help=text)
    faults.add_argument(
        "--layout-drift",
        action="store_true",
        help="item pages say data-attr instead of data-field (the demo spec's selectors miss)",
    )
    faults.add_argument(
        "--retemplated",
        action="store_true",
        help="index and item pages in another template, the same values (a redesign)",
    )

    truth = commands.add_parser("truth", help="write the ground truth of one day as CSV")
    truth.add_argument("--date", type=_date, required=True, help="YYYY-MM-DD")
    truth.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    truth.add_argument(
        "--site",
        choices=("listings", "catalogue"),
        default="listings",
        help="listings: the listings first published on the date; catalogue: the products "
        "visible on the date",
    )
    truth.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, help="catalogue: the site's URLs start with this"
    )
    _add_site_options(truth)

    pairs = commands.add_parser(
        "dedup-pairs",
        help="write the demo source's labelled de-duplication pairs from the ground truth",
    )
    pairs.add_argument("--spec", type=Path, default=DEMO_SPEC, help="the demo source's spec")
    pairs.add_argument("--matches", type=int, default=50, help="re-listing pairs")
    pairs.add_argument("--distincts", type=int, default=50, help="different-flat pairs")
    pairs.add_argument("--out", type=Path, help="default: the spec's dedup.training_file")
    return parser


def _write_truth(rows: list[dict[str, object]], columns: Sequence[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _write_pairs(args: argparse.Namespace) -> int:
    from harvest.cleaning.near import training_path, write_pairs
    from harvest.config.spec import load_spec
    from harvest_demo.dedup_pairs import labelled_pairs

    spec = load_spec(args.spec)
    out = args.out or training_path(spec)
    if out is None:
        raise ValueError(f"{args.spec} names no dedup.training_file: pass --out")
    write_pairs(out, labelled_pairs(spec, args.matches, args.distincts))
    sys.stderr.write(f"wrote {args.matches} match and {args.distincts} distinct pairs to {out}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "dedup-pairs":
        try:
            return _write_pairs(args)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        config = _config(args)
        catalogue = _catalogue(args)
        if args.command == "truth":
            columns: Sequence[str]
            if args.site == "catalogue":
                rows = catalogue_truth(catalogue, args.date, args.base_url)
                columns, what = CATALOGUE_TRUTH_COLUMNS, "catalogue products"
            else:
                rows = ground_truth(config, args.date)
                columns, what = GROUND_TRUTH_COLUMNS, "listings"
            if args.out is None:
                _write_truth(rows, columns, sys.stdout)
            else:
                with args.out.open("w", encoding="utf-8", newline="") as out:
                    _write_truth(rows, columns, out)
                sys.stderr.write(f"wrote {len(rows)} {what} of {args.date} to {args.out}\n")
            return 0
        faults = Faults(
            error_rate=args.error_rate,
            fail_first=args.fail_first,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            truncate_rate=args.truncate_rate,
            layout_drift=args.layout_drift,
            retemplated=args.retemplated,
        )
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def ready(url: str) -> None:
        logging.getLogger(__name__).info(
            "demo site serving %s (seed=%s, %s listings/day, faults=%s) and its catalogue at "
            "%s/catalogue/ (%s products, day %s); Ctrl-C stops",
            url,
            config.seed,
            config.listings_per_day,
            faults.to_dict(),
            url,
            catalogue.products,
            args.date
            or (f"of the interval ending at {args.nightly_at:%H:%M} UTC" if nightly else "today"),
        )

    nightly = args.nightly_at
    site = DemoSite(
        config,
        faults,
        host=args.host,
        port=args.port,
        catalogue=catalogue,
        day=args.date,
        today=(lambda: latest_interval_day(dt.datetime.now(dt.UTC), nightly)) if nightly else None,
    )
    site.serve_forever(on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
