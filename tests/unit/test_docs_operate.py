"""The operator's pages name what exists: docs/tutorials/operate.md's files under ``deploy/`` and
the tests it cites are in the repository, and every Prometheus alert Harvest ships is named there
(so grepping the docs for an alert that fired finds it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OPERATE = ROOT / "docs" / "tutorials" / "operate.md"
CODE = re.compile(r"`([^`\s]+)`")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def test_the_files_in_deploy_and_the_tests_it_cites_exist() -> None:
    text = OPERATE.read_text(encoding="utf-8")
    files = section(text, "### Files in `deploy/`")
    named = [
        p
        for p in CODE.findall(files)
        if "/" in p and p != "deploy/" and not p.startswith(("/", "$", "tests/"))
    ]
    assert len(named) > 10, named
    missing = [p for p in named if "<" not in p and not list((ROOT / "deploy").glob(p))]
    assert not missing, f"operate.md names files deploy/ does not hold: {missing}"
    cited = [p for p in CODE.findall(text) if p.startswith("tests/")]
    assert cited, "operate.md cites no test"
    missing = [p for p in cited if not (ROOT / p).exists()]
    assert not missing, f"operate.md cites tests that do not exist: {missing}"


def test_every_alert_is_named_in_the_docs() -> None:
    alerts = {
        rule["alert"]
        for path in sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert len(alerts) > 10, alerts
    docs = OPERATE.read_text(encoding="utf-8")
    missing = sorted(a for a in alerts if f"`{a}`" not in docs)
    assert not missing, f"alerts not named in operate.md: {missing}"
