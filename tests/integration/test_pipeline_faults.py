"""Faults across the whole pipeline: layout drift, the warehouse down during the load, Redis down,
malformed values. Most run the four stages in-process (``harvest.pipeline.run_partition``); the
Airflow semantics (fail without retries vs. retry) run through ``dag.test()``."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import harvest_local as local
from harvest.config import Settings, SourceSpec, load_spec
from harvest.config.spec import load_specs
from harvest.pipeline import run_partition
from harvest.storage.raw import FileRawStore
from harvest.storage.staging import StagedDataset, stage_uri
from harvest.validation import ValidationFailed
from harvest_demo.generator import SiteConfig
from harvest_demo.server import DemoSite, Faults
from tests.integration.test_airflow_dag_test import (
    REPO,
    assert_counts_consistent,
    count_rows,
    dump,
    fresh_postgres_database,
    run_dag,
)

DEMO_YAML = REPO / "include" / "harvest" / "sources" / "demo.yaml"
DAY = dt.date(2026, 3, 14)
SITE = SiteConfig(seed=7, listings_per_day=40, page_size=20)
# Loads stamp loaded_at with the wall clock; everything else must be equal across setups.
CONTENT = {"processed_demo": {"loaded_at"}, "partition_loads": {"loaded_at"}}


def demo_spec() -> SourceSpec:
    return load_spec(DEMO_YAML)


def settings_for(home: Path, **env: str) -> Settings:
    return Settings.from_env({"HARVEST_HOME": str(home), **env})


def sqlite_url(settings: Settings) -> str:
    return settings.warehouse_url


def closed_port_url(scheme: str, path: str = "") -> str:
    """A URL on localhost where nothing listens."""
    port = local.free_port()
    assert not local.port_in_use(port)
    return f"{scheme}://root@127.0.0.1:{port}{path}"


@pytest.fixture
def airflow_env(harvest_env: Path) -> Path:
    """A fresh HARVEST_HOME for dag.test(), nothing configured beyond the embedded defaults."""
    return harvest_env


@pytest.fixture
def drifted_site() -> Iterator[DemoSite]:
    with DemoSite(SITE, Faults(layout_drift=True)) as site:
        yield site


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(SITE) as demo:
        yield demo


def fixed_sources_dir(tmp_path: Path) -> Path:
    """A copy of demo.yaml whose selectors follow the drifted layout (``data-attr``), with the
    files the spec reads beside it."""
    folder = tmp_path / "fixed_sources"
    folder.mkdir()
    text = DEMO_YAML.read_text(encoding="utf-8")
    assert "[data-field=" in text
    (folder / "demo.yaml").write_text(text.replace("[data-field=", "[data-attr="), "utf-8")
    # the spec's currency_rates and its labelled de-duplication pairs live beside it
    for beside in ("currency_rates.csv", "demo.dedup.json"):
        (folder / beside).write_bytes((DEMO_YAML.parent / beside).read_bytes())
    return folder


# --- (a) layout change ---------------------------------------------------------------------------


def test_harvest_run_prints_the_scrape_warnings_before_a_validation_error(
    harvest_env: Path, drifted_site: DemoSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scrape passes but says the crawl looks drifted; the validation then fails: the
    scrape's warning is printed before the error, not left in the log file."""
    from harvest.__main__ import main

    command = ["run", "--source", "demo", "--date", DAY.isoformat()]
    assert main([*command, "--base-url", drifted_site.base_url]) == 1
    err = capsys.readouterr().err
    warnings, _, error = err.partition("\nerror: ")
    assert warnings.startswith("warnings before the error ("), err
    assert "  ! source demo date 2026-03-14: the crawl looks drifted (" in warnings
    assert "crawl monitor " in warnings  # the failed field coverage monitor
    assert error.startswith("validation failed for source=demo date=2026-03-14: "), err
    assert "Traceback" not in err


def test_layout_drift_fails_validation_clearly_and_a_fixed_spec_recovers(
    tmp_path: Path, drifted_site: DemoSite, site: DemoSite
) -> None:
    settings = settings_for(tmp_path / "home")
    tonight = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(3), dt.UTC)
    with pytest.raises(ValidationFailed) as failed:
        run_partition(demo_spec(), DAY, settings, base_url=drifted_site.base_url, now=tonight)

    message = str(failed.value)
    assert "source=demo date=2026-03-14" in message
    # the expectation, the column and the observed value that broke
    assert "expect_column_values_to_not_be_null on column 'listing_id'" in message
    assert f"null rate 1.000 ({SITE.listings_per_day} of {SITE.listings_per_day} records)" in (
        message
    )
    assert "layout probably changed" in message
    # the raw pages are kept, nothing reached staging (cleaned) or the warehouse's processed rows
    raw = FileRawStore(settings.home / "raw")
    assert raw.count("demo", DAY) == SITE.listings_per_day + SITE.pages_per_day
    assert raw.uri("demo", DAY) in message
    assert not Path(
        stage_uri(settings.staging_url, StagedDataset.CLEANED, "demo", DAY).removeprefix("file://")
    ).exists()
    assert count_rows(sqlite_url(settings), "processed_demo", DAY) == 0
    assert count_rows(sqlite_url(settings), "partition_loads", DAY) == 0

    # The spec is fixed (selectors follow the new layout) and the date re-run the same night
    # (not loaded, its night is now: crawled again, harvest.scraping.past): full recovery.
    fixed = load_specs(
        settings_for(
            tmp_path / "home", HARVEST_SOURCES_DIR=str(fixed_sources_dir(tmp_path))
        ).sources_dir
    ).specs["demo"]
    reports = run_partition(fixed, DAY, settings, base_url=drifted_site.base_url, now=tonight)
    assert reports["load"]["loaded"] > 0
    assert_counts_consistent(reports, sqlite_url(settings), DAY)

    # ... to exactly what the same day gives without the drift
    baseline_settings = settings_for(tmp_path / "baseline")
    baseline = run_partition(demo_spec(), DAY, baseline_settings, base_url=site.base_url)
    for stage in ("validate", "clean", "load"):
        for key in ("scraped", "valid", "quarantined", "duplicates", "loaded", "output_rows"):
            if key in baseline[stage]:
                assert reports[stage][key] == baseline[stage][key], (stage, key)
    # the re-run's crawl was served from the HTTP cache: said in its warnings, the rest is equal
    assert set(reports["load"]["warnings"]) == {"all_cached"}
    assert baseline["load"]["warnings"] == {}
    skip = {
        **CONTENT,
        "partition_loads": {"loaded_at", "warnings"},
        "validation_results": set(),
        "quarantine": set(),
    }
    got, want = dump(sqlite_url(settings), skip), dump(sqlite_url(baseline_settings), skip)
    assert got["processed_demo"] == want["processed_demo"]
    assert got["partition_loads"] == want["partition_loads"]


@pytest.mark.airflow
def test_layout_drift_fails_the_validate_task_without_retries(
    airflow_db: str,
    airflow_env: Path,
    drifted_site: DemoSite,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HARVEST_SOURCE_DEMO_BASE_URL", drifted_site.base_url)
    result = run_dag(DAY)

    assert result.state == "failed"
    assert result.states == {
        "scrape": "success",
        "validate": "failed",  # not up_for_retry: retries=2 are not spent on a bad batch
        "clean": "upstream_failed",
        "load": "upstream_failed",
    }
    assert result.tries["validate"] == 1
    assert FileRawStore(airflow_env / "raw").count("demo", DAY) == (
        SITE.listings_per_day + SITE.pages_per_day
    )
    out, err = capfd.readouterr()  # dag.test() logs the tasks to the console
    log = out + err
    assert "AirflowFailException" in log
    assert "validation failed for source=demo date=2026-03-14" in log
    assert "expect_column_values_to_not_be_null on column 'listing_id'" in log


# --- (b) PostgreSQL unreachable during the load ----------------------------------------------------


@pytest.mark.airflow
@pytest.mark.postgres
def test_warehouse_down_during_load_is_retried_and_loads_exactly_once(
    airflow_db: str,
    airflow_env: Path,
    site: DemoSite,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = closed_port_url("postgresql", "/harvest")
    seen: dict[str, Any] = {}

    with fresh_postgres_database(postgres_url, "harvest_outage") as real:
        monkeypatch.setenv("HARVEST_SOURCE_DEMO_BASE_URL", site.base_url)
        monkeypatch.setenv("AIRFLOW_CONN_HARVEST_WAREHOUSE", real)

        def outage_on_first_try(context: Any) -> None:
            """The warehouse connection points at a closed port for the first try of the load."""
            first = context["ti"].try_number == 1
            os.environ["AIRFLOW_CONN_HARVEST_WAREHOUSE"] = down if first else real

        def inspect_after_failure(context: Any) -> None:
            seen["error"] = str(context.get("exception"))
            seen["rows"] = count_rows(real, "processed_demo", DAY)
            seen["summaries"] = count_rows(real, "partition_loads", DAY)

        def prepare(dag: Any) -> None:
            load = dag.get_task("load")
            load.on_execute_callback = [outage_on_first_try]
            load.on_retry_callback = [inspect_after_failure]
            load.retry_delay = dt.timedelta(seconds=1)
            load.retry_exponential_backoff = 0

        result = run_dag(DAY, prepare)

        assert result.state == "success", result.states
        assert result.states == dict.fromkeys(("scrape", "validate", "clean", "load"), "success")
        assert result.tries == {"scrape": 1, "validate": 1, "clean": 1, "load": 2}
        # the failed try named the problem and left nothing behind in the real warehouse
        assert "cannot connect to the warehouse at 127.0.0.1:" in seen["error"], seen
        assert down.split("@")[1].split("/")[0] in seen["error"]
        assert seen["rows"] == 0 and seen["summaries"] == 0
        # the retry loaded everything, once
        assert_counts_consistent(result.xcom, real, DAY)
        assert result.xcom["load"]["written"] == result.xcom["load"]["loaded"] > 0
        engine = sa.create_engine(real)
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT count(DISTINCT record_key) FROM processed_demo"))
            assert keys.scalar_one() == result.xcom["load"]["loaded"]
        engine.dispose()


# --- (c) Redis down ----------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_down_gives_the_same_warehouse_as_redis_up(
    tmp_path: Path, site: DemoSite, clean_redis: str
) -> None:
    """Two days each (the second de-duplicates against the first, read through the cache),
    from the same raw partitions: with Redis up, and with HARVEST_CACHE_URL at a closed port."""
    from harvest.scraping.runner import run_crawl

    days = [DAY, DAY + dt.timedelta(days=1)]
    raw_url = f"file://{tmp_path / 'raw'}"
    up = settings_for(tmp_path / "up", HARVEST_CACHE_URL=clean_redis, HARVEST_RAW_STORE_URL=raw_url)
    down = settings_for(
        tmp_path / "down",
        HARVEST_CACHE_URL=closed_port_url("redis", "/0"),
        HARVEST_RAW_STORE_URL=raw_url,
    )
    spec = demo_spec()
    for day in days:
        crawl = run_crawl(spec, day, settings_for(tmp_path / "crawl", HARVEST_RAW_STORE_URL=raw_url),
                          base_url=site.base_url)  # fmt: skip
        assert crawl.failed_pages == 0
        with_redis = run_partition(spec, day, up, scrape=False)
        without = run_partition(spec, day, down, scrape=False)
        assert with_redis["load"]["loaded"] > 0
        assert _counts(without) == _counts(with_redis), day
    assert with_redis["clean"]["history_status"] == without["clean"]["history_status"] == "used"
    assert with_redis["clean"]["history_rows"] > 0, "day 2 did not read day 1 as history"
    assert dump(sqlite_url(down), CONTENT) == dump(sqlite_url(up), CONTENT)


def _counts(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The reports without paths, URIs and timings (which differ between two homes)."""
    return {
        stage: {
            k: v
            for k, v in report.items()
            if not k.endswith(("_uri", "_path")) and k not in ("warehouse", "seconds", "cleaned_at")
        }
        for stage, report in reports.items()
    }


@pytest.mark.redis
def test_redis_down_during_the_scrape_still_completes(tmp_path: Path, site: DemoSite) -> None:
    settings = settings_for(tmp_path / "home", HARVEST_CACHE_URL=closed_port_url("redis", "/0"))
    reports = run_partition(demo_spec(), DAY, settings, base_url=site.base_url)
    assert reports["scrape"]["failed_pages"] == 0
    assert reports["load"]["loaded"] > 0


# --- (d) malformed values, end to end -------------------------------------------------------------


def test_malformed_values_end_in_quarantine_and_never_in_the_warehouse(tmp_path: Path) -> None:
    """Every kind of malformed value (test_validation_partition checks each reason); here only
    that the counts add up from raw records to warehouse rows."""
    from tests.integration.test_validation_partition import DAY as MESSY_DAY
    from tests.integration.test_validation_partition import (
        MALFORMED,
        QUARANTINED,
        messy_partition,
    )

    settings = settings_for(tmp_path / "home")
    FileRawStore(settings.home / "raw").upsert_many(messy_partition("demo"))
    reports = run_partition(demo_spec(), MESSY_DAY, settings, scrape=False)

    validate, load = reports["validate"], reports["load"]
    assert validate["scraped"] == 40 + len(MALFORMED) + 1
    assert validate["quarantined"] == len(QUARANTINED) + 2  # + both pages of a repeated id
    assert set(validate["quarantined_by_reason"]) >= {f"{f}:{c}" for _, f, c in QUARANTINED}
    assert_counts_consistent(reports, sqlite_url(settings), MESSY_DAY)
    engine = sa.create_engine(sqlite_url(settings))
    with engine.connect() as conn:
        loaded = {r[0] for r in conn.execute(sa.text("SELECT url FROM processed_demo"))}
        quarantined = {r[0] for r in conn.execute(sa.text("SELECT url FROM quarantine"))}
        reasons = conn.execute(sa.text("SELECT count(*) FROM quarantine WHERE reason = ''"))
        assert reasons.scalar_one() == 0
    engine.dispose()
    assert loaded and not loaded & quarantined
    assert len(loaded) == load["loaded"] == validate["valid"] - load["duplicates"]


# --- (e) the site down: every runner of the scrape stage fails the same way -----------------------


def test_a_crawl_of_a_stopped_site_fails_in_the_cli_as_in_the_task(
    harvest_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m harvest crawl`` used to skip the crawl check the ScrapeOperator ran (it printed
    a report of 0 pages and exited 0); both now run the scrape stage's entry point, whose check
    fails a crawl that fetched no page."""
    from harvest.__main__ import main
    from harvest.scraping import scrape
    from harvest.scraping.checks import CrawlCheckFailed

    down = f"http://127.0.0.1:{local.free_port()}"
    code = main(["crawl", "--source", "demo", "--date", DAY.isoformat(), "--base-url", down])
    err = capsys.readouterr().err
    assert code == 1
    assert "crawl of source 'demo' for 2026-03-14 fetched no page" in err
    assert down in err  # the first page that failed, or the site to check
    # the stage's entry point, as the ScrapeOperator calls it: the same check, the same words
    with pytest.raises(CrawlCheckFailed, match="for 2026-03-14 fetched no page") as failed:
        scrape(demo_spec(), DAY, Settings.from_env(), base_url=down)
    assert failed.value.retryable  # the task retries it: the site may be back
