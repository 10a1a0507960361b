"""Repair proposals kept for people to review: what ``repair`` would patch after a night whose
crawl looked drifted, stored as JSON under ``<HARVEST_HOME>/repairs/<source>/<date>.json``.

The scrape stage stores one when its crawl reached no item page or a field's coverage monitor
failed and a patch could be derived (:func:`propose_on_drift`); the crawl's warnings, the
supervisor's alerts and the app's Repairs page show it; ``python -m harvest repair --source X
--date D --apply`` applies it and marks it applied. Nothing here writes a spec. Reading needs
only the standard library (the app and the supervisor import this module).
"""

from __future__ import annotations

import datetime as dt
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

    @property
    def command(self) -> str:
        return f"python -m harvest repair --source {self.source} --date {self.date}"

    def line(self) -> str:
        """The proposal in one line, for a crawl's warnings and an alert."""
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
    )


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


def propose_on_drift(
    settings: Settings, spec: SourceSpec, day: dt.date, summary: Mapping[str, Any]
) -> Proposal | None:
    """After a crawl that looks drifted (:func:`drifted`): derive the repair, store the
    proposal when there is a patch, and return it. Never raises: a repair that cannot be
    derived is logged (the crawl's own checks say what went wrong)."""
    if not drifted(summary):
        return None
    from harvest.learning.repair import RepairError, derive_repair

    try:
        proposal = proposal_of(derive_repair(settings, spec, day))
    except RepairError as exc:  # a source without history: nothing to learn from
        log.info("source=%s date=%s: no repair proposed: %s", spec.name, day, exc)
        return None
    except Exception as exc:  # a proposal is a help, never the crawl's failure
        log.warning("source=%s date=%s: no repair proposed: %s", spec.name, day, exc)
        return None
    if proposal is None:
        log.warning("source=%s date=%s: looks drifted, no selector repairs it", spec.name, day)
        return None
    store_proposal(settings.home, proposal)
    log.warning("%s", proposal.line())
    return proposal
