"""The Harvest app (:mod:`harvest.app`) under Streamlit's ``AppTest``, on warehouses filled by a
real demo run (two nights of the demo site through every stage, :func:`run_partition`) on
SQLite and on PostgreSQL. Each page's Plotly figures (their JSON: AppTest renders no chart) must
show what the warehouse holds, counted here with SQL of the test's own, and what the crawl
reported; a missing warehouse is a message on the page, never a traceback nor its URL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from harvest.config import Settings, load_spec
from harvest.pipeline import run_partition
from harvest.storage.warehouse import open_warehouse
from harvest_demo import CatalogueConfig, DemoSite, SiteConfig

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "include/harvest/app/main.py")
DAYS = (dt.date(2026, 3, 14), dt.date(2026, 3, 15))
CATALOGUE_DAYS = (dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 25))
CATALOGUE = CatalogueConfig(
    seed=1, products=40, lifetime_days=(6, 16), gap_days=(1, 3), price_days=(2, 4)
)
SITE = SiteConfig(
    seed=11, listings_per_day=16, page_size=8, outlier_fraction=0.15, missing_fraction=0.1
)


def _night_of(day: dt.date) -> dt.datetime:
    """The run's time: the night after ``day``, when the site shows ``day`` (a past date of
    an undated source is otherwise refused: harvest.scraping.past)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3), dt.UTC)


def _demo_run(home: Path, warehouse_url: str) -> dict[dt.date, dict[str, dict[str, Any]]]:
    """Two nights of the demo listings source and three of the catalogue source through every
    stage into ``warehouse_url``."""
    settings = Settings.from_env(
        {"HARVEST_HOME": str(home), "HARVEST_WAREHOUSE_URL": warehouse_url}
    )
    spec = load_spec(REPO / "include/harvest/sources/demo.yaml")
    reports = {}
    with DemoSite(SITE) as site:
        for day in DAYS:
            night = spec.model_copy(update={"start_urls": [f"{{base_url}}/listings/{day}"]})
            reports[day] = run_partition(
                night, day, settings, base_url=site.base_url, now=_night_of(day)
            )
    catalogue = load_spec(REPO / "include/harvest/sources/catalogue.yaml")
    with DemoSite(SiteConfig(seed=1), catalogue=CATALOGUE, day=CATALOGUE_DAYS[0]) as site:
        for day in CATALOGUE_DAYS:
            site.set_day(day)
            reports[day] = run_partition(
                catalogue, day, settings, base_url=site.base_url, now=_night_of(day)
            )
    return reports


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict]:
    home = tmp_path_factory.mktemp("app_sqlite")
    url = f"sqlite:///{home / 'warehouse.db'}"
    return url, home, _demo_run(home, url)


@pytest.fixture(scope="module")
def postgres_run(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, dict]]:
    name = f"harvest_test_app_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        sa.make_url(postgres_url).set(drivername="postgresql+psycopg2"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    home = tmp_path_factory.mktemp("app_postgres")
    yield url, home, _demo_run(home, url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo_run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict]:
    """(warehouse URL, the stage reports per night) of a demo run; the app's environment
    points at it and Streamlit's caches start empty."""
    url, home, reports = request.getfixturevalue(
        "postgres_run" if request.param == "postgresql" else "sqlite_run"
    )
    monkeypatch.setenv("HARVEST_HOME", str(home))
    monkeypatch.setenv("HARVEST_WAREHOUSE_URL", url)
    monkeypatch.setenv("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    for name in ("HARVEST_SOURCES_DIR", "HARVEST_CACHE_URL"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    return url, reports


def _sql(url: str, statement: str | sa.Executable, **params: Any) -> list[tuple]:
    """The rows of a statement of the test's own on the warehouse (not the app's queries)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    query = sa.text(statement) if isinstance(statement, str) else statement
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query, params)]
    finally:
        engine.dispose()


def _figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """The page's Plotly figures by title."""
    figures = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        figures[spec["layout"]["title"]["text"]] = spec
    return figures


def _traces(figure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {trace.get("name"): trace for trace in figure["data"]}


def _table(at: AppTest, *columns: str) -> Any:
    """The first table of the page with these columns (AppTest keeps no key on a dataframe)."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def _run(page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_sources_page_shows_the_warehouse_counts_of_every_night(demo_run: tuple) -> None:
    url, reports = demo_run
    at = _run()
    assert at.sidebar.selectbox(key="source").value == "catalogue"  # a source with data first
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    figures = _figures(at)

    stages = _traces(figures["Records per night, by stage"])
    loads = _sql(
        url,
        "SELECT logical_date, scraped, valid, quarantined, duplicates, loaded FROM partition_loads"
        " WHERE source = 'demo' ORDER BY logical_date",
    )
    assert len(loads) == len(DAYS)
    for i, count in enumerate(("scraped", "valid", "quarantined", "duplicates", "loaded"), 1):
        assert stages[count]["y"] == [row[i] for row in loads], count
        assert stages[count]["x"] == [str(row[0])[:10] for row in loads]
    assert stages["pages"]["y"] == [reports[day]["scrape"]["pages"] for day in DAYS]
    assert stages["scraped"]["y"] == [reports[day]["validate"]["scraped"] for day in DAYS]
    assert sum(stages["quarantined"]["y"]) > 0  # the outliers were quarantined

    quarantine = _traces(figures["Quarantined records by reason"])
    expected = _sql(
        url,
        "SELECT stage || ': ' || field || ' ' || \"check\", logical_date, COUNT(DISTINCT url)"
        " FROM quarantine WHERE source = 'demo' GROUP BY 1, 2",
    )
    shown = {
        (name, x): y
        for name, trace in quarantine.items()
        for x, y in zip(trace["x"], trace["y"], strict=True)
        if y
    }
    assert shown == {(reason, str(day)[:10]): n for reason, day, n in expected}

    completeness = _traces(figures["Crawl completeness"])  # records against cards, not pages
    records = [reports[day]["scrape"]["item_pages"] for day in DAYS]
    assert completeness["records"]["y"] == records == stages["scraped"]["y"]
    assert completeness["cards seen"]["y"] == [reports[day]["scrape"]["cards_seen"] for day in DAYS]
    repeats = completeness["cards repeating an item"]["y"]
    assert repeats == [reports[day]["scrape"]["cards_duplicate"] for day in DAYS]
    assert "items" not in completeness

    coverage = figures["Field coverage (share of loaded rows with a value)"]["data"][0]
    fields = coverage["y"]
    assert "price" in fields and "built_year" in fields
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    processed = sa.Table("processed_demo", sa.MetaData(), autoload_with=engine)
    engine.dispose()
    for field in ("price", "built_year"):
        by_date = processed.c.logical_date
        counts = _sql(
            url,
            sa.select(by_date, sa.func.count(processed.c[field]), sa.func.count())
            .group_by(by_date)
            .order_by(by_date),
        )
        shown_row = coverage["z"][fields.index(field)]
        assert shown_row == pytest.approx([n / total for _day, n, total in counts], abs=1e-4)
    assert min(coverage["z"][fields.index("built_year")]) < 1  # missing values are shown

    monitors = figures["Crawl monitors"]["data"][0]
    statuses = _sql(
        url, "SELECT monitor, logical_date, status FROM crawl_monitors WHERE source = 'demo'"
    )
    shown_status = {
        (monitor, day): status
        for monitor, row in zip(monitors["y"], monitors["text"], strict=True)
        for day, status in zip(monitors["x"], row, strict=True)
    }
    assert shown_status == {(m, str(d)[:10]): s for m, d, s in statuses}

    metrics = {m.label: m.value for m in at.metric}
    newest = loads[-1]
    assert metrics["loaded"] == str(newest[5]) and metrics["scraped"] == str(newest[1])
    assert metrics["pages"] == str(reports[DAYS[-1]]["scrape"]["pages"])
    assert metrics["freshness"] == "stale"  # March is long past the 26 h SLA


def test_the_partition_page_shows_every_stage_and_the_quarantine_with_values(
    demo_run: tuple,
) -> None:
    url, reports = demo_run
    at = _run("pages/partition.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    day = DAYS[-1]
    assert at.sidebar.selectbox(key="logical_date").value == day  # the newest first
    funnel = _figures(at)[f"demo {day}: every stage's count"]["data"][0]
    counts = dict(zip(funnel["y"], funnel["x"], strict=True))
    (row,) = _sql(
        url,
        "SELECT scraped, valid, quarantined, duplicates, loaded FROM partition_loads"
        " WHERE source = 'demo' AND logical_date = :day",
        day=day,
    )
    assert [counts[c] for c in ("scraped", "valid", "quarantined", "duplicates", "loaded")] == list(
        row
    )
    assert counts["pages"] == reports[day]["scrape"]["pages"]
    assert counts["records"] == reports[day]["scrape"]["item_pages"] == counts["scraped"]

    quarantine = _table(at, "url", "value", "reason")
    issues = _sql(
        url,
        'SELECT url, field, "check", value, reason FROM quarantine'
        " WHERE source = 'demo' AND logical_date = :day ORDER BY stage, field, \"check\", url",
        day=day,
    )
    assert len(issues) > 0
    assert list(quarantine["url"]) == [i[0] for i in issues]
    assert list(quarantine["value"]) == [i[3] for i in issues]  # the offending values
    assert list(quarantine["reason"]) == [i[4] for i in issues]
    expectations = _table(at, "expectation", "success")
    (total,) = _sql(
        url,
        "SELECT COUNT(*) FROM validation_results WHERE source = 'demo' AND logical_date = :day",
        day=day,
    )
    assert len(expectations) == total[0]

    at.sidebar.selectbox(key="logical_date").set_value(DAYS[0]).run()
    funnel = _figures(at)[f"demo {DAYS[0]}: every stage's count"]["data"][0]
    assert (
        dict(zip(funnel["y"], funnel["x"], strict=True))["pages"]
        == (reports[DAYS[0]]["scrape"]["pages"])
    )


def test_the_app_reads_the_warehouse_read_only(demo_run: tuple) -> None:
    url, _reports = demo_run
    with open_warehouse(url, read_only=True) as warehouse:
        assert warehouse.sources() == ["catalogue", "demo"]
        with pytest.raises(sa.exc.DBAPIError), warehouse.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM quarantine")
    assert _sql(url, "SELECT COUNT(*) FROM quarantine")[0][0] > 0


def test_a_missing_warehouse_is_a_message_without_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = "postgresql://harvest:s3cret@127.0.0.1:1/nowhere"
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_WAREHOUSE_URL", missing)
    st.cache_data.clear()
    st.cache_resource.clear()
    for page in (None, "pages/partition.py"):
        at = AppTest.from_file(MAIN, default_timeout=120).run()
        if page:
            at.switch_page(page).run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert errors and "cannot be reached" in errors[0]
        shown = " ".join(errors + [m.value for m in at.markdown])
        assert "s3cret" not in shown and "nowhere" not in shown and "127.0.0.1" not in shown


def test_the_catalogue_page_shows_an_items_versions_as_the_warehouse_has_them(
    demo_run: tuple,
) -> None:
    url, _reports = demo_run
    changed = _sql(
        url,
        "SELECT record_key FROM versions_catalogue WHERE price_eur IS NOT NULL"
        " GROUP BY record_key HAVING COUNT(*) > 1 ORDER BY record_key",
    )
    assert changed, "the demo catalogue changes a price within three nights"
    key = changed[0][0]
    at = _run("pages/catalogue.py")
    at.text_input(key="item").input(key).run()
    assert at.selectbox(key="record_key").value == key
    at.selectbox(key="step_column").set_value("price_eur").run()
    assert not at.exception and not at.error
    versions = _sql(
        url,
        "SELECT valid_from, valid_to, price_eur FROM versions_catalogue WHERE record_key = :key"
        " ORDER BY valid_from",
        key=key,
    )
    steps = _figures(at)[f"{key}: price_eur over time"]["data"][0]
    shown = [(x, y) for x, y in zip(steps["x"], steps["y"], strict=True) if x is not None]
    expected = []
    for valid_from, valid_to, price in versions:
        end = valid_to or CATALOGUE_DAYS[-1]
        expected += [(str(valid_from)[:10], price), (str(end)[:10], price)]
    assert shown == [(x, pytest.approx(y)) for x, y in expected]
    events = _table(at, "date", "event", "detail")
    assert events["event"].iloc[0] == "appeared"
    pairs = list(itertools.pairwise(versions))
    contiguous = sum(1 for before, after in pairs if before[1] == after[0])
    assert (events["event"] == "changed").sum() == contiguous
    assert (events["event"] == "reappeared").sum() == len(pairs) - contiguous
    assert any("price" in d for d in events.loc[events["event"] == "changed", "detail"])


def test_the_trends_page_tests_each_nightly_metric_of_the_warehouse(demo_run: tuple) -> None:
    url, _reports = demo_run
    at = _run("pages/trends.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    table = _table(at, "metric", "drift", "judged")
    assert {"loaded", "scraped", "quarantine_rate", "coverage:price", "mean:price_eur"} <= set(
        table["metric"]
    )
    # two nights are too few to judge: said, never flagged
    assert not table["drift"].any()
    assert all(j.startswith("no: ") and "fewer than" in j for j in table["judged"])
    assert set(at.multiselect(key="trend_charts").value) == {"loaded", "quarantine_rate"}
    figures = _figures(at)
    loaded = _traces(figures["loaded: not judged"])["loaded"]["y"]
    rows = _sql(
        url, "SELECT loaded FROM partition_loads WHERE source = 'demo' ORDER BY logical_date"
    )
    assert loaded == [float(r[0]) for r in rows]


def test_the_browse_page_pages_through_the_processed_table(demo_run: tuple) -> None:
    url, _reports = demo_run
    at = _run("pages/browse.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    rows = _table(at, "record_key", "price")
    (total,) = _sql(url, "SELECT COUNT(*) FROM processed_demo")
    assert len(rows) == total[0]
    assert f"{total[0]} row(s) match" in at.caption[0].value
    city = str(rows["city"].dropna().iloc[0])
    at.multiselect(key="browse_filters").set_value(["city"]).run()
    at.text_input(key="browse_city").input(city).run()
    (in_city,) = _sql(url, "SELECT COUNT(*) FROM processed_demo WHERE city = :city", city=city)
    assert len(_table(at, "record_key", "price")) == in_city[0] < total[0]
    assert len(at.get("download_button")) == 2


def test_the_models_page_says_when_nothing_was_trained(demo_run: tuple) -> None:
    at = _run("pages/models.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    assert "no training yet" in at.info[0].value


def test_the_models_page_shows_the_error_interval_and_the_second_opinion(
    demo_run: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trainings as MLflow holds them (three runs logged here, the newest with LIME beside
    SHAP): the holdout RMSE with its bootstrap interval, and the newest second opinion."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("HARVEST_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_CONFIGURE_LOGGING", "false")
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("harvest_demo", (tmp_path / "art").as_uri())
    for n, (rmse, lime) in enumerate([(70.0, {}), (66.0, {}), (64.0, {"lime_rows": 20.0,
                                      "lime_shap_top_disagreements": 4.0})]):  # fmt: skip
        with mlflow.start_run(experiment_id=experiment, run_name=f"demo {n}"):
            mlflow.log_param("model_kind", "lightgbm")
            mlflow.log_metrics({
                "holdout_rmse": rmse, "baseline_rmse": 480.0, "rmse_vs_noise_floor": rmse / 60,
                "holdout_rmse_low": rmse - 3, "holdout_rmse_high": rmse + 4,
                "vs_baseline_difference": rmse - 480, "vs_baseline_low": rmse - 490,
                "vs_baseline_high": rmse - 470, **lime,
            })  # fmt: skip
    at = _run("pages/models.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    errors = _traces(_figures(at)["Holdout RMSE per training"])["holdout_rmse"]
    assert errors["y"] == [70.0, 66.0, 64.0]
    assert errors["error_y"]["array"] == [4.0, 4.0, 4.0]
    assert errors["error_y"]["arrayminus"] == [3.0, 3.0, 3.0]
    opinion = next(m for m in at.metric if m.label.startswith("Second opinion"))
    assert opinion.value == "4 of 20"


@pytest.mark.chromium
def test_every_page_draws_in_chromium_with_no_request_leaving_the_machine(
    sqlite_run: tuple[str, Path, dict],
    chromium: tuple[str, str],
    tmp_path: Path,
) -> None:
    """``make app-screenshots`` (scripts/app_screenshots.py) against the demo run: the real
    ``streamlit run``, every page in headless Chromium until its charts drew."""
    url, home, _reports = sqlite_run
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "STREAMLIT_"))}
    env.update(HARVEST_HOME=str(home), HARVEST_WAREHOUSE_URL=url)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/app_screenshots.py"), "--out", str(tmp_path),
         "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert report.exists(), done.stdout + done.stderr
    pages = {page["page"]: page for page in json.loads(report.read_text())}
    assert set(pages) == {
        "sources", "partition", "trends", "catalogue", "models", "browse", "repairs"
    }  # fmt: skip
    for name, page in pages.items():
        assert page["exceptions"] == [] and page["errors"] == [], (name, page)
        assert page["off_machine"] == [], (name, page["off_machine"])
        assert page["charts_drawn"] == page["charts"], (name, page)
        assert Path(page["screenshot"]).stat().st_size > 10_000, name
    assert pages["sources"]["charts"] == 5  # stages, completeness, quarantine, coverage, monitors
    assert pages["partition"]["charts"] == 1
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_link_from_the_airflow_ui_opens_its_source(
    demo_run: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_AIRFLOW_URL", "http://airflow.internal:8080/")
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["dag_id"] = "harvest_demo"
    at.run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="source").value == "demo"
    (button,) = at.get("link_button")
    assert button.proto.url == "http://airflow.internal:8080/dags/harvest_demo"


@pytest.mark.postgres
def test_the_compose_stacks_app_role_reads_the_warehouse_and_writes_nothing(
    postgres_url: str,
) -> None:
    """deploy/postgres/app-role.sh (what the compose stack's PostgreSQL runs on first start) on
    a database of the test's own: the app's role reads the warehouse, tables created later
    included, and can write nothing."""
    server = sa.make_url(postgres_url)
    suffix = uuid.uuid4().hex[:8]
    db, role = f"harvest_test_app_role_{suffix}", f"harvest_app_{suffix}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
    owner_url = server.set(database=db).render_as_string(hide_password=False)
    try:
        with open_warehouse(owner_url, load_spec(REPO / "include/harvest/sources/demo.yaml")):
            pass  # the warehouse's tables, created by its owner before the role exists
        env = {**os.environ, "POSTGRES_USER": server.username or "postgres",
               "HARVEST_APP_DB_PASSWORD": "s3cret", "HARVEST_APP_DB": db,
               "HARVEST_APP_ROLE": role, "PGHOST": server.host or "127.0.0.1",
               "PGPORT": str(server.port or 5432)}  # fmt: skip
        done = subprocess.run(
            ["sh", str(REPO / "deploy/postgres/app-role.sh")], env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with sa.create_engine(
            sa.make_url(owner_url).set(drivername="postgresql+psycopg2")
        ).begin() as conn:
            conn.exec_driver_sql("CREATE TABLE later_table (x int)")  # created after the role
        app_url = server.set(database=db, username=role, password="s3cret").render_as_string(
            hide_password=False
        )
        with open_warehouse(app_url, read_only=True) as warehouse:
            assert warehouse.sources() == []
            with warehouse.engine.connect() as conn:
                conn.exec_driver_sql("SELECT * FROM later_table").all()
        engine = sa.create_engine(sa.make_url(app_url).set(drivername="postgresql+psycopg2"))
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"read-only|permission denied"),
            engine.begin() as conn,  # not even without the app's read-only transactions
        ):
            conn.exec_driver_sql("DELETE FROM quarantine")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def test_the_partition_page_shows_the_pipelines_profiling_report_and_data_docs(
    demo_run: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The profiling report and the Data Docs page the pipeline recorded for the partition
    (clean and validate, on this warehouse's run), shown on the page; the run's links go to
    the Airflow UI (the run a link from Airflow named, else the scheduled run)."""
    url, reports = demo_run
    day = DAYS[-1]
    clean, validate = reports[day]["clean"], reports[day]["validate"]
    assert clean["profile_status"] == "built"
    profile_html = Path(clean["profile_uri"].removeprefix("file://")).read_text(encoding="utf-8")
    monkeypatch.setenv("HARVEST_AIRFLOW_URL", "http://airflow.internal:8080")
    at = _run("pages/partition.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert at.sidebar.selectbox(key="logical_date").value == day
    frames = {f.proto.alt: f.proto for f in at.get("iframe")}
    assert frames["Profiling report"].srcdoc == profile_html
    (loaded,) = _sql(
        url, "SELECT loaded FROM partition_loads WHERE source = 'demo' AND logical_date = :d", d=day
    )
    assert f"{loaded[0]} of {loaded[0]} rows" in " ".join(c.value for c in at.caption)
    docs = frames["Data Docs"].srcdoc
    assert validate["data_docs_path"] and "demo" in docs
    assert "static/vendor/" not in docs  # its style sheets and scripts inline: shows on its own
    downloads = {b.proto.label for b in at.get("download_button")}
    assert {
        "Download the profiling report (HTML)",
        "Download the Data Docs page (HTML)",
    } <= downloads
    run = (
        "http://airflow.internal:8080/dags/harvest_demo/runs/"
        + "scheduled__2026-03-16T02%3A00%3A00%2B00%3A00"
    )
    (button,) = [b for b in at.get("link_button") if b.proto.label == "This run in Airflow"]
    assert button.proto.url == run
    assert f"[load]({run}/tasks/load)" in " ".join(m.value for m in at.sidebar.markdown)


def test_a_link_from_a_run_in_airflow_opens_its_partition_and_links_back_to_that_run(
    demo_run: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_AIRFLOW_URL", "http://airflow.internal:8080")
    run_id = "manual__2026-03-14T09:30:00.123456+00:00_AbCd1234"  # triggered for the older night
    # the link opens /partition?dag_id=...&run_id=... : the page is the session's first run
    at = AppTest.from_file(
        str(REPO / "include/harvest/app/pages/partition.py"), default_timeout=120
    )
    at.query_params["dag_id"] = "harvest_demo"
    at.query_params["run_id"] = run_id
    at.run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="source").value == "demo"
    assert at.sidebar.selectbox(key="logical_date").value == DAYS[0]
    (button,) = [b for b in at.get("link_button") if b.proto.label == "This run in Airflow"]
    assert button.proto.url == (
        "http://airflow.internal:8080/dags/harvest_demo/runs/"
        "manual__2026-03-14T09%3A30%3A00.123456%2B00%3A00_AbCd1234"
    )


def test_the_models_page_shows_each_trainings_errors_as_mlflow_has_them(
    demo_run: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trainings logged to a real MLflow store the way train_source logs them (metrics, tags,
    a registered version with the champion alias): the figures show MLflow's numbers."""
    monkeypatch.setenv("MLFLOW_CONFIGURE_LOGGING", "false")
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("HARVEST_MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("harvest_demo", (tmp_path / "artifacts").as_uri())
    logged = [  # holdout_rmse, its interval, baseline_rmse, rmse_vs_noise_floor, promoted
        (130.0, 118.0, 141.0, 480.0, 1.30, True),
        (121.0, 111.0, 133.0, 470.0, 1.21, True),
        (125.0, 114.0, 137.0, 475.0, 1.25, False),
    ]
    run_ids = []
    for n, (rmse, low, high, baseline, floor_ratio, promoted) in enumerate(logged):
        with mlflow.start_run(experiment_id=experiment, run_name=f"demo {n}") as run:
            mlflow.log_metrics(
                {"holdout_rmse": rmse, "holdout_rmse_low": low, "holdout_rmse_high": high,
                 "baseline_rmse": baseline, "rmse_vs_noise_floor": floor_ratio,
                 "vs_baseline_difference": rmse - baseline, "vs_baseline_low": low - baseline,
                 "vs_baseline_high": high - baseline}
            )  # fmt: skip
            mlflow.set_tags({"source": "demo", "promoted": str(promoted), "model_kind": "lightgbm"})
            run_ids.append(run.info.run_id)
    client = MlflowClient(uri)
    client.create_registered_model("harvest_demo")
    for run_id in run_ids[:2]:
        version = client.create_model_version(
            "harvest_demo", f"runs:/{run_id}/model", run_id=run_id
        )
    client.set_registered_model_alias("harvest_demo", "champion", version.version)

    at = _run("pages/models.py")
    at.sidebar.selectbox(key="source").set_value("demo").run()
    assert not at.exception and not at.error
    errors = _traces(_figures(at)["Holdout RMSE per training"])
    assert errors["holdout_rmse"]["y"] == [r[0] for r in logged]
    assert errors["baseline_rmse"]["y"] == [r[3] for r in logged]
    assert errors["noise floor"]["y"] == [pytest.approx(r[0] / r[4]) for r in logged]
    assert errors["holdout_rmse"]["error_y"]["array"] == [
        pytest.approx(r[2] - r[0]) for r in logged
    ]
    assert at.subheader[0].value == f"Champion: version {version.version}"
    versions = _table(at, "version", "champion")
    assert list(versions.loc[versions["champion"], "run_id"]) == [run_ids[1]]


def test_the_repairs_page_shows_a_proposed_spec_patch_and_the_command_to_apply_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harvest.learning.proposals import Proposal, store_proposal

    selector = {
        "name": "index.links", "now": "css: a.listing-link", "now_agreement": 0.0,
        "proposed": "css: a.button", "agreement": 1.0, "agreed": 25, "checked": 25,
        "examples": [{"url": "http://demo.test/listings/2026-11-26", "agrees": True,
                      "known": "http://demo.test/listing/L-1", "found": "http://demo.test/listing/L-1"}],
    }  # fmt: skip
    diff = '--- a/demo.yaml\n+++ b/demo.yaml\n-  detail_links: "a.listing-link"\n+  detail_links: "a.button"\n'
    store_proposal(tmp_path, Proposal("demo", "2026-11-26", [selector], diff, ["price"]))
    notice = Proposal("demo", "2026-11-25", [], "", ["index.cards"], why="no selector reaches 95%")
    store_proposal(tmp_path, notice)  # an older night no selector repaired
    monkeypatch.setenv("HARVEST_HOME", str(tmp_path))
    monkeypatch.setenv("HARVEST_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.switch_page("pages/repairs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = _table(at, "selector", "agreement now", "proposed", "agreement")
    assert table.to_dict("records") == [
        {"selector": "index.links", "now": "css: a.listing-link", "agreement now": "0%",
         "proposed": "css: a.button", "agreement": "100% (25/25)"}
    ]  # fmt: skip
    codes = [c.value for c in at.code]
    assert diff.rstrip("\n") in codes
    assert "python -m harvest repair --source demo --date 2026-11-26 --apply" in codes
    assert "price" in at.warning[0].value
    assert _table(at, "page", "known", "read")["agrees"].tolist() == [True]
    assert [e.value for e in at.error] == [notice.line()]
