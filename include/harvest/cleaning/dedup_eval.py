"""Scoring de-duplication against a known truth (the demo site's ``relist_of``): used by the
tests and ``benchmarks/bench_dedup.py``, never by a pipeline stage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DedupScore:
    """Precision and recall of predicted (duplicate, canonical) pairs against the truth."""

    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_dedup(
    predicted_pairs: Iterable[tuple[str, str]], truth: Mapping[str, str | None]
) -> DedupScore:
    """Score predicted (duplicate key, canonical key) pairs against ``truth``: every record that
    went through de-duplication -> the key of the record it re-lists (``None`` for originals).

    Records are grouped by the original they re-list (following chains); a group of ``k`` seen
    records holds ``k - 1`` duplicates, whichever of them is kept. A predicted pair is right when
    both records are in the same group (a re-listing linked to an earlier re-listing of the same
    flat counts); each duplicate is counted once.
    """

    def root(key: str) -> str:
        seen = {key}
        while (parent := truth.get(key)) is not None and parent not in seen:
            seen.add(parent)
            key = parent
        return key

    groups: dict[str, int] = {}
    for key in truth:
        groups[root(key)] = groups.get(root(key), 0) + 1
    positives = sum(size - 1 for size in groups.values())
    right: set[str] = set()
    wrong: set[str] = set()
    for dup, canonical in predicted_pairs:
        if dup in right or dup in wrong:
            continue
        if dup in truth and canonical in truth and root(dup) == root(canonical):
            right.add(dup)
        else:
            wrong.add(dup)
    tp, fp = len(right), len(wrong)
    return DedupScore(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / positives if positives else 1.0,
        true_positives=tp,
        false_positives=fp,
        false_negatives=max(positives - tp, 0),
    )
