"""End to end on a real Airflow: REST-triggered runs (with and without a logical date), a 3-day
backfill, ``airflow dags test`` from the command line, and a run triggered from the UI in headless
Chromium (the scheduled kind is in ``test_catalogue_e2e.py``). Each checks the raw partitions the runs wrote and the rows they
loaded into the (embedded SQLite) warehouse."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

import harvest_local as local
from harvest.config import load_spec
from harvest.storage.raw import FileRawStore
from harvest_demo.generator import day_listings

if TYPE_CHECKING:
    from conftest import Airflow  # tests/e2e/conftest.py

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CANONICAL = load_spec(local.REPO / "include" / "harvest" / "sources" / "demo.yaml").base_url


def utc_midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def assert_partition(airflow: Airflow, day: dt.date) -> None:
    """The raw partition of ``day`` holds every page of that day's listings, fetched, and the
    warehouse holds the day's processed rows and its summary."""
    site = airflow.site.config
    store = FileRawStore(airflow.harvest_home / "raw")
    docs = store.read_partition("demo", day)
    details = {f"{CANONICAL}/listing/{item.listing_id}" for item in day_listings(site, day)}
    urls = {doc.url for doc in docs}
    assert details <= urls, f"{day}: {len(details - urls)} listings missing from the partition"
    assert len(docs) == len(details) + site.pages_per_day
    assert all(doc.status == 200 for doc in docs)
    assert {doc.logical_date for doc in docs} == {day.isoformat()}
    engine = sa.create_engine(f"sqlite:///{airflow.harvest_home / 'warehouse.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT count(*) FROM processed_demo WHERE logical_date = :d"),
                {"d": day.isoformat()},
            ).scalar_one()
            summary = (
                conn.execute(
                    sa.text("SELECT * FROM partition_loads WHERE logical_date = :d"),
                    {"d": day.isoformat()},
                )
                .mappings()
                .one()
            )
    finally:
        engine.dispose()
    assert rows > 0, f"{day}: nothing loaded"
    assert summary["loaded"] == rows
    assert summary["scraped"] == len(details) == summary["valid"] + summary["quarantined"]
    assert summary["loaded"] == summary["valid"] - summary["duplicates"]


def trigger(airflow: Airflow, run_id: str, logical_date: str | None) -> dict[str, Any]:
    """POST a run of harvest_demo (``logical_date=None``: a run without one); its API record."""
    return airflow.request(
        "POST",
        "/api/v2/dags/harvest_demo/dagRuns",
        {"dag_run_id": run_id, "logical_date": logical_date},
    )


def task_result(airflow: Airflow, run_id: str, task_id: str) -> Any:
    """The return value (XCom) of one task of a harvest_demo run."""
    return airflow.task_result("harvest_demo", run_id, task_id)


def test_rest_trigger_runs_and_writes_the_partition(airflow: Airflow) -> None:
    day = dt.date(2026, 3, 10)
    run = trigger(airflow, f"e2e_rest_{day}", utc_midnight(day))
    airflow.wait_for_runs({run["dag_run_id"]})
    assert_partition(airflow, day)
    value = task_result(airflow, run["dag_run_id"], "scrape")
    site = airflow.site.config
    assert value["documents"] == len(day_listings(site, day)) + site.pages_per_day
    assert value["failed_pages"] == 0
    load = task_result(airflow, run["dag_run_id"], "load")
    assert load["logical_date"] == day.isoformat()
    assert load["loaded"] == load["valid"] - load["duplicates"] > 0


def test_rest_trigger_without_a_logical_date_processes_the_run_after_day(airflow: Airflow) -> None:
    """Airflow 3's ``airflow dags trigger harvest_demo``: a run with no logical date (no
    ``{{ ds }}``) processes the partition of the day it was triggered for (``run_after``, UTC)."""
    run = trigger(airflow, "e2e_rest_no_logical_date", None)
    assert run["logical_date"] is None
    day = dt.datetime.fromisoformat(run["run_after"]).astimezone(dt.UTC).date()
    airflow.wait_for_runs({run["dag_run_id"]})
    assert_partition(airflow, day)
    load = task_result(airflow, run["dag_run_id"], "load")
    assert load["logical_date"] == day.isoformat()
    assert load["loaded"] > 0


def test_airflow_dags_test_processes_its_date(airflow_stack: Airflow) -> None:
    """``airflow dags test harvest_demo D`` (the CLI in its own process, beside the running
    scheduler, the DAG paused or not) runs every task of D in that process and processes D."""
    day = dt.date(2026, 3, 12)
    before = {r["dag_run_id"] for r in airflow_stack.dag_runs()}
    airflow_stack.airflow("dags", "test", "harvest_demo", day.isoformat())
    new = [
        r
        for r in airflow_stack.dag_runs()
        if r["dag_run_id"] not in before and (r["logical_date"] or "")[:10] == day.isoformat()
    ]
    assert [r["state"] for r in new] == ["success"], new
    assert_partition(airflow_stack, day)
    load = task_result(airflow_stack, new[0]["dag_run_id"], "load")
    assert load["logical_date"] == day.isoformat()
    assert load["loaded"] > 0


def test_backfill_three_days(airflow: Airflow) -> None:
    days = [dt.date(2026, 2, 1) + dt.timedelta(days=n) for n in range(3)]
    new = airflow.backfill(days)
    runs = airflow.wait_for_runs(new)
    assert sorted(r["logical_date"][:10] for r in runs.values()) == [d.isoformat() for d in days]
    for day in days:
        assert_partition(airflow, day)


@pytest.mark.chromium
def test_trigger_from_the_ui(airflow: Airflow, chromium: tuple[str, str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from harvest.crawler.browser import CHROMIUM_ARGUMENTS

    browser, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (*CHROMIUM_ARGUMENTS, "--window-size=1400,1000"):
        options.add_argument(arg)
    before = {r["dag_run_id"] for r in airflow.dag_runs()}
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(f"{airflow.base_url}/")
        wait.until(ec.visibility_of_element_located((By.NAME, "username"))).send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(airflow.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/login" not in d.current_url)

        driver.get(f"{airflow.base_url}/dags/harvest_demo")
        wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "button[data-testid=trigger-dag-button]"))
        ).click()
        # The dialog: "Single Run" with the logical date preset to now; confirm with its button.
        wait.until(
            ec.element_to_be_clickable(
                (By.XPATH, "//*[@role='dialog']//button[normalize-space()='Trigger']")
            )
        ).click()
        wait.until(lambda d: "/runs/" in d.current_url)  # the UI opens the new run
        ui_run_id = unquote(driver.current_url.rsplit("/runs/", 1)[1].split("/")[0].split("?")[0])
    except Exception:
        shot = airflow.harvest_home / "ui-failure.png"
        driver.save_screenshot(str(shot))
        raise AssertionError(f"UI step failed at {driver.current_url}; screenshot {shot}") from None
    finally:
        driver.quit()

    # (The scheduler may add its own scheduled run meanwhile: only manual runs count here.)
    new = {
        r["dag_run_id"]
        for r in airflow.dag_runs()
        if r["dag_run_id"] not in before and r["run_type"] == "manual"
    }
    assert new == {ui_run_id}, (
        f"expected one new run from the UI ({ui_run_id}), found {sorted(new)}"
    )
    runs = airflow.wait_for_runs(new)
    run = runs[ui_run_id]
    assert run["run_type"] == "manual"
    assert run["triggered_by"] == "ui"
    assert_partition(airflow, dt.date.fromisoformat(run["logical_date"][:10]))
