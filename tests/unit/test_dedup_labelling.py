"""The labelling loop, driven at the console: ``harvest dedup label`` writes pairs the next run
uses, and a second session goes on from them; ``harvest dedup review`` shows borderline pairs.

The console is a real ``python -m harvest dedup label`` process on a SQLite warehouse holding
demo listings; the test answers each pair as a person would from what it prints: the demo site
re-lists a flat at the same price, so two records with the same price are the same flat.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harvest.cleaning import near
from harvest.cleaning.dedup import deduplicate
from harvest.cleaning.labelling import review_lines
from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec, load_spec
from harvest.storage.warehouse import open_warehouse
from harvest_demo import SiteConfig
from harvest_demo.records import demo_records

REPO = Path(__file__).parents[2]
DAY = dt.date(2026, 3, 1)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Harvest home with the demo spec (no labelled pairs yet) and a warehouse of two days of
    demo listings, two in five of them re-listings."""
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("demo.yaml", "currency_rates.csv"):
        shutil.copy(DEFAULT_SOURCES_DIR / name, sources / name)
    spec = load_spec(sources / "demo.yaml")
    config = SiteConfig(seed=5, listings_per_day=150, relist_fraction=0.4)
    with open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}", spec) as warehouse:
        for offset in range(2):
            day = DAY + dt.timedelta(days=offset)
            frame, _ = demo_records(config, day, spec)
            warehouse.load_partition(spec, day, frame)
    return tmp_path


def label_session(home: Path, answers_wanted: int) -> tuple[str, list[str]]:
    """Run ``harvest dedup label`` and answer like a person until ``answers_wanted`` of each
    kind were given (or 60 pairs), then finish; return stdout and the answers."""
    env = {
        **os.environ,
        "HARVEST_HOME": str(home),
        "HARVEST_SOURCES_DIR": str(home / "sources"),
        "HARVEST_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "harvest", "dedup", "label", "--source", "demo",
         "--since", "2026-03-01", "--until", "2026-03-02"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdin and process.stderr and process.stdout
    answers: list[str] = []
    prices: list[str] = []
    for line in process.stderr:
        if line.startswith("price : "):
            prices.append(line.removeprefix("price : ").strip())
        if line.startswith("(y)es / (n)o"):
            same = len(prices) == 2 and prices[0] == prices[1] and prices[0] != "None"
            done = min(answers.count("y"), answers.count("n")) >= answers_wanted
            answer = "f" if done or len(answers) >= 60 else ("y" if same else "n")
            answers.append(answer)
            prices = []
            process.stdin.write(answer + "\n")
            process.stdin.flush()
            if answer == "f":
                break
    process.stdin.close()
    out = process.stdout.read()
    process.stderr.read()
    assert process.wait(timeout=600) == 0
    return out, answers


def spec_in(home: Path) -> SourceSpec:
    return load_spec(home / "sources" / "demo.yaml")


def test_the_labelling_loop_writes_pairs_that_the_next_run_uses(home: Path) -> None:
    spec = spec_in(home)
    path = near.training_path(spec)
    assert path == home / "sources" / "demo.dedup.json" and not path.exists()
    assert near.load_matcher(spec).matcher is None  # no pairs yet: exact keys only

    out, answers = label_session(home, answers_wanted=near.MIN_PAIRS_PER_LABEL)
    pairs = near.read_pairs(path)
    assert len(pairs["match"]) == answers.count("y") >= near.MIN_PAIRS_PER_LABEL
    assert len(pairs["distinct"]) == answers.count("n") >= near.MIN_PAIRS_PER_LABEL
    assert re.search(r"demo\.dedup\.json: \d+ match and \d+ distinct pairs", out)

    # the next clean trains on them, and its model tells re-listings from other flats
    status = near.load_matcher(spec)
    assert status.matcher is not None, status.status
    assert f"trained on {len(pairs['match'])} match" in status.status
    config = SiteConfig(seed=9, listings_per_day=300, relist_fraction=0.4, relist_max_days_back=0)
    frame, truth = demo_records(config, DAY, spec)
    assert "trained on" in deduplicate(frame, spec).near_status
    records = dict(zip(frame["record_key"], near.records(frame, spec), strict=True))
    same = [(records[k], records[v]) for k, v in truth.items() if v in records]
    keys = sorted(records)
    other = [(records[a], records[b]) for a, b in itertools.pairwise(keys)]
    assert len(same) >= 5
    assert status.matcher.score(same).mean() > status.matcher.score(other).mean()

    # a second session goes on from the file: the pairs already there stay
    _, more = label_session(home, answers_wanted=1)
    again = near.read_pairs(path)
    assert len(again["match"]) == len(pairs["match"]) + more.count("y")
    assert len(again["distinct"]) == len(pairs["distinct"]) + more.count("n")
    assert more.count("y") + more.count("n") >= 2
    assert again["match"][: len(pairs["match"])] == pairs["match"]
    assert again["distinct"][: len(pairs["distinct"])] == pairs["distinct"]


def test_review_shows_the_pairs_scored_close_to_the_threshold() -> None:
    spec = load_spec(DEFAULT_SOURCES_DIR / "demo.yaml")
    record = {"title": "bright 2-room flat in mitte", "price": 1250.0, "city": "berlin"}
    rows = pd.DataFrame(
        {
            "logical_date": [DAY, DAY, DAY],
            "position": [0, 1, 2],
            "record_key": ["L-2", "L-3", "L-4"],
            "matched_key": ["L-1", "L-1", "L-1"],
            "matched_date": [DAY, DAY, DAY],
            "rule": ["near", "near", "near"],
            "score": [0.72, 0.55, 0.99],
            "action": ["dropped", "kept", "dropped"],
            "record": [record, {**record, "price": 1290.0}, record],
            "matched_record": [record, record, record],
        }
    )
    lines = list(review_lines(spec, rows))
    assert lines[0].startswith("source demo: 2 borderline pair(s)")  # 0.99 is not borderline
    assert "L-2 ~ L-1" in lines[2] and "dropped as a re-listing" in lines[2]  # closest first
    shown = "\n".join(lines)
    assert "L-3 ~ L-1" in shown and "kept" in shown and "L-4" not in shown
    assert any(line.startswith("  * price") and "1290.0" in line for line in lines)
