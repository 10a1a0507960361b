"""Labelling re-listings at the console, and reviewing the pairs de-duplication was unsure of.

``harvest dedup label --source X`` (:func:`label`): dedupe's active learning shows the pair of
records it is least sure about, you answer y(es) / n(o) / u(nsure) / f(inished) / p(revious), and
the answers go to the source's training file (``dedup.training_file``) when you finish, stop
with Ctrl-C or the input ends. A second session starts from the pairs already in the file, and
the next clean trains on them (:func:`harvest.cleaning.near.load_matcher`).

``harvest dedup review --source X`` (:func:`review_lines`): the near pairs scored within
``dedup.review_margin`` of the threshold, dropped or kept, side by side, from ``dedup_matches``.
"""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harvest.cleaning import near
from harvest.config.spec import SourceSpec

log = logging.getLogger(__name__)

DEFAULT_SAMPLE = 5000
"""Records the labelling session samples from (dedupe's active learning looks at pairs of them)."""


@dataclass(frozen=True)
class LabelResult:
    """What a labelling session left in the training file."""

    path: Path
    matches_before: int
    distincts_before: int
    matches: int
    distincts: int
    interrupted: bool

    @property
    def added(self) -> int:
        return self.matches + self.distincts - self.matches_before - self.distincts_before


def label(
    spec: SourceSpec,
    frame: pd.DataFrame,
    *,
    path: Path | None = None,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> LabelResult:
    """Run dedupe's console labelling on up to ``sample`` records of ``frame`` (processed
    records of the source) and save every answer to ``path`` (default: the spec's training
    file). Reads answers from standard input and shows pairs on standard error (dedupe's
    ``console_label``). Raises ``ValueError`` naming the source when there is nothing to label
    or no training file to write to."""
    import dedupe

    path = path or near.training_path(spec)
    if path is None:
        raise ValueError(
            f"source {spec.name}: the spec names no dedup.training_file to write the pairs to"
        )
    if len(frame) < 2:
        raise ValueError(
            f"source {spec.name}: {len(frame)} record(s) to label; load some partitions first"
        )
    if len(frame) > sample:
        chosen = random.Random(seed).sample(range(len(frame)), sample)  # noqa: S311 - a sample
        frame = frame.iloc[sorted(chosen)]
    old = near.read_pairs(path)
    compared = near.compared_fields(spec)
    deduper = dedupe.Dedupe([c.variable() for c in compared], num_cores=1, in_memory=True)
    near.no_workers(deduper)
    data = dict(enumerate(near.records(frame.reset_index(drop=True), spec)))
    names = [c.name for c in compared]
    for label_name in ("match", "distinct"):  # fields added to the spec since: missing
        old[label_name] = [
            ({n: a.get(n) for n in names}, {n: b.get(n) for n in names}) for a, b in old[label_name]
        ]
    # the pairs already labelled go in as dedupe's training file, so its learner knows them
    known = io.StringIO(json.dumps({k: [list(p) for p in v] for k, v in old.items()}))
    deduper.prepare_training(data, training_file=known if old["match"] or old["distinct"] else None)
    interrupted = False
    try:
        dedupe.console_label(deduper)
    except (KeyboardInterrupt, EOFError):
        interrupted = True  # the pairs marked so far are kept; the last answer may be lost
    pairs: dict[str, Any] = dict(deduper.training_pairs)
    near.write_pairs(path, pairs)
    return LabelResult(
        path=path,
        matches_before=len(old["match"]),
        distincts_before=len(old["distinct"]),
        matches=len(pairs["match"]),
        distincts=len(pairs["distinct"]),
        interrupted=interrupted,
    )


def borderline(spec: SourceSpec, matches: pd.DataFrame) -> pd.DataFrame:
    """The near pairs of ``matches`` (rows of ``dedup_matches``) scored within
    ``dedup.review_margin`` of ``dedup.threshold``, dropped or kept, closest to it first."""
    low = spec.dedup.threshold - spec.dedup.review_margin
    high = spec.dedup.threshold + spec.dedup.review_margin
    near_rows = matches[(matches["rule"] == "near") & matches["score"].between(low, high)]
    distance = (near_rows["score"] - spec.dedup.threshold).abs()
    return near_rows.assign(_distance=distance).sort_values(
        ["_distance", "logical_date", "position"], kind="stable"
    )


def review_lines(spec: SourceSpec, matches: pd.DataFrame, limit: int = 20) -> Iterator[str]:
    """The borderline pairs as text: a heading per pair, then each compared field of both."""
    rows = borderline(spec, matches)
    yield (
        f"source {spec.name}: {len(rows)} borderline pair(s) (score within "
        f"{spec.dedup.review_margin} of the threshold {spec.dedup.threshold})"
        + (f", the {limit} closest shown" if len(rows) > limit else "")
    )
    names = [c.name for c in near.compared_fields(spec)]
    for row in rows.head(limit).itertuples(index=False):
        verdict = "dropped as a re-listing" if row.action == "dropped" else "kept"
        yield ""
        yield (
            f"{row.logical_date} {row.record_key} ~ {row.matched_key} ({row.matched_date}): "
            f"score {row.score:.3f}, {verdict}"
        )
        record: dict[str, Any] = row.record or {}
        matched: dict[str, Any] = row.matched_record or {}
        width = max((len(n) for n in names), default=5)
        for name in names:
            a, b = record.get(name), matched.get(name)
            mark = " " if a == b else "*"
            yield f"  {mark} {name:<{width}}  {_show(a):<40}  {_show(b)}"
    if not len(rows):
        yield "nothing to review"


def _show(value: Any) -> str:
    return "-" if value is None else str(value)
