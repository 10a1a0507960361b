"""The spec facts the DAG files are built from: the same from the cache as from the specs, and
loaded again whenever a spec file changes, appears or goes, or the cache cannot be used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harvest.config import Settings
from harvest_airflow.dag_specs import CACHE_NAME, DagSpecs, _load_in_full, dag_specs

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "include" / "harvest" / "sources"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("catalogue.yaml", "demo.yaml"):
        shutil.copy(SOURCES / name, sources / name)
    return Settings.from_env({"HARVEST_HOME": str(tmp_path / "home"),
                              "HARVEST_SOURCES_DIR": str(sources)})  # fmt: skip


def _touch_later(path: Path) -> None:
    """Move the file's modification time on, as a save a moment later does."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_the_cache_gives_what_the_specs_give(settings: Settings) -> None:
    first = dag_specs(settings)
    assert (settings.home / CACHE_NAME).is_file()
    assert sorted(first.specs) == ["catalogue", "demo"] and first.broken == {}
    demo = first.specs["demo"]
    assert (demo.dag_id, demo.schedule, demo.target, demo.owner) == (
        "harvest_demo", "0 2 * * *", "price", "harvest")  # fmt: skip
    assert "| schedule |" in demo.doc_md
    assert dag_specs(settings) == first == _load_in_full(settings.sources_dir)


def test_a_cached_parse_imports_no_spec_model(settings: Settings) -> None:
    dag_specs(settings)
    code = (
        "import sys\nfrom harvest.config import Settings\n"
        "from harvest_airflow.dag_specs import dag_specs\n"
        "specs = dag_specs(Settings.from_env())\n"
        "print(sorted(specs.specs), 'harvest.config.spec' in sys.modules, 'pydantic' in sys.modules)"
    )
    env = {**os.environ, "HARVEST_HOME": str(settings.home),
           "HARVEST_SOURCES_DIR": str(settings.sources_dir),
           "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")])}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    assert out.stdout.split("\n")[0] == "['catalogue', 'demo'] False False", out.stderr[-2000:]


def test_an_edited_added_or_removed_spec_is_loaded_again(settings: Settings) -> None:
    dag_specs(settings)
    demo = settings.sources_dir / "demo.yaml"
    text = demo.read_text()
    assert "\nowner: harvest\n" in text
    demo.write_text(text.replace("\nowner: harvest\n", "\nowner: data-team\n"))
    _touch_later(demo)
    assert dag_specs(settings).specs["demo"].owner == "data-team"

    (settings.sources_dir / "catalogue.yaml").unlink()
    assert sorted(dag_specs(settings).specs) == ["demo"]

    broken = settings.sources_dir / "broken.yaml"
    broken.write_text("name: broken\nstart_urls: [unclosed\n")
    result = dag_specs(settings)
    assert sorted(result.broken) == ["broken"] and "broken.yaml" in result.broken["broken"].doc_md
    assert dag_specs(settings) == result, "a broken spec is cached as broken"
    broken.unlink()
    assert dag_specs(settings).broken == {}


def test_a_changed_harvest_module_loads_the_specs_again(settings: Settings) -> None:
    """The cache key holds the modules that validate specs: stamps of their files."""
    from harvest_airflow.dag_specs import cache_key

    key = cache_key(settings.sources_dir)
    stamped = {path for path, _, _ in key[3]}
    for module in ("config/spec/source.py", "fields/kinds.py", "parsers/numbers.py"):
        assert str(REPO / "include" / "harvest" / module) in stamped
    assert str(REPO / "plugins" / "harvest_airflow" / "docs.py") in stamped


def test_an_unreadable_or_unwritable_cache_is_not_an_error(settings: Settings) -> None:
    expected = _load_in_full(settings.sources_dir)
    settings.home.mkdir()
    (settings.home / CACHE_NAME).write_text("{not json")
    assert dag_specs(settings) == expected
    assert dag_specs(settings) == expected  # rewritten, now read
    (settings.home / CACHE_NAME).unlink()
    (settings.home / CACHE_NAME).mkdir()  # cannot be replaced by a file: nothing left behind
    assert dag_specs(settings) == expected
    assert [p.name for p in settings.home.iterdir()] == [CACHE_NAME]
    shutil.rmtree(settings.home)
    settings.home.write_text("a file where the home folder should be")
    assert dag_specs(settings) == expected


def test_a_missing_sources_folder_gives_no_specs(tmp_path: Path) -> None:
    settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / "home"),
                                  "HARVEST_SOURCES_DIR": str(tmp_path / "missing")})  # fmt: skip
    assert dag_specs(settings) == DagSpecs({}, {})
