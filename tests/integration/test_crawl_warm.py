"""A crawl child started ahead of its crawl (harvest.scraping.warm, what ``make demo`` does while
Airflow starts): the crawl takes it and gives what a new child gives (pages, counts, logs,
progress), a child with other start-up settings is not taken, one never taken is ended having
crawled nothing, and it imports nothing a crawl would not have imported. Real demo site, real
crawl children."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvest import progress
from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.crawler.warm import PRELOAD, PRELOAD_MONITORS
from harvest.scraping import run_crawl
from harvest.scraping.runner import _child_env
from harvest.scraping.warm import warm_crawl_child
from harvest.storage.raw import FileRawStore
from harvest_demo import DemoSite, SiteConfig

DAY = dt.date(2026, 3, 1)
CONFIG = SiteConfig(seed=7, listings_per_day=12, page_size=5)
REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(REPO / "include/harvest/sources/demo.yaml")
FAST = {"AUTOTHROTTLE_START_DELAY": 0.1, "HARVEST_RETRY_BACKOFF_SECONDS": 0.1}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# what differs between two crawls of the same pages: times, sizes of timing-dependent stats
VARYING = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d+(\.\d+)?")


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(CONFIG) as running:
        yield running


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def crawl(site: DemoSite, home: Path, warm: bool) -> dict[str, Any]:
    """One crawl of the demo day into ``home``, by a child started ahead or a new one: its
    result, documents, log lines (the child's included) and progress bar text."""
    settings = Settings.from_env({"HARVEST_HOME": str(home)})
    logger = logging.getLogger(f"test.crawl_warm.{home.name}")
    logger.setLevel(logging.INFO)
    handler = Lines()
    logger.addHandler(handler)
    terminal = io.StringIO()
    progress.show_bars(terminal, force_terminal=True)
    try:
        if warm:
            with warm_crawl_child(settings, SPEC.monitors.enabled) as child:
                result = run_crawl(SPEC, DAY, settings, base_url=site.base_url, logger=logger,
                                   timeout_seconds=120, extra_scrapy_settings=FAST)  # fmt: skip
            assert child.taken, "the crawl started a new child"
            assert child.proc.returncode == 0
        else:
            result = run_crawl(SPEC, DAY, settings, base_url=site.base_url, logger=logger,
                               timeout_seconds=120, extra_scrapy_settings=FAST)  # fmt: skip
    finally:
        progress.show_bars(None)
        logger.removeHandler(handler)
    docs = FileRawStore(settings.raw_store_url.removeprefix("file://")).read_partition(
        SPEC.name, DAY
    )
    return {
        "result": result.to_dict(),
        "docs": sorted((d.url, json.dumps(d.fields, sort_keys=True)) for d in docs),
        "log": [line.replace(str(home), "<home>") for line in handler.lines],
        "bar": ANSI.sub("", terminal.getvalue()),
    }


def test_a_crawl_takes_the_child_started_ahead_and_gives_what_a_new_child_gives(
    site: DemoSite, tmp_path: Path
) -> None:
    new = crawl(site, tmp_path / "new", warm=False)
    warm = crawl(site, tmp_path / "warm", warm=True)
    assert warm["docs"] == new["docs"] and len(new["docs"]) > 12
    varying = {"duration_seconds", "raw_uri", "bytes", "monitors_cpu_seconds", "exit_code"}
    assert {k: v for k, v in warm["result"].items() if k not in varying} == {
        k: v for k, v in new["result"].items() if k not in varying
    }
    assert warm["result"]["exit_code"] == 0
    # the same log lines (the child's Scrapy lines streamed into the task's logger), but for
    # times and timing-dependent figures
    shapes = [sorted({VARYING.sub("#", line) for line in c["log"]}) for c in (new, warm)]
    assert shapes[0] == shapes[1]
    assert any("crawl finished" in line for line in warm["log"])
    pages = warm["result"]["pages_asked"]
    assert f"{pages}/{pages} pages" in warm["bar"] and f"crawling {SPEC.name}" in warm["bar"]


def test_a_child_started_ahead_and_never_taken_is_ended_having_crawled_nothing(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with warm_crawl_child(settings) as child:
        assert child.proc.poll() is None  # waiting for its order
    assert not child.taken
    assert child.proc.returncode is not None  # ended, not left behind
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").rglob("*.*"))


def test_a_crawl_with_other_interpreter_settings_gets_a_new_child(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    with warm_crawl_child(settings) as child:
        # read as the interpreter starts: the child started ahead cannot take it any more
        monkeypatch.setenv("PYTHONWARNINGS", "ignore::DeprecationWarning")
        result = run_crawl(SPEC, DAY, settings, base_url=site.base_url,
                           extra_scrapy_settings=FAST)  # fmt: skip
        assert not child.taken
        assert child.proc.returncode is not None  # ended when it was passed over
    assert result.documents > 12


def test_the_child_started_ahead_imports_nothing_a_crawl_does_not(
    site: DemoSite, tmp_path: Path
) -> None:
    """What :data:`PRELOAD` imports (and whatever they import) is imported by every crawl
    anyway: the child started ahead runs nothing the crawl task would not have run."""
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    spec_path = tmp_path / "demo.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC.model_dump(mode="json"), sort_keys=False))
    env = {**_child_env(settings), "HARVEST_MODULES_OUT": str(tmp_path / "modules.json")}
    dump = (
        "import json, os, sys\n"
        "def dump():\n"
        "    with open(os.environ['HARVEST_MODULES_OUT'], 'w') as out:\n"
        "        json.dump(sorted(sys.modules), out)\n"
    )
    crawled = dump + (
        "from harvest.crawler import crawl\n"
        "crawl.leave_out_unused_modules()\n"
        "code = crawl.main(sys.argv[1:])\n"
        "dump()\n"
        "crawl.exit_now(code)\n"
    )
    command = ["--spec", str(spec_path), "--date", DAY.isoformat(), "--base-url", site.base_url,
               "--scrapy-settings", json.dumps(FAST)]  # fmt: skip
    run = subprocess.run([sys.executable, "-c", crawled, *command], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    crawl_modules = set(json.loads((tmp_path / "modules.json").read_text()))
    preloaded = dump + (
        "import importlib\n"
        "from harvest.crawler import crawl\n"
        "crawl.leave_out_unused_modules()\n"
        "from harvest.crawler.warm import PRELOAD, PRELOAD_MONITORS\n"
        "for name in PRELOAD + PRELOAD_MONITORS:\n"
        "    importlib.import_module(name)\n"
        "dump()\n"
    )
    run = subprocess.run([sys.executable, "-c", preloaded], env=env, capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    warm_modules = set(json.loads((tmp_path / "modules.json").read_text()))
    assert SPEC.monitors.enabled  # the demo spec runs monitors: PRELOAD_MONITORS is checked too
    assert set(PRELOAD + PRELOAD_MONITORS) <= crawl_modules
    assert warm_modules - crawl_modules == {"harvest.crawler.warm"}
    # and it is most of the crawl's start-up: Scrapy's engine and downloader are in it
    assert {"scrapy.core.engine", "twisted.web.client", "spidermon"} <= warm_modules
    assert "twisted.internet.reactor" not in warm_modules  # the crawl installs its own


def test_the_child_started_ahead_is_ended_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Started from a thread that ends (as if the process that started it died): the child
    gets SIGTERM (Linux's parent-death signal), as a new crawl child would."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's prctl")
    import threading

    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path)})
    children: list[Any] = []

    def start() -> None:
        from harvest.scraping.warm import start_warm_child

        children.append(start_warm_child(_child_env(settings)))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    child = children[0]
    try:
        assert child.proc.wait(timeout=30) == -15
    finally:
        child.end()
