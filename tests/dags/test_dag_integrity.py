"""DAG integrity: every DAG file imports, follows the house rules, parses fast, and a bad source
spec only breaks its own DAG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SOURCES = REPO / "include" / "harvest" / "sources"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


def _dagbag(path: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(path))


@pytest.fixture(scope="module")
def dagbag():
    return _dagbag(DAGS)


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}, "\n".join(
        f"{path}: {error}" for path, error in dagbag.import_errors.items()
    )
    assert dagbag.dags, "no DAG loaded"


def test_one_dag_per_source_spec(dagbag) -> None:
    sources = {p.stem for p in SOURCES.glob("*.y*ml")}
    assert {f"harvest_{name}" for name in sources} <= set(dagbag.dags)


def test_house_rules(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and len(dag.doc_md) > 40, f"{dag_id}: no doc_md"
        assert dag.catchup is False, f"{dag_id}: catchup must be off (backfill explicitly)"
        assert dag.max_active_runs <= 4, f"{dag_id}: max_active_runs too high for one machine"
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner and task.owner != "airflow", f"{where}: owner must be set"
            if "broken-spec" not in dag.tags:
                assert task.retries >= 2, f"{where}: retries < 2"
                assert task.retry_exponential_backoff > 1, f"{where}: no exponential backoff"
                assert task.max_retry_delay is not None, f"{where}: no max_retry_delay"
                assert task.execution_timeout is not None, f"{where}: no execution_timeout"


def test_scrape_task_wiring(dagbag) -> None:
    dag = dagbag.dags["harvest_demo"]
    scrape = dag.get_task("scrape")
    assert scrape.pool == "scraping"
    assert "logical_date" in scrape.template_fields
    assert scrape.logical_date is None, "the run's own partition, also without a logical date"
    uris = {getattr(outlet, "uri", None) for outlet in scrape.outlets}
    assert "x-harvest://raw/demo" in uris
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 2 * * *"
    assert "| schedule |" in dag.doc_md and "Rental listings" in dag.doc_md


def test_a_spec_queue_puts_only_the_crawl_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``queue: chromium`` sends the scrape task there (the workers with a browser); validate,
    clean and load, and sources without a queue, stay on Airflow's default queue."""
    from airflow.configuration import conf

    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("demo.yaml", "currency_rates.csv"):
        shutil.copy(SOURCES / name, sources / name)
    queued = (SOURCES / "demo.yaml").read_text().replace("name: demo", "name: heavy_js")
    (sources / "heavy_js.yaml").write_text(queued + "queue: chromium\n")
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))

    bag = _dagbag(DAGS / "harvest_sources.py")

    assert bag.import_errors == {}
    default = conf.get("operators", "default_queue")
    heavy, demo = bag.dags["harvest_heavy_js"], bag.dags["harvest_demo"]
    assert heavy.get_task("scrape").queue == "chromium"
    assert heavy.get_task("scrape").pool == "scraping"
    assert {heavy.get_task(t).queue for t in ("validate", "clean", "load")} == {default}
    assert {task.queue for task in demo.tasks} == {default}


def test_pipeline_task_wiring(dagbag) -> None:
    """scrape >> validate >> clean >> load, each taking its upstream results (URIs and counts)
    as an explicit argument wired in the DAG file (``validate.output``), never a Jinja default."""
    from airflow.sdk import XComArg

    dag = dagbag.dags["harvest_demo"]
    assert [t.task_id for t in dag.topological_sort()] == ["scrape", "validate", "clean", "load"]
    upstreams = {
        "validate": {"scrape"},
        "clean": {"validate"},
        "load": {"scrape", "validate", "clean"},
    }
    for downstream, upstream in upstreams.items():
        assert dag.get_task(downstream).upstream_task_ids == upstream
    clean, load = dag.get_task("clean"), dag.get_task("load")

    def producer(arg: object) -> str:
        assert isinstance(arg, XComArg), arg
        (operator, _key) = next(iter(arg.iter_references()))
        return operator.task_id

    assert "validation" in clean.template_fields
    assert producer(clean.validation) == "validate"
    assert {"validation", "cleaning", "crawl"} <= set(load.template_fields)
    assert (producer(load.validation), producer(load.cleaning)) == ("validate", "clean")
    assert producer(load.crawl) == "scrape"  # its cache counts: the all_cached warning
    assert {getattr(o, "uri", None) for o in load.outlets} == {"x-harvest://processed/demo"}
    for task_id in ("validate", "clean", "load"):
        task = dag.get_task(task_id)
        assert task.pool != "scraping", f"{task_id} must not take a crawl slot"
        assert task.logical_date is None
        values = [getattr(task, name) for name in task.template_fields]
        assert not any(isinstance(v, str) and "{{" in v for v in values), f"{task_id}: Jinja"
    assert "**validate**" in dag.doc_md and "no retries" in dag.doc_md


_TIMER = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
DagBag(sys.argv[1])  # warm up Airflow's own lazy imports on a trivial file
times = {}
for path in sys.argv[2:]:
    start = time.perf_counter()
    bag = DagBag(path)
    times[path] = time.perf_counter() - start
    assert not bag.import_errors, bag.import_errors
print(json.dumps(times))
"""


def _parse_seconds(paths: list[Path], warm_up: Path, runs: int = 2) -> dict[str, float]:
    """Best-of-N seconds to parse each file once in a fresh interpreter, Airflow already warm.

    Each file's own imports are cold, as in a DAG processor's parsing child.
    """
    best: dict[str, float] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _TIMER, str(warm_up), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=300,
            env=os.environ.copy(),
            check=True,
        )
        for path, seconds in json.loads(out.stdout.strip().splitlines()[-1]).items():
            best[path] = min(best.get(path, seconds), seconds)
    return best


def test_parse_time_relative_to_airflow_tutorial(tmp_path: Path) -> None:
    import airflow.example_dags

    warm_up = tmp_path / "warm_up.py"
    warm_up.write_text(
        "import datetime\nfrom airflow.sdk import DAG\n"
        "DAG('warm_up', schedule=None, start_date=datetime.datetime(2026, 1, 1))\n"
    )
    tutorial = Path(airflow.example_dags.__file__).with_name("tutorial_taskflow_api.py")
    times = _parse_seconds([tutorial, *DAG_FILES], warm_up)
    baseline = times[str(tutorial)]
    report = [f"tutorial_taskflow_api.py: {baseline * 1000:.1f} ms"]
    slow = []
    for dag_file in DAG_FILES:
        ratio = times[str(dag_file)] / baseline
        report.append(f"{dag_file.name}: {times[str(dag_file)] * 1000:.1f} ms, ratio {ratio:.1f}")
        # Generous: the first parse also imports harvest.config (pydantic models of the spec).
        if ratio > 25:
            slow.append(dag_file.name)
    sys.stdout.write("\n" + "\n".join(report) + "\n")
    assert not slow, f"parse much slower than Airflow's tutorial: {slow}\n" + "\n".join(report)


def test_broken_spec_only_breaks_its_own_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(SOURCES / "demo.yaml", sources / "demo.yaml")
    # A valid spec with one bad field, and a file that is not YAML at all.
    bad = (SOURCES / "demo.yaml").read_text().replace("name: demo", "name: bad_field")
    bad = bad.replace("kind: price", "kind: no_such_kind")
    (sources / "bad_field.yaml").write_text(bad)
    (sources / "not_yaml.yaml").write_text("name: not_yaml\nstart_urls: [unclosed\n")
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))

    bag = _dagbag(DAGS / "harvest_sources.py")

    assert bag.import_errors == {}
    assert "harvest_demo" in bag.dags, "a good source must still load"
    assert "broken-spec" not in bag.dags["harvest_demo"].tags
    for dag_id, field in (
        ("harvest_bad_field", "detail.fields.price.kind"),
        ("harvest_not_yaml", "line"),
    ):
        dag = bag.dags[dag_id]
        assert "broken-spec" in dag.tags
        assert f"{dag_id.removeprefix('harvest_')}.yaml" in dag.doc_md
        assert field in dag.doc_md
        (task,) = dag.tasks
        from airflow.sdk.exceptions import AirflowFailException

        with pytest.raises(AirflowFailException, match=field):
            task.python_callable(*task.op_args, **task.op_kwargs)
    assert "no_such_kind" in bag.dags["harvest_bad_field"].doc_md


def test_the_apps_links_name_the_source_dags_runs_and_tasks(dagbag) -> None:
    """The app's Partition page links to a run's tasks by id and to the scheduled run of a date
    by the run id it derives (harvest.app.links): both as Airflow makes them."""
    import datetime as dt

    from airflow.models.dagrun import DagRun
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.utils.types import DagRunType

    from harvest.app import links

    dag = dagbag.dags["harvest_demo"]
    assert set(links.STAGE_TASKS) == set(dag.task_ids)
    start = dt.datetime(2026, 3, 15, 2, tzinfo=dt.UTC)
    timetable = CronDataIntervalTimetable(dag.timetable.expression, timezone=dt.UTC)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=start, latest=None, catchup=True),
    )
    assert info is not None and info.data_interval.start == start
    run_id = DagRun.generate_run_id(
        run_type=DagRunType.SCHEDULED, logical_date=info.logical_date, run_after=info.run_after
    )
    assert links.scheduled_run_id(dag.timetable.expression, start.date()) == run_id
