"""A redesigned night for the app's Repairs page: `python scripts/repair_demo.py`.

Crawls the bundled ``demo`` source from a demo site of its own (a free port of 127.0.0.1, no
JavaScript page) for night 1 into ``HARVEST_HOME`` (the embedded defaults: the warehouse a
SQLite file, the raw store files), then re-templates the site (the demo's ``retemplated`` fault:
the same values in another template, docs/demo-site.md) and crawls night 2: the real scrape
stage finds no item page, derives the repair from night 1's values and stores the proposal
under ``<HARVEST_HOME>/repairs/demo/`` (the list level's links and next page, and the item
pages' fields reached through them), as a nightly run would; nothing is applied. The demo
source's start URL is fixed on night 1's list page in a copy of the bundled specs
(``<HARVEST_HOME>/sources``, the ``HARVEST_SOURCES_DIR`` to give ``harvest repair``), so night
2 shows the same item pages. Then ``python scripts/app_screenshots.py --pages repairs`` with the
same ``HARVEST_HOME`` screenshots the Repairs page showing it (docs/app.md).

    HARVEST_HOME=/tmp/repairs python scripts/repair_demo.py
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from harvest.config import Settings, load_spec
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.learning.proposals import pending_proposal
from harvest.pipeline import run_partition
from harvest.scraping.checks import CrawlCheckFailed
from harvest_demo.generator import SiteConfig
from harvest_demo.server import DemoSite, Faults

NIGHT1 = dt.date(2026, 11, 25)
NIGHT2 = NIGHT1 + dt.timedelta(days=1)
SITE = SiteConfig(seed=11, listings_per_day=24, page_size=10, js_fraction=0.0)


def main() -> int:
    if "HARVEST_HOME" not in os.environ:
        print("set HARVEST_HOME (a folder of its own: the nights are written there)")  # noqa: T201
        return 2
    home = Path(os.environ["HARVEST_HOME"])
    folder = home / "sources"
    shutil.copytree(DEFAULT_SOURCES_DIR, folder, dirs_exist_ok=True)
    spec_file = folder / "demo.yaml"
    dated = '"{base_url}/listings/{date}"'
    text = spec_file.read_text(encoding="utf-8")
    spec_file.write_text(text.replace(dated, f'"{{base_url}}/listings/{NIGHT1}"'), "utf-8")
    os.environ["HARVEST_SOURCES_DIR"] = str(folder)
    settings = Settings.from_env()
    with DemoSite(SITE) as site:
        for day in (NIGHT1, NIGHT2):
            if day == NIGHT2:
                site.set_faults(Faults(retemplated=True))
            night = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3), dt.UTC)
            try:
                run_partition(
                    load_spec(spec_file), day, settings, base_url=site.base_url, now=night
                )
            except CrawlCheckFailed as exc:  # night 2: the crawl's own check, as every night
                print(f"night {day}: {exc}")  # noqa: T201
    proposal = pending_proposal(settings.home, "demo")
    if proposal is None:
        print("no proposal stored: the re-templated night was not seen as drifted")  # noqa: T201
        return 1
    print(f"{proposal.line()}\nsources: HARVEST_SOURCES_DIR={folder}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
