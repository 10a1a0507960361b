"""The crawl's pages as a progress bar: read from the crawl child's progress pipe, drawn on a
terminal only (a pseudo-terminal here), never on a pipe, and gone before the summary."""

from __future__ import annotations

import datetime as dt
import io
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvest import progress
from harvest.config.settings import Settings
from harvest.config.spec import load_spec
from harvest.scraping import run_crawl
from harvest_demo import DemoSite, SiteConfig

DAY = dt.date(2026, 3, 1)
CONFIG = SiteConfig(seed=7, listings_per_day=12, page_size=5)
REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(REPO / "include/harvest/sources/demo.yaml")
FAST = {"AUTOTHROTTLE_START_DELAY": 0.1, "HARVEST_RETRY_BACKOFF_SECONDS": 0.1}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR = "━"  # the bar's character (rich)


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(CONFIG) as running:
        yield running


def test_the_bar_counts_the_crawl_child_pages_up_to_the_pages_asked(
    site: DemoSite, tmp_path: Path
) -> None:
    terminal = io.StringIO()
    assert progress.show_bars(terminal, force_terminal=True)
    try:
        result = run_crawl(
            SPEC, DAY, Settings.from_env({"HARVEST_HOME": str(tmp_path)}),
            base_url=site.base_url, extra_scrapy_settings=FAST,
        )  # fmt: skip
    finally:
        progress.show_bars(None)
    text = ANSI.sub("", terminal.getvalue())
    # the index pages, the 12 detail pages and robots.txt's ignored links, all done
    assert result.pages_asked > 12
    assert f"{result.pages_asked}/{result.pages_asked} pages" in text
    assert f"crawling {SPEC.name}" in text
    counts = [tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+) pages", text)]
    assert counts == sorted(counts)  # it only goes forward


def _cli(site: DemoSite, home: Path) -> list[str]:
    return [
        sys.executable, "-m", "harvest", "crawl", "--source", SPEC.name,
        "--date", DAY.isoformat(), "--base-url", site.base_url,
    ]  # fmt: skip


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TERM"}
    return {**env, "HARVEST_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "100"}


def test_the_cli_draws_the_bar_on_a_terminal_and_prints_the_summary_after_it(
    site: DemoSite, tmp_path: Path
) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        _cli(site, tmp_path), stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
        env=_env(tmp_path), cwd=REPO,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the CLI has ended and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    seen = b"".join(chunks).decode("utf-8", "replace")
    assert BAR in seen and "pages" in seen
    bar_end = seen.rindex(BAR)
    summary = seen.index(f"crawl of source {SPEC.name} for {DAY}: done")
    assert bar_end < summary  # the bar is erased before the summary is printed
    assert BAR not in seen[summary:]


def test_the_cli_draws_no_bar_on_a_pipe(site: DemoSite, tmp_path: Path) -> None:
    done = subprocess.run(
        _cli(site, tmp_path), capture_output=True, text=True, env=_env(tmp_path), cwd=REPO,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"crawl of source {SPEC.name} for {DAY}: done" in done.stdout
    for stream in (done.stdout, done.stderr):
        assert BAR not in stream and "\x1b[" not in stream
