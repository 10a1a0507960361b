"""A week of the catalogue demo, night by night, with a currency-rate update and one failed list
page: the versions each night opened, closed and left unobserved, beside the site's truth.

    .venv/bin/python scripts/catalogue_week.py [--days 7] [--fail-night 3] [--rate-night 5]

Every night is the bundled ``catalogue.yaml`` through the real pipeline (crawl, validate, clean,
load) into a fresh SQLite warehouse, the demo site serving that night's catalogue. On the
``--fail-night`` the site answers 503 all night for page 2 of the books list (so pages 2, 3... of
books are not read); from the ``--rate-night`` on, the USD and GBP rates to EUR are higher (the
spec's ``currency_rates`` file gets a dated row). The site's truth per night is
:func:`harvest_demo.catalogue_truth.catalogue_changes`: opened = appeared + changed, closed =
disappeared + changed. A *false closing* is a version closed on a night the product was still
shown. Issue 18's note compares this table before and after its change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
for part in ("include", "plugins"):  # after PYTHONPATH: another checkout's code may be measured
    if str(ROOT / part) not in sys.path:
        sys.path.append(str(ROOT / part))

from harvest.config.settings import Settings  # noqa: E402
from harvest.config.spec import load_spec  # noqa: E402
from harvest.pipeline import run_partition  # noqa: E402
from harvest_demo import CatalogueConfig, DemoSite, Faults, SiteConfig  # noqa: E402
from harvest_demo.catalogue import catalogue_for_day  # noqa: E402
from harvest_demo.catalogue_truth import catalogue_changes  # noqa: E402

FAILED_PAGE = "/catalogue/category/books/?page=2"
RATES = {"USD": (0.86, 0.95), "GBP": (1.15, 1.21)}  # to EUR: before, from the rate night on


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def spec_with_rates(folder: Path, first: dt.date, rate_day: dt.date) -> Path:
    """The bundled catalogue spec beside a rates file whose USD and GBP rates rise on
    ``rate_day``."""
    bundled = ROOT / "include/harvest/sources/catalogue.yaml"
    data = yaml.safe_load(bundled.read_text(encoding="utf-8"))
    original = (bundled.parent / data["currency_rates"]).read_text(encoding="utf-8").splitlines()
    rows = [original[0]]
    rows += [line for line in original[1:] if line.split(",")[1] not in RATES]
    for code, (before, after) in RATES.items():
        rows.append(f"{first - dt.timedelta(days=30)},{code},EUR,{before}")
        rows.append(f"{rate_day},{code},EUR,{after}")
    (folder / "rates.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data["currency_rates"] = "rates.csv"
    path = folder / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--fail-night", type=int, default=3, help="1-based; 0: none")
    parser.add_argument("--rate-night", type=int, default=5, help="1-based; 0: none")
    parser.add_argument("--first", type=dt.date.fromisoformat, default=dt.date(2026, 11, 2))
    args = parser.parse_args()
    config = CatalogueConfig()
    days = [args.first + dt.timedelta(days=i) for i in range(args.days)]
    rate_day = days[args.rate_night - 1] if args.rate_night else days[-1] + dt.timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = load_spec(spec_with_rates(folder, days[0], rate_day))
        settings = Settings.from_env({"HARVEST_HOME": str(folder / "home")})
        takes_now = "now" in inspect.signature(run_partition).parameters
        say(
            "night  date        marks          truth open/close  opened  closed  unobserved  "
            "false closings"
        )
        with DemoSite(SiteConfig(seed=config.seed), catalogue=config, day=days[0]) as site:
            for night, day in enumerate(days, start=1):
                site.set_day(day)
                failing = night == args.fail_night
                site.set_faults(Faults(fail_paths=(FAILED_PAGE,)) if failing else Faults())
                extra = {}
                if takes_now:  # the night of the day: the site shows that day
                    extra["now"] = dt.datetime.combine(
                        day + dt.timedelta(days=1), dt.time(3, 30), dt.UTC
                    )
                load = run_partition(spec, day, settings, base_url=site.base_url, **extra)["load"]
                marks = ("list page 503 " if failing else "") + (
                    "rate update" if day == rate_day else ""
                )
                truth = ""
                if night > 1:
                    kinds = [c.kind for c in catalogue_changes(config, days[night - 2], day)]
                    changed = kinds.count("changed")
                    truth = f"{kinds.count('appeared') + changed}/{kinds.count('disappeared') + changed}"
                false = false_closings(settings, day, config)
                say(
                    f"{night:>5}  {day}  {marks:<13}  {truth:>16}  {load['versions_opened']:>6}  "
                    f"{load['versions_closed']:>6}  {load.get('versions_unobserved', '-')!s:>10}  "
                    f"{false:>14}"
                )
    return 0


def false_closings(settings: Settings, day: dt.date, config: CatalogueConfig) -> int:
    """Versions closed on ``day`` whose product the site still showed that day, unchanged (no
    version of it opens on ``day``)."""
    shown = {p.product_id for p in catalogue_for_day(config, day)}
    engine = sa.create_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            table = sa.Table("versions_catalogue", sa.MetaData(), autoload_with=conn)
            closed = set(
                conn.execute(sa.select(table.c.record_key).where(table.c.valid_to == day)).scalars()
            )
            reopened = set(
                conn.execute(
                    sa.select(table.c.record_key).where(table.c.valid_from == day)
                ).scalars()
            )
    finally:
        engine.dispose()
    return len((closed & shown) - reopened)


if __name__ == "__main__":
    sys.exit(main())
