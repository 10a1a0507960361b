"""Near duplicates: re-listings of one item under a new key, matched by the dedupe library.

Only a source whose spec says ``dedup.relistings: true`` is matched, and only with labelled pairs:
the training file beside its spec (``dedup.training_file``, by default ``<source>.dedup.json``)
in dedupe's own format, ``{"match": [[a, b], ...], "distinct": [[a, b], ...]}`` where each record
is a mapping of the compared fields (:func:`record`). ``harvest dedup label --source X`` writes it.
Without it the source keeps exact-key de-duplication and :func:`load_matcher` says why.

The model is dedupe's (``Dedupe.prepare_training`` -> ``mark_pairs`` from the file -> ``train``):
a logistic regression over one distance per compared field, weights learned from the pairs. Each
field is compared as its kind's :class:`~harvest.fields.Comparison` says: the ``title_field`` as a
string (affine gap), ``tolerance`` kinds (price, area) by :func:`digits_of_agreement`, the others
exactly in their comparison form (text folded, dates by day, counts and flags as they are).

Candidate pairs come from Harvest's blocking (:mod:`harvest.cleaning.blocking`), not dedupe's learned
predicates: agreeing on every exactly-compared field both records have, with at most
``dedup.max_missing`` missing between them. It is deterministic and, measured in
``benchmarks/bench_dedup.py``, faster than dedupe's own blocking at the same recall; dedupe then
scores the candidates (``Dedupe.score``) and a pair at or above ``dedup.threshold`` is a match.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.fields import Comparison, field_kind
from harvest.text import fold

log = logging.getLogger(__name__)

Record = dict[str, Any]
"""A record as dedupe compares it: compared field -> value (``None`` when missing)."""

MIN_PAIRS_PER_LABEL = 5
"""Fewest ``match`` and ``distinct`` pairs a training file needs (dedupe's model is chosen by
five-fold cross-validation, which needs five of each)."""


class TrainingPairsError(HarvestError, ValueError):
    """A training file that cannot train a matcher; the message names the file and what to do
    (label more pairs, or re-create it): a retry cannot help."""

    retryable = False


def digits_of_agreement(a: float, b: float) -> float:
    """How many leading digits two numbers share: ``-log10(|a - b| / max(|a|, |b|) + 1e-4)``,
    4 when equal, about 2 at 1% apart, 1 at 10%: a distance dedupe's linear model can weigh
    (a relative difference of 0.01 and 0 differ too little for it)."""
    top = max(abs(a), abs(b))
    relative = abs(a - b) / top if top else 0.0
    return -math.log10(relative + 1e-4)


@dataclass(frozen=True)
class Compared:
    """One compared field: its name in the record, the frame column read, and how it compares
    (the kind's :class:`~harvest.fields.Comparison`, or ``None`` for the free-text title)."""

    name: str
    column: str
    comparison: Comparison | None

    @property
    def blocks(self) -> bool:
        """Whether Harvest's blocking may use the field (its kind compares values as equal)."""
        return self.comparison is not None and self.comparison.blocks

    def variable(self) -> Any:
        """The dedupe variable comparing this field (every one may be missing)."""
        from dedupe import variables

        if self.comparison is None:
            return variables.String(self.name, has_missing=True)
        if not self.comparison.blocks:
            return variables.Custom(self.name, comparator=digits_of_agreement, has_missing=True)
        return variables.Exact(self.name, has_missing=True)


def compared_fields(spec: SourceSpec) -> list[Compared]:
    """The fields the matcher compares: ``dedup.match_fields`` (or every field but the key and
    ``many`` fields) and the ``title_field``; a field with ``convert_to`` is compared in its
    converted column."""
    fields = spec.detail.fields
    names = spec.dedup.match_fields or [
        n for n, f in fields.items() if n != spec.detail.key and not f.many
    ]
    if spec.dedup.title_field and spec.dedup.title_field not in names:
        names = [*names, spec.dedup.title_field]
    out = []
    for name in names:
        field_spec = fields[name]
        comparison = (
            None if name == spec.dedup.title_field else field_kind(field_spec.kind).comparison
        )
        out.append(Compared(name, field_spec.converted_column(name) or name, comparison))
    return out


def block_fields(spec: SourceSpec) -> list[str]:
    """The fields Harvest blocks on: ``dedup.block_on``, or every exactly compared field."""
    if spec.dedup.block_on:
        return list(spec.dedup.block_on)
    return [c.name for c in compared_fields(spec) if c.blocks]


def _day_value(value: Any) -> str | None:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:  # history read back as text
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return fold(value)
    return None


def _exact_value(value: Any) -> str | None:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return fold(str(value))


def _number_value(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def column_values(frame: pd.DataFrame, compared: Compared) -> list[Any]:
    """A column's values in their compared form (one conversion per distinct value): folded
    text, ISO days, numbers as floats, counts and flags as text; ``None`` where missing."""
    column = (
        frame[compared.column]
        if compared.column in frame
        else pd.Series(pd.NA, index=frame.index, dtype="object")
    )
    comparison = compared.comparison
    if comparison is None or comparison is Comparison.FOLDED:
        convert: Any = fold
    elif not comparison.blocks:
        convert = _number_value
    elif comparison is Comparison.SAME_DAY:
        convert = _day_value
    else:
        convert = _exact_value
    codes, uniques = pd.factorize(column.astype("object"), use_na_sentinel=True)
    mapped = [convert(u) for u in uniques] + [None]
    return [mapped[c] for c in codes]


def records(frame: pd.DataFrame, spec: SourceSpec) -> list[Record]:
    """The rows of ``frame`` as dedupe records (:data:`Record`), in row order."""
    compared = compared_fields(spec)
    columns = [column_values(frame, c) for c in compared]
    names = [c.name for c in compared]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def record_pairs(
    frame: pd.DataFrame, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64],
    spec: SourceSpec,
) -> list[tuple[Record, Record]]:  # fmt: skip
    """The records of the row pairs (``first[i]``, ``second[i]``) of ``frame`` (positions),
    built for the rows they name only (not a record a row of the whole frame)."""
    wanted, inverse = np.unique(np.concatenate([first, second]), return_inverse=True)
    recs = records(frame.iloc[wanted], spec)
    half = len(first)
    return [(recs[a], recs[b]) for a, b in zip(inverse[:half], inverse[half:], strict=True)]


def record(row: Mapping[str, Any], spec: SourceSpec) -> Record:
    """One row (a mapping of column -> value) as a dedupe record."""
    return records(pd.DataFrame([dict(row)]), spec)[0]


# --- training --------------------------------------------------------------------------------


def training_path(spec: SourceSpec) -> Path | None:
    """The source's training file (``dedup.training_file``, resolved beside the spec when it
    was loaded from a file), or ``None`` when the spec names none."""
    return Path(spec.dedup.training_file) if spec.dedup.training_file else None


def read_pairs(path: Path) -> dict[str, list[tuple[Record, Record]]]:
    """The labelled pairs of a training file (``match`` and ``distinct`` lists of record pairs);
    a missing file is empty. Raises :class:`TrainingPairsError` naming the file when it is not
    dedupe's training JSON."""
    import dedupe

    if not path.exists():
        return {"match": [], "distinct": []}
    try:
        with path.open(encoding="utf-8") as handle:
            pairs = dedupe.read_training(handle)
        return {
            label: [(dict(a), dict(b)) for a, b in pairs.get(label, [])]
            for label in ("match", "distinct")
        }
    except (ValueError, TypeError, AttributeError) as exc:
        raise TrainingPairsError(
            f"{path}: not a dedupe training file ({exc}); expected "
            '{"match": [[record, record], ...], "distinct": [...]}; '
            "re-create it with `harvest dedup label`"
        ) from exc


def write_pairs(path: Path, pairs: Mapping[str, Sequence[tuple[Record, Record]]]) -> None:
    """Write labelled pairs as dedupe's training JSON, one pair per line (readable diffs),
    atomically (a crash keeps the old file)."""
    parts = []
    for label in ("match", "distinct"):
        lines = [
            json.dumps([a, b], ensure_ascii=False, sort_keys=True) for a, b in pairs.get(label, [])
        ]
        body = ",\n  ".join(lines)
        parts.append(f'"{label}": [\n  {body}\n]' if lines else f'"{label}": []')
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("{" + ",\n".join(parts) + "}\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Matcher:
    """A trained dedupe model for one source and what it was trained on."""

    deduper: Any  # dedupe.Dedupe, trained
    compared: tuple[Compared, ...]
    matches: int
    distincts: int
    training_file: str

    def score(self, pairs: Sequence[tuple[Record, Record]]) -> npt.NDArray[np.float64]:
        """The match probability (0..1) of each record pair, in order (dedupe's ``score``)."""
        if not pairs:
            return np.empty(0, dtype=np.float64)
        scored = self.deduper.score(((i, a), (i, b)) for i, (a, b) in enumerate(pairs))
        out = np.zeros(len(pairs), dtype=np.float64)  # dedupe leaves out pairs scored 0
        ids = np.asarray(scored["pairs"])
        if len(ids):
            out[ids[:, 0]] = np.asarray(scored["score"], dtype=np.float64)
        _remove_score_file(scored)
        return out


def _remove_score_file(scored: Any) -> None:
    """dedupe memory-maps its scores to a temporary file: remove it."""
    path = getattr(scored, "filename", None)
    mmap = getattr(scored, "_mmap", None)
    if mmap is not None:
        mmap.close()
    if path:
        Path(path).unlink(missing_ok=True)


@dataclass(frozen=True)
class MatcherStatus:
    """Whether near-duplicate matching runs for a source, and the sentence that says why."""

    matcher: Matcher | None
    status: str


def load_matcher(spec: SourceSpec) -> MatcherStatus:
    """The trained matcher of ``spec``, or ``None`` with the reason: the spec says no
    re-listings, names no training file, or its file has too few pairs. A training file that
    is not dedupe's JSON raises :class:`TrainingPairsError`."""
    if not spec.dedup.relistings:
        return MatcherStatus(None, "exact-key only: the spec does not say re-listings exist")
    if not block_fields(spec):
        return MatcherStatus(
            None,
            "exact-key only: no exactly compared field to block candidate pairs on "
            "(set dedup.block_on)",
        )
    path = training_path(spec)
    if path is None or not path.exists():
        return MatcherStatus(
            None,
            f"exact-key only: no labelled pairs ({path or 'no dedup.training_file'}); "
            f"label some with `harvest dedup label --source {spec.name}`",
        )
    text = path.read_bytes()
    compared = tuple(compared_fields(spec))
    digest = hashlib.sha256(text + repr(compared).encode()).hexdigest()
    try:
        matcher = _train(str(path), digest, compared)
    except TrainingPairsError as exc:
        return MatcherStatus(None, f"exact-key only: {exc}")
    return MatcherStatus(
        matcher,
        f"near duplicates matched by dedupe, trained on {matcher.matches} match and "
        f"{matcher.distincts} distinct pairs ({path.name})",
    )


@functools.lru_cache(maxsize=8)
def _train(path: str, digest: str, compared: tuple[Compared, ...]) -> Matcher:
    """Train dedupe on a training file (cached per process by the file's content and the
    compared fields: ``digest``). Deterministic: the same pairs give the same model."""
    import dedupe

    pairs = read_pairs(Path(path))
    names = {c.name for c in compared}
    for label in ("match", "distinct"):
        for a, b in pairs[label]:
            for rec in (a, b):
                for name in names - set(rec):
                    rec[name] = None
    counts = {label: len(pairs[label]) for label in ("match", "distinct")}
    if min(counts.values()) < MIN_PAIRS_PER_LABEL:
        raise TrainingPairsError(
            f"{path} has {counts['match']} match and {counts['distinct']} distinct pairs; "
            f"dedupe needs at least {MIN_PAIRS_PER_LABEL} of each "
            "(add more with `harvest dedup label`)"
        )
    deduper = dedupe.Dedupe([c.variable() for c in compared], num_cores=1, in_memory=True)
    no_workers(deduper)
    data = {i: rec for i, rec in enumerate(_unique_records(pairs))}
    deduper.prepare_training(data)
    deduper.mark_pairs(pairs)  # type: ignore[arg-type]  # dedupe types pairs as tuples
    deduper.train(index_predicates=False)
    log.info("dedupe trained on %s: %d match, %d distinct pairs", path, *counts.values())
    return Matcher(deduper, compared, counts["match"], counts["distinct"], path)


def no_workers(deduper: Any) -> None:
    """No worker processes inside a task: dedupe's classifier search (scikit-learn's
    ``GridSearchCV``) defaults to every core."""
    deduper.classifier.set_params(n_jobs=1)


def _unique_records(pairs: Mapping[str, Sequence[tuple[Record, Record]]]) -> list[Record]:
    seen: dict[str, Record] = {}
    for label in ("match", "distinct"):
        for pair in pairs[label]:
            for rec in pair:
                seen.setdefault(json.dumps(rec, sort_keys=True, default=str), rec)
    return [seen[k] for k in sorted(seen)]
