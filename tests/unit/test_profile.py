"""The profiling report of a cleaned partition (harvest.cleaning.profile): bounded by the
settings, self-contained (renders offline), recorded beside the staged Parquet, and a warning,
never a failure, when it cannot be built."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harvest.app import links
from harvest.cleaning import profile
from harvest.config import Settings
from harvest.partitions import Partition
from harvest.storage.artifacts import local_path, read_artifact

DAY = dt.date(2026, 3, 15)


def _settings(home: Path, **env: str) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(home), "HARVEST_PROFILE_PLOTS": "true", **env})


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "price_eur": rng.normal(900, 150, rows),
            "district": rng.choice(["north", "south", None], rows),
            "title": [f"flat {i}" for i in range(rows)],
            "logical_date": pd.Timestamp(DAY),
        }
    )


def test_the_report_reads_a_bounded_sample_and_is_recorded(tmp_path: Path) -> None:
    settings = _settings(tmp_path, HARVEST_PROFILE_MAX_ROWS="500", HARVEST_PROFILE_MAX_COLUMNS="3")
    partition = Partition("demo", DAY)
    report = profile.profile_partition(_frame(2_000), partition, settings)
    assert report.status == "built", report.message
    assert (report.rows, report.rows_profiled) == (2_000, 500)
    assert (report.columns, report.columns_profiled) == (4, 3)
    assert 0 < report.seconds <= settings.profile_seconds
    html = local_path(report.uri).read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert "price_eur" in html and "district" in html and "logical_date" not in html
    # self-contained: no script, style sheet or image loaded from anywhere
    assert not re.findall(r'<(?:script|img|link)\b[^>]*(?:src|href)="(?:https?:)?//', html)
    record = read_artifact(settings.staging_url, partition, "profile")
    assert record is not None and record["uri"] == report.uri
    assert record["rows_profiled"] == 500 and record["status"] == "built"
    assert report.uri.startswith(settings.staging_url + "/artifacts/demo/2026-03-15/")


def test_the_same_partition_profiles_the_same_rows() -> None:
    frame = _frame(1_000)
    first = profile.bounded_frame(frame, 100, 10)
    assert first.equals(profile.bounded_frame(frame, 100, 10))
    assert list(first.index) == sorted(first.index)


def test_a_report_over_its_time_budget_is_a_warning_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, HARVEST_PROFILE_SECONDS="0.001")
    report = profile.profile_partition(_frame(3_000), Partition("demo", DAY), settings)
    assert report.status == "timed out" and report.uri == ""
    assert "HARVEST_PROFILE_SECONDS" in report.message
    assert "profiling report of demo 2026-03-15 not built" in caplog.text
    record = read_artifact(settings.staging_url, Partition("demo", DAY), "profile")
    assert record is not None and record["status"] == "timed out"


def test_a_report_that_fails_is_recorded_with_its_reason(tmp_path: Path) -> None:
    frame = pd.DataFrame({"price_eur": [1.0, 2.0], "parser": [lambda: 1, lambda: 2]})
    settings = _settings(tmp_path)
    report = profile.profile_partition(frame, Partition("demo", DAY), settings)
    assert report.status == "failed" and report.uri == ""
    assert "failed: " in report.message and "pickle" in report.message.lower()
    record = read_artifact(settings.staging_url, Partition("demo", DAY), "profile")
    assert record is not None and record["message"] == report.message


def test_zero_rows_turns_the_report_off(tmp_path: Path) -> None:
    settings = _settings(tmp_path, HARVEST_PROFILE_MAX_ROWS="0")
    report = profile.profile_partition(_frame(10), Partition("demo", DAY), settings)
    assert report.status == "off"
    assert read_artifact(settings.staging_url, Partition("demo", DAY), "profile") is None


def test_bad_bounds_are_named() -> None:
    with pytest.raises(ValueError, match="HARVEST_PROFILE_MAX_ROWS"):
        Settings.from_env({"HARVEST_PROFILE_MAX_ROWS": "-3"})


def test_links_to_a_run_and_its_task_logs_in_the_airflow_ui() -> None:
    run_id = links.scheduled_run_id("0 2 * * *", DAY)
    assert run_id == "scheduled__2026-03-16T02:00:00+00:00"
    assert links.scheduled_run_id("@weekly", DAY) is None
    urls = links.airflow_run_links("http://airflow:8080/", "harvest_demo", run_id)
    run = "http://airflow:8080/dags/harvest_demo/runs/scheduled__2026-03-16T02%3A00%3A00%2B00%3A00"
    assert urls == {"run": run, **{t: f"{run}/tasks/{t}" for t in links.STAGE_TASKS}}


def test_a_page_with_its_files_inline(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.css").write_text("body{color:red}")
    (tmp_path / "static" / "b.js").write_text("var x=1;")
    page = tmp_path / "docs" / "page.html"
    page.parent.mkdir()
    page.write_text(
        '<link rel="stylesheet" href="../static/a.css"><script src="../static/b.js"></script>'
        '<a href="https://example.org">x</a><script src="../static/missing.js"></script>'
    )
    html = links.inline_page(page)
    assert 'href="data:text/css;base64,' in html and 'src="data:text/javascript;base64,' in html
    assert 'href="https://example.org"' in html and 'src="../static/missing.js"' in html


STARTED_AHEAD = """
import datetime as dt, multiprocessing.forkserver as forkserver, sys
import numpy as np, pandas as pd
from harvest.cleaning import profile
from harvest.config import Settings
from harvest.partitions import Partition
settings = Settings.from_env({"HARVEST_HOME": sys.argv[1], "HARVEST_PROFILE_MAX_ROWS": sys.argv[2]})
started = profile.start_profile_server(settings)
server = forkserver._forkserver._forkserver_pid
print(started, server is not None)
if started:
    frame = pd.DataFrame({"price_eur": np.arange(50.0), "title": [f"flat {i}" for i in range(50)]})
    report = profile.profile_partition(frame, Partition("demo", dt.date(2026, 3, 15)), settings)
    print(report.status, forkserver._forkserver._forkserver_pid == server)
"""


@pytest.mark.parametrize("rows", ["5000", "0"])
def test_the_report_server_started_ahead_is_the_one_the_report_uses(
    tmp_path: Path, rows: str
) -> None:
    """make demo starts it while Airflow starts: in the background, only when reports are on,
    and the first report is forked from it rather than from a server of its own."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", STARTED_AHEAD, str(tmp_path), rows],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    expected = "True True\nbuilt True" if rows != "0" else "False False"
    assert out.stdout.strip() == expected


def test_a_report_is_built_when_the_main_script_cannot_run_again(tmp_path: Path) -> None:
    """In an Airflow task the main script is the ``airflow`` command, which cannot be imported
    again in the report's child (the task blocks the metadata DB's URL in its environment):
    the child must not run it. Here a main script that refuses to run twice, as that one does."""
    import subprocess
    import sys

    script = tmp_path / "main_once.py"
    script.write_text(
        "import os, sys\n"
        "if os.environ.get('MAIN_RAN'):\n"
        "    sys.exit('the main script ran again in the report child')\n"
        "os.environ['MAIN_RAN'] = '1'\n"
        "import pandas as pd\n"
        "from harvest.cleaning.profile import _build_within\n"
        "html, why = _build_within(pd.DataFrame({'a': [1, 2, 3]}), 't', False, 300)\n"
        "print('built' if html else why)\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "built", run.stdout + run.stderr
