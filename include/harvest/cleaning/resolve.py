"""The driver's side of :mod:`harvest.cleaning.partitioned`: the content matches and the scored
candidate pairs the near buckets found (:func:`harvest.cleaning.shuffle.content_and_pairs`),
decided as :func:`harvest.cleaning.dedup.deduplicate` decides them, into the dropped records,
the duplicates and the kept matches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harvest.cleaning.dedup import MATCH_COLUMNS
from harvest.cleaning.shuffle import ORDER
from harvest.config.spec import SourceSpec


def _match_rows(
    entries: pd.DataFrame, p: str, c: str, rule: str, scores: Any, action: str
) -> pd.DataFrame:
    """Rows of :data:`MATCH_COLUMNS` (the dtypes of :func:`dedup._matches_frame`)."""
    return pd.DataFrame(
        {
            "record_key": pd.Series(entries[f"{p}_key"].to_numpy(), dtype="string"),
            "url": pd.Series(entries[f"{p}_url"].to_numpy(), dtype="string"),
            "logical_date": pd.Series(entries[f"{p}_date"].to_numpy(), dtype="string"),
            "is_duplicate_of": pd.Series(entries[f"{c}_key"].to_numpy(), dtype="string"),
            "matched_date": pd.Series(entries[f"{c}_date"].to_numpy(), dtype="string"),
            "kind": pd.Series(
                ["near" if rule == "near" else "exact"] * len(entries), dtype="string"
            ),
            "scope": pd.Series(
                np.where(entries[f"{c}_batch"].to_numpy(dtype=bool), "batch", "history"),
                dtype="string",
            ),
            "rule": pd.Series([rule] * len(entries), dtype="string"),
            "score": pd.Series(np.asarray(scores, dtype=float), dtype="Float64"),
            "action": pd.Series([action] * len(entries), dtype="string"),
            "record": pd.Series(entries[f"{p}record"].to_numpy(), dtype="string"),
            "matched_record": pd.Series(entries[f"{c}record"].to_numpy(), dtype="string"),
        }
    )


def _sorted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="Float64" if c == "score" else "string")
                             for c in MATCH_COLUMNS})  # fmt: skip
    frame = pd.concat(frames, ignore_index=True)[MATCH_COLUMNS]
    return frame.sort_values(
        ["record_key", "url", "is_duplicate_of", "rule"], kind="stable", ignore_index=True
    )


def _ranks(pairs: pd.DataFrame, side: str, rank: dict[tuple[Any, ...], int]) -> np.ndarray:
    rows = pairs[[f"{side}_{c}" for c in ORDER]].itertuples(index=False, name=None)
    return np.array([rank[tuple(r)] for r in rows], dtype=np.int64)


def decide_pairs(spec: SourceSpec, pairs: pd.DataFrame) -> tuple[list[int], list[int]]:
    """The positions in ``pairs`` of the near duplicates (the later record dropped) and of the
    borderline pairs kept, decided as :func:`harvest.cleaning.dedup.deduplicate` decides: by
    the later record, then the best score, then the earliest record; a record dropped already
    is no one's canonical record."""
    sides = [pairs[[f"{s}_{c}" for c in ORDER]].set_axis(ORDER, axis=1) for s in ("e", "l")]
    ids = pd.concat(sides, ignore_index=True).drop_duplicates()
    ids = ids.sort_values(ORDER, kind="stable", ignore_index=True)
    rank = {tuple(r): i for i, r in enumerate(ids.itertuples(index=False, name=None))}
    earlier, later = _ranks(pairs, "e", rank), _ranks(pairs, "l", rank)
    scores = pairs["score"].to_numpy(dtype=float)
    canonical: dict[int, int] = {}
    matched, borderline = [], []
    threshold, margin = spec.dedup.threshold, spec.dedup.review_margin
    for i in np.lexsort((earlier, -scores, later)).tolist():
        a, b = int(earlier[i]), int(later[i])
        if scores[i] >= threshold:
            if b not in canonical and a not in canonical:
                canonical[b] = a
                matched.append(i)
        elif scores[i] >= threshold - margin:
            borderline.append(i)
    return matched, [i for i in borderline if int(later[i]) not in canonical]


def resolve_pairs(
    spec: SourceSpec,
    pairs: pd.DataFrame,
    content: list[pd.DataFrame],
    key_duplicates: list[pd.DataFrame],
) -> tuple[frozenset[int], pd.DataFrame, pd.DataFrame]:
    """The batch rows dropped (their ``_seq``), the duplicates (``key_duplicates`` and the
    others) and the kept matches: content matches (dropped or reported, as the spec says) and
    the near pairs (:func:`decide_pairs`)."""
    found = [m for m in content if len(m)]
    dropped: set[int] = set()
    duplicates, kept = list(key_duplicates), []
    if found:
        matches = pd.concat(found, ignore_index=True)
        matches = matches.sort_values([f"p_{c}" for c in ORDER], kind="stable", ignore_index=True)
        ones = [1.0] * len(matches)
        if spec.dedup.content_duplicates == "drop":
            dropped |= set(matches["p__seq"].astype(int))
            duplicates.append(_match_rows(matches, "p_", "c_", "content", ones, "dropped"))
        else:
            kept.append(_match_rows(matches, "p_", "c_", "content", ones, "reported"))
    if len(pairs):
        matched, borderline = decide_pairs(spec, pairs)
        near = pairs.iloc[matched]
        dropped |= set(near["l__seq"].astype(int))
        duplicates.append(_match_rows(near, "l_", "e_", "near", near["score"], "dropped"))
        border = pairs.iloc[borderline]
        kept.append(_match_rows(border, "l_", "e_", "near", border["score"], "kept"))
    return frozenset(dropped), _sorted(duplicates), _sorted(kept)
