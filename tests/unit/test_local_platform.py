"""`make up`'s start order and what it says the scheduler will start (harvest_local)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harvest_local as local


def _metadata_db(home: Path) -> sqlite3.Connection:
    home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(home / "airflow.db")
    conn.execute("CREATE TABLE dag_run (id INTEGER, dag_id TEXT, run_id TEXT, state TEXT)")
    conn.execute(
        "CREATE TABLE asset_dag_run_queue (asset_id INTEGER, target_dag_id TEXT, created_at TEXT)"
    )
    return conn


def test_pending_runs_names_runs_left_queued_and_asset_queued_dags(tmp_path: Path) -> None:
    assert local.pending_runs(tmp_path / "none") == []
    with _metadata_db(tmp_path) as conn:
        conn.executemany(
            "INSERT INTO dag_run VALUES (?, ?, ?, ?)",
            [
                (1, "harvest_demo", "manual__1", "success"),
                (2, "harvest_demo", "manual__2", "queued"),
                (3, "harvest_catalogue", "manual__3", "running"),
            ],
        )
        conn.executemany(
            "INSERT INTO asset_dag_run_queue VALUES (?, ?, ?)",
            [(1, "harvest_train_catalogue", "t"), (2, "harvest_train_catalogue", "t")],
        )
    assert local.pending_runs(tmp_path) == [
        ("harvest_catalogue", "run manual__3 left running"),
        ("harvest_demo", "run manual__2 left queued"),
        (
            "harvest_train_catalogue",
            "new data: 2 asset event(s) queued a run (it trains on the data loaded)",
        ),
    ]


class _Health(http.server.BaseHTTPRequestHandler):
    answers: list[dict[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        body = json.dumps(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/monitor/health"
    server.shutdown()


def test_wait_for_healthy_waits_for_every_component(health_server: str) -> None:
    starting = {"scheduler": {"status": None}, "triggerer": {"status": "healthy"}}
    healthy = {"scheduler": {"status": "healthy"}, "triggerer": {"status": "healthy"}}
    _Health.answers = [starting, starting, healthy]
    local.wait_for_healthy(health_server, ["scheduler", "triggerer"], 30, {}, {})
    assert _Health.answers == [healthy]

    _Health.answers = [starting]
    with pytest.raises(TimeoutError, match=r"^scheduler not healthy at .* within 2 s"):
        local.wait_for_healthy(health_server, ["scheduler", "triggerer"], 2, {}, {})


def test_wait_for_healthy_fails_at_once_when_a_component_exits(
    health_server: str, tmp_path: Path
) -> None:
    _Health.answers = [{"scheduler": {"status": None}}]
    log = tmp_path / "airflow-scheduler.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('no such table: dag'); sys.exit(3)"],
        stdout=log.open("wb"),
    )
    proc.wait()
    with pytest.raises(RuntimeError, match="airflow scheduler exited with 3:\nno such table: dag"):
        local.wait_for_healthy(
            health_server, ["scheduler"], 60, {"scheduler": proc}, {"scheduler": log}
        )


@pytest.mark.parametrize(
    ("now", "day"),
    [
        ("2026-12-06T02:59:59+00:00", "2026-12-04"),  # the run of 12-05 is not due yet
        ("2026-12-06T03:00:00+00:00", "2026-12-05"),  # due: interval 12-05 03:00 .. 12-06 03:00
        ("2026-12-06T23:30:00+00:00", "2026-12-05"),
        ("2026-12-07T01:00:00+01:00", "2026-12-05"),  # 00:00 UTC on 12-07
    ],
)
def test_the_nightly_demo_site_shows_the_day_the_scheduled_run_processes(
    now: str, day: str
) -> None:
    from harvest_demo.__main__ import latest_interval_day

    ends_at = dt.time(3, 0)
    assert latest_interval_day(dt.datetime.fromisoformat(now), ends_at) == dt.date.fromisoformat(
        day
    )


def test_make_up_serves_the_catalogue_of_its_schedules_latest_interval() -> None:
    sys.path.insert(0, str(local.REPO / "scripts"))
    try:
        import up
    finally:
        sys.path.remove(str(local.REPO / "scripts"))
    from harvest.config.settings import DEFAULT_SOURCES_DIR
    from harvest.config.spec import load_spec

    assert load_spec(DEFAULT_SOURCES_DIR / "catalogue.yaml").schedule == "0 3 * * *"
    assert up.catalogue_day_options() == ["--nightly-at", "03:00"]


def test_make_demo_says_when_each_task_of_its_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    sys.path.insert(0, str(local.REPO / "scripts"))
    try:
        import demo_runs
    finally:
        sys.path.remove(str(local.REPO / "scripts"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    conn = sqlite3.connect(tmp_path / "airflow.db", isolation_level=None)
    conn.execute("CREATE TABLE dag_run (id INTEGER, dag_id TEXT, run_id TEXT)")
    conn.execute(
        "CREATE TABLE task_instance (dag_id TEXT, run_id TEXT, task_id TEXT, state TEXT, "
        "start_date TEXT, end_date TEXT)"
    )
    task = "INSERT INTO task_instance VALUES ('harvest_demo', ?, ?, ?, ?, ?)"
    conn.execute("INSERT INTO dag_run VALUES (1, 'harvest_demo', 'before')")
    conn.execute(
        task, ("before", "scrape", "success", "2026-12-06 10:00:00", "2026-12-06 10:00:09")
    )
    with demo_runs.task_progress("harvest_demo", ("scrape", "load"), interval=0.1):
        conn.execute("INSERT INTO dag_run VALUES (2, 'harvest_demo', 'now')")
        conn.execute(
            task, ("now", "scrape", "up_for_retry", "2026-12-06 10:59:50", "2026-12-06 10:59:55")
        )
        time.sleep(0.5)
        conn.execute(
            "UPDATE task_instance SET state = 'running', start_date = '2026-12-06 11:00:00', "
            "end_date = NULL WHERE run_id = 'now'"
        )
        time.sleep(0.5)
        conn.execute(
            "UPDATE task_instance SET state = 'success', end_date = "
            "'2026-12-06 11:00:19.6' WHERE run_id = 'now'"
        )
        time.sleep(0.5)
        conn.execute(task, ("now", "load", "failed", "2026-12-06 11:00:20", "2026-12-06 11:00:22"))
    conn.close()
    assert (
        capfd.readouterr().out
        == "    scrape      up_for_retry (5 s, Airflow tries it again after its retry delay)\n"
        "    scrape      success (20 s)\n"
        "    load        failed (2 s)\n"
    )


def test_airflow_commands_do_not_warn_about_graphviz(tmp_path: Path) -> None:
    base = {"HARVEST_HOME": str(tmp_path / "h"), "PATH": "/usr/bin", "PYTHONWARNINGS": "error"}
    env = local.local_env(base=base)
    assert env["PYTHONWARNINGS"].split(",")[0] == "error"  # the user's own filters stay first
    warn = (
        "import warnings; warnings.warn_explicit('Could not import graphviz.', UserWarning, "
        "'dag_command.py', 57, module='airflow.cli.commands.dag_command'); "
        "warnings.warn_explicit('other', UserWarning, 'x.py', 1, module='airflow.other')"
    )
    run = subprocess.run(
        [sys.executable, "-c", warn], env=env, capture_output=True, text=True, check=False
    )
    assert "graphviz" not in run.stderr
    assert "UserWarning: other" in run.stderr  # only that module's warning is silenced
    assert "PYTHONWARNINGS=" in "\n".join(local.env_lines(base))


def _demo_of_mine(tmp_path: Path, spec: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/demo.py --source mine`` (``spec`` its YAML, the demo's renamed) with ``args``,
    in a home and sources folder of ``tmp_path``."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mine.yaml").write_text(spec.replace("name: demo", "name: mine"), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HARVEST_HOME": str(tmp_path / "home"),
        "HARVEST_SOURCES_DIR": str(sources),
        "PYTHONPATH": f"{local.REPO / 'include'}:{local.REPO / 'plugins'}",
    }
    return subprocess.run(
        [sys.executable, str(local.REPO / "scripts/demo.py"), "--source", "mine", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


DEMO_SPEC = local.REPO / "include/harvest/sources/demo.yaml"


def test_make_demo_refuses_at_once_a_source_whose_site_does_not_answer(tmp_path: Path) -> None:
    port = local.free_port()  # nothing listens there
    spec = DEMO_SPEC.read_text(encoding="utf-8").replace(
        "base_url: http://127.0.0.1:8000", f"base_url: http://127.0.0.1:{port}"
    )
    started = time.monotonic()
    run = _demo_of_mine(tmp_path, spec)
    assert run.returncode == 2, run.stdout + run.stderr
    assert time.monotonic() - started < 60  # before Airflow's metadata DB, not after retries
    assert f"source mine is crawled at http://127.0.0.1:{port}, which does not answer" in run.stdout
    assert (
        'DEMO_ARGS="--base-url URL"' in run.stdout and "HARVEST_SOURCE_MINE_BASE_URL" in run.stdout
    )
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "home" / "airflow" / "airflow.db").exists()
    assert local.unreachable(f"http://127.0.0.1:{port}/") is not None


def test_make_demo_refuses_at_once_a_date_before_the_spec_start_date(tmp_path: Path) -> None:
    spec = DEMO_SPEC.read_text(encoding="utf-8")
    spec = re.sub(r"(?m)^start_date: .*$", "", spec) + "start_date: 2026-03-01\n"
    run = _demo_of_mine(tmp_path, spec, "--date", "2026-02-28")
    assert run.returncode == 2, run.stdout + run.stderr
    assert (
        "error: source mine: logical date 2026-02-28 is before its spec's start_date 2026-03-01"
        in run.stdout
    )
    assert 'DEMO_ARGS="--date 2026-03-01"' in run.stdout and "earlier start_date" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "home" / "airflow" / "airflow.db").exists()  # before Airflow


@pytest.mark.parametrize("script", ["demo_training.py", "demo.py"])
def test_the_training_demo_refuses_at_once_days_before_the_spec_start_date(
    tmp_path: Path, script: str
) -> None:
    """``--days 8`` runs the 8 dates ending yesterday; with a start_date 5 days before
    yesterday, the first 2 would run nothing: refused before Airflow, naming source, date and
    start_date, with the most days that can run (``make demo`` checks it before its own date)."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start, first = yesterday - dt.timedelta(days=5), yesterday - dt.timedelta(days=7)
    spec = re.sub(r"(?m)^start_date: .*$", "", DEMO_SPEC.read_text(encoding="utf-8"))
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "demo.yaml").write_text(f"{spec}start_date: {start}\n", encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HARVEST_HOME": str(tmp_path / "home"),
        "HARVEST_SOURCES_DIR": str(sources),
        "PYTHONPATH": f"{local.REPO / 'include'}:{local.REPO / 'plugins'}",
    }
    args = ["--days", "8"] if script == "demo_training.py" else ["--train", "--days", "8"]
    run = subprocess.run(
        [sys.executable, str(local.REPO / "scripts" / script), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert (
        f"error: source demo: logical date {first} (the first of --days 8: {first}..{yesterday}) "
        f"is before its spec's start_date {start}, so Airflow runs none of its tasks" in run.stdout
    )
    assert 'DEMO_TRAINING_ARGS="--days 6"' in run.stdout and "earlier start_date" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "home" / "airflow" / "airflow.db").exists()  # before Airflow


def test_a_site_that_answers_any_status_is_reachable(health_server: str) -> None:
    _Health.answers = [{}]
    assert local.unreachable(health_server) is None
    assert local.unreachable("http://127.0.0.1:8000 not a url") is not None


def test_ctrl_c_stops_make_demo_without_a_traceback(tmp_path: Path) -> None:
    import signal

    env = {
        "PATH": "/usr/bin:/bin",
        "HARVEST_HOME": str(tmp_path / "home"),
        "PYTHONPATH": f"{local.REPO / 'include'}:{local.REPO / 'plugins'}",
    }
    proc = subprocess.Popen(
        [sys.executable, str(local.REPO / "scripts/demo.py"), "--source", "demo"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # Ctrl-C reaches the terminal's whole process group
        # as on a terminal: a job started in the background by a non-interactive shell (nohup,
        # `cmd &`, some CI runners) inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt, so the demo ran to its end under such a CI
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "preparing Airflow's metadata DB" in line:
            break
    time.sleep(1)  # inside `airflow db migrate` now
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted (Airflow's output so far is in the log file named above)" in out
    assert "Traceback" not in out + err


def test_the_training_demo_says_when_its_loads_change_a_date_loaded_before(
    tmp_path: Path,
) -> None:
    """``make demo`` loads its date, then the days before it: a listing of the first date
    reposted from one of those days is a duplicate once they load, and the first date loses
    that row. The training demo reads each date's rows before and after and says which changed
    and why (the summary of the first date said more)."""
    sys.path.insert(0, str(local.REPO / "scripts"))
    try:
        import demo_training
    finally:
        sys.path.remove(str(local.REPO / "scripts"))
    from harvest.storage.warehouse import PartitionSummary, open_warehouse

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    day, earlier = dt.date(2026, 12, 6), dt.date(2026, 12, 2)

    def record(date: dt.date, loaded: int) -> None:
        with open_warehouse(url) as warehouse:
            warehouse.migrate([])
            warehouse.record_partition(
                PartitionSummary("demo", date, 300, 292, 8, 292 - loaded, 0, loaded, True)
            )

    assert demo_training.loaded_rows(url) == {}
    record(day, 292)
    before = demo_training.loaded_rows(url)
    assert before == {day: 292}
    record(earlier, 290)
    record(day, 285)  # what the re-check of the later date records
    after = demo_training.loaded_rows(url)
    assert after == {earlier: 290, day: 285}
    assert demo_training.rows_changed(before, after) == [
        "  2026-12-06: 285 rows now, 292 before: 7 of its listings repeat listings of the "
        "earlier days loaded since (duplicates across dates, dropped)"
    ]
    assert demo_training.rows_changed(after, after) == []
