"""Alert transitions: one alert when a check starts missing (or misses anew: another interval,
run or partition), one recovery when it clears, nothing while it stays as it was.

The state between supervisor runs is a JSON-able mapping ``{source: {check: miss key}}`` of the
misses already alerted; the DAG keeps it in an Airflow Variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from harvest.monitoring.sla import SourceStatus

AlertState = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Alert:
    """One message to send: a miss or a recovery of one check of one source."""

    kind: Literal["miss", "recovery"]
    source: str
    check: str
    message: str

    @property
    def text(self) -> str:
        word = "SLA MISSED" if self.kind == "miss" else "RECOVERED"
        return f"[harvest] {word}: source {self.source}, {self.check}: {self.message}"


def transitions(
    statuses: Iterable[SourceStatus], state: Mapping[str, Mapping[str, str]]
) -> tuple[list[Alert], AlertState]:
    """The alerts to send now and the state to keep, given the last state.

    A check not judged this time (``missed`` None) keeps its previous state: no recovery is
    claimed from missing evidence. Sources not evaluated this time keep theirs too.
    """
    alerts: list[Alert] = []
    new_state: AlertState = {source: dict(checks) for source, checks in state.items()}
    for status in statuses:
        before = dict(state.get(status.source, {}))
        after: dict[str, str] = {}
        for check in status.checks:
            previous = before.get(check.check)
            if check.missed is None:
                if previous is not None:
                    after[check.check] = previous
            elif check.missed:
                after[check.check] = check.key
                if previous != check.key:
                    alerts.append(Alert("miss", status.source, check.check, check.message))
            elif previous is not None:
                alerts.append(Alert("recovery", status.source, check.check, check.message))
        if after:
            new_state[status.source] = after
        else:
            new_state.pop(status.source, None)
    return alerts, new_state
