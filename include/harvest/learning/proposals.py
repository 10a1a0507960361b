"""Repair proposals kept for people to review: what ``repair`` would patch after a night whose
crawl looked drifted, stored as JSON under ``<HARVEST_HOME>/repairs/<source>/<date>.json``.

The scrape stage stores one when its crawl reached no item page or a field's coverage monitor
failed (:func:`repair_on_drift`): the patch derived, or, when none is found, a notice (no
selector, what drifted, why); the crawl's warnings (and its failure's message), the
supervisor's alerts and the app's Repairs page show it; ``python -m harvest repair --source X
--date D --apply`` applies it and marks it applied. Nothing here writes a spec. Reading needs
only the standard library (the app and the supervisor import this module).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harvest.config.settings import Settings
    from harvest.config.spec import SourceSpec
    from harvest.learning.level_repair import LevelRepair
    from harvest.learning.repair import FieldRepair, RepairOutcome
    from harvest.learning.walk import Fetch

log = logging.getLogger(__name__)

FOLDER = "repairs"
"""The folder under ``HARVEST_HOME`` that holds the proposals, one folder per source."""


@dataclass
class Proposal:
    """One proposed spec patch: per selector (``selectors``: ``name``, ``now``, ``now_agreement``,
    ``proposed``, ``agreement`` 0-1, ``agreed``/``checked`` pages or links, ``examples``), the
    selectors no candidate repairs (``unresolved``), and the unified ``diff``."""

    source: str
    date: str
    selectors: list[dict[str, Any]]
    diff: str
    unresolved: list[str] = field(default_factory=list)
    applied: bool = False
    why: str = ""
    """Why there is no patch (a notice: ``selectors`` empty)."""
    patched: str = ""
    """The whole patched spec file the ``diff`` leads to (empty: a notice, or stored before it
    was kept)."""
    spec_sha256: str = ""
    """SHA-256 of the spec file the ``diff`` was taken against: ``--apply`` writes ``patched``
    only while the file still reads the same."""

    @property
    def command(self) -> str:
        return f"python -m harvest repair --source {self.source} --date {self.date}"

    def line(self) -> str:
        """The proposal in one line, for a crawl's warnings and an alert; a notice says what
        drifted and that no repair was found."""
        if not self.selectors:
            return (
                f"source {self.source} date {self.date}: the crawl looks drifted ("
                f"{'; '.join(self.unresolved) or 'selectors no longer read'}) and no repair was "
                f"found ({self.why}); fix the spec by hand (`python -m harvest preview --source "
                f"{self.source} --url URL`; `{self.command}` shows the best candidates)"
            )
        shown = ", ".join(
            f"{s['name']} {s['now_agreement']:.0%} -> {s['agreement']:.0%}" for s in self.selectors
        )
        return (
            f"source {self.source} date {self.date}: a spec patch is proposed for "
            f"{len(self.selectors)} selector(s) ({shown}); review it with `{self.command}`, "
            f"apply it with `{self.command} --apply`"
        )


def _path(home: Path, source: str, day: dt.date | str) -> Path:
    return Path(home) / FOLDER / source / f"{day}.json"


def store_proposal(home: Path, proposal: Proposal) -> Path:
    """Write ``proposal`` (replacing the same night's); returns its path."""
    path = _path(home, proposal.source, proposal.date)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(proposal), indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def stored_proposals(home: Path, source: str | None = None) -> list[Proposal]:
    """The stored proposals (of ``source``, else of every source), newest night first; a file
    that does not read as a proposal is logged and skipped."""
    root = Path(home) / FOLDER
    paths = sorted(root.glob(f"{source or '*'}/*.json"), key=lambda p: p.stem, reverse=True)
    out = []
    for path in paths:
        try:
            out.append(Proposal(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("repair proposal %s not read: %s", path, exc)
    return out


def pending_proposal(home: Path, source: str) -> Proposal | None:
    """The newest proposal of ``source`` not applied, if its night is the newest stored."""
    proposals = stored_proposals(home, source)
    return proposals[0] if proposals and not proposals[0].applied else None


def mark_applied(home: Path, source: str, day: dt.date | str) -> bool:
    """Mark the night's proposal applied (``False``: there was none)."""
    path = _path(home, source, day)
    if not path.exists():
        return False
    proposal = Proposal(**json.loads(path.read_text(encoding="utf-8")))
    proposal.applied = True
    store_proposal(home, proposal)
    return True


def _selector(repair: Any) -> dict[str, Any]:
    best = repair.candidates[0]
    return {
        "name": repair.name,
        "now": repair.now.text,
        "now_agreement": repair.now.agreement,
        "proposed": best.text,
        "agreement": best.agreement,
        "agreed": best.agreed,
        "checked": best.pages,
        "examples": [asdict(e) for e in best.examples[:5]],
    }


def proposal_of(outcome: RepairOutcome) -> Proposal | None:
    """The proposal of a repair that has a patch (``None`` without one)."""
    if outcome.path is None:
        return None
    chosen = {*outcome.patch, *(f"{lv}.{key}" for lv, key in outcome.level_patch)}
    repairs: list[FieldRepair | LevelRepair] = [*outcome.levels, *outcome.fields]
    unresolved = [r.name for r in repairs if r.name not in chosen and outcome.failing(r)]
    return Proposal(
        outcome.spec.name,
        outcome.day.isoformat(),
        [_selector(r) for r in repairs if r.name in chosen],
        outcome.diff,
        unresolved,
        patched=outcome.patched,
        spec_sha256=text_sha256(outcome.path.read_text(encoding="utf-8")),
    )


def text_sha256(text: str) -> str:
    """The hex SHA-256 of ``text`` in UTF-8 (a spec file's, to know it did not change)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reviewed_patch(home: Path, source: str, day: dt.date | str, spec_text: str) -> Proposal | None:
    """The night's stored proposal when ``--apply`` can write it as it was shown: it has a
    patch, is not applied yet, and the spec file still reads as when it was derived
    (``spec_text``); ``None`` otherwise (the command derives the repair again)."""
    path = _path(home, source, day)
    if not path.exists():
        return None
    try:
        proposal = Proposal(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        log.warning("repair proposal %s not read: %s", path, exc)
        return None
    if proposal.applied or not proposal.patched or not proposal.selectors:
        return None
    return proposal if proposal.spec_sha256 == text_sha256(spec_text) else None


DRIFT_MONITORS = ("field_coverage",)
"""Crawl monitors whose failure makes a night look drifted."""


def drifted(summary: Mapping[str, Any]) -> bool:
    """Whether a crawl's summary (:class:`~harvest.scraping.runner.CrawlResult` as a dict)
    looks like a redesign: no item page reached while a level matched nothing, or a failed
    field coverage monitor."""
    if summary.get("item_pages") == 0 and int(summary.get("empty_levels") or 0):
        return True
    monitors: Sequence[Mapping[str, Any]] = summary.get("monitors") or []
    return any(m.get("monitor") in DRIFT_MONITORS and m.get("status") == "failed" for m in monitors)


def drifted_names(summary: Mapping[str, Any]) -> list[str]:
    """What a drifted crawl's summary says stopped reading: the first level that matched
    nothing, the failed coverage monitors' messages."""
    out = [str(summary["first_empty_level"])] if summary.get("first_empty_level") else []
    monitors: Sequence[Mapping[str, Any]] = summary.get("monitors") or []
    out += [
        str(m.get("message") or m.get("monitor"))
        for m in monitors
        if m.get("monitor") in DRIFT_MONITORS and m.get("status") == "failed"
    ]
    return out


def no_repair(spec: SourceSpec, day: dt.date, drifted: Sequence[str], why: str) -> Proposal:
    """The notice of a drifted night no selector repairs: no selector, ``unresolved`` the
    selectors (or what the crawl said) that drifted, ``why`` in ``diff``'s place."""
    return Proposal(spec.name, day.isoformat(), [], "", list(drifted), why=why)


def repair_on_drift(
    settings: Settings,
    spec: SourceSpec,
    day: dt.date,
    summary: Mapping[str, Any],
    fetch: Fetch | None = None,
) -> Proposal | None:
    """After a crawl that looks drifted (:func:`drifted`): derive the repair (``fetch``: how
    item pages are fetched through proposed levels, :mod:`harvest.learning.walk`) and store
    its proposal, or, when it finds no patch, the notice that says which selectors drifted and
    that no repair was found (:func:`no_repair`); return what was stored (``None``: the night
    did not look drifted). Its :meth:`Proposal.line` goes into the crawl's warnings. Never
    raises: an error deriving the repair makes the notice say it."""
    if not drifted(summary):
        return None
    from harvest.learning.repair import RepairError, derive_repair

    said = drifted_names(summary)
    try:
        outcome = derive_repair(settings, spec, day, fetch=fetch)
    except RepairError as exc:  # a source without history: nothing to learn from
        proposal = no_repair(spec, day, said, f"nothing to learn from: {exc}")
    except Exception as exc:  # a proposal is a help, never the crawl's failure
        log.exception("source=%s date=%s: repair failed", spec.name, day)
        proposal = no_repair(spec, day, said, f"the repair failed: {type(exc).__name__}: {exc}")
    else:
        patched = proposal_of(outcome)
        if patched is not None:
            proposal = patched
        else:
            repairs: list[FieldRepair | LevelRepair] = [*outcome.levels, *outcome.fields]
            failing = [r.name for r in repairs if outcome.failing(r)]
            why = f"no selector reaches {outcome.minimum:.0%} agreement"
            proposal = no_repair(spec, day, failing or said, why)
    store_proposal(settings.home, proposal)
    log.warning("%s", proposal.line())
    return proposal


def propose_on_drift(
    settings: Settings,
    spec: SourceSpec,
    day: dt.date,
    summary: Mapping[str, Any],
    fetch: Fetch | None = None,
) -> Proposal | None:
    """:func:`repair_on_drift`'s proposal when it has a patch (``None`` otherwise)."""
    proposal = repair_on_drift(settings, spec, day, summary, fetch)
    return proposal if proposal is not None and proposal.selectors else None
