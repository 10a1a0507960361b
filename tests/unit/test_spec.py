"""Source specs: the demo spec loads; every kind of mistake names the file and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SpecError, load_spec, load_specs

DEMO = DEFAULT_SOURCES_DIR / "demo.yaml"


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _demo_data() -> dict:
    return yaml.safe_load(DEMO.read_text())


def test_demo_spec_loads_with_start_urls_for_the_interval() -> None:
    spec = load_spec(DEMO)
    assert spec.name == "demo"
    assert spec.dag_id == "harvest_demo"
    assert spec.detail.key == "listing_id"
    assert spec.target == "price"
    assert spec.javascript.enabled
    urls = spec.start_urls_for(dt.date(2026, 3, 4), base_url="http://site.test")
    assert urls == ["http://site.test/listings/2026-03-04"]


def test_base_url_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARVEST_SOURCE_DEMO_BASE_URL", "http://127.0.0.1:9999/")
    spec = load_spec(DEMO)
    assert spec.start_urls_for(dt.date(2026, 1, 2)) == ["http://127.0.0.1:9999/listings/2026-01-02"]


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            lambda d: d["detail"]["fields"]["price"].update(kind="prise"),
            "detail.fields.price.kind",
            "unknown field kind 'prise'",
        ),
        (
            lambda d: d["detail"]["fields"]["price"].pop("css"),
            "detail.fields.price",
            "give a selector: 'css', 'xpath', 'metadata' or 'jmespath'",
        ),
        (lambda d: d["detail"].update(key="nope"), "detail", "key 'nope' is not one of the fields"),
        (lambda d: d.update(base_url="ftp://x"), "base_url", "is not an http(s) URL"),
        (lambda d: d.update(start_urls=["{base_url}/{day}"]), "start_urls", "uses day"),
        (lambda d: d.update(target="rent"), "", "target 'rent' is not one of detail.fields"),
        (lambda d: d["crawl"].update(retries=-1), "crawl.retries", "greater than or equal to 0"),
        (lambda d: d.update(surprise=1), "surprise", "Extra inputs are not permitted"),
        (lambda d: d.update(queue="chromium,default"), "queue", "is not a queue name"),
        (
            lambda d: d["index"].update(detail_links="//a[@class='item']"),
            "index.detail_links",
            "it looks like XPath: write it as 'xpath: ...'",
        ),
        (
            lambda d: d["detail"]["fields"]["price"].update(css=None, xpath="span.price"),
            "detail.fields.price",
            "looks like a CSS selector: write it as 'css: span.price'",
        ),
        (
            lambda d: d["detail"]["fields"]["price"].update(css="a[", regex=None),
            "detail.fields.price",
            "css 'a[' is not a CSS selector",
        ),
        (
            lambda d: d["javascript"].update(url_patterns=["("]),
            "javascript.url_patterns",
            "bad regular expression",
        ),
    ],
)
def test_bad_spec_names_file_and_field(tmp_path: Path, mutate, field: str, message: str) -> None:
    data = _demo_data()
    mutate(data)
    path = _write(tmp_path, "demo", data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.path == path
    assert info.value.field == field
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "name: broken\nstart_urls: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+, column \d+: not valid YAML"):
        load_spec(path)


def test_name_must_match_file(tmp_path: Path) -> None:
    data = _demo_data()
    path = _write(tmp_path, "other", data)
    with pytest.raises(SpecError, match="'demo' must match the file name 'other'") as info:
        load_spec(path)
    assert info.value.field == "name"


def test_one_bad_spec_does_not_stop_the_others(tmp_path: Path) -> None:
    good = _demo_data()
    _write(tmp_path, "demo", good)
    second = {**good, "name": "second"}
    _write(tmp_path, "second", second)
    _write(tmp_path, "broken", {**good, "name": "broken", "schedule": {"not": "a string"}})
    result = load_specs(tmp_path)
    assert sorted(result.specs) == ["demo", "second"]
    assert list(result.errors) == ["broken"]
    assert result.errors["broken"].field == "schedule"
