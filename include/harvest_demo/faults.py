"""The faults the demo site injects on demand, and the draw that makes them deterministic.

Whether a request fails, is slow or is truncated depends only on the site seed, the URL and how
many times that URL was asked for (:func:`fault_draw`), so a faulty crawl replays exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Faults:
    """Faults the server injects into site pages (never into ``/robots.txt`` or ``/_control``).

    - ``error_rate``: probability that a request is answered 503;
    - ``fail_first``: each URL (path and query) gets 503 on its first N requests, then succeeds;
    - ``slow_rate`` / ``slow_seconds``: probability of sleeping that long before answering;
    - ``truncate_rate``: probability that an HTML body is cut half-way (Content-Length matches);
    - ``layout_drift``: detail pages say ``data-attr`` instead of ``data-field``;
    - ``retemplated``: index and detail pages in another template, the same values
      (:mod:`harvest_demo.retemplated`: a redesign that drift repair learns back);
    - ``fail_paths``: requests whose target (path and query, as sent) starts with one of these
      are always answered 503 (one list page failing for a whole night).
    """

    error_rate: float = 0.0
    fail_first: int = 0
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    truncate_rate: float = 0.0
    layout_drift: bool = False
    retemplated: bool = False
    fail_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "truncate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1], got {value}")
        if self.fail_first < 0:
            raise ValueError(f"Faults.fail_first must be >= 0, got {self.fail_first}")
        if self.slow_seconds < 0:
            raise ValueError(f"Faults.slow_seconds must be >= 0, got {self.slow_seconds}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from JSON-like data; keys left out take their defaults, unknown keys fail."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = type(getattr(cls(), name))
            if kind is tuple:
                if not isinstance(value, list | tuple) or not all(
                    isinstance(v, str) for v in value
                ):
                    raise ValueError(f"fault {name} must be a list of strings, got {value!r}")
                values[name] = tuple(value)
                continue
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"fault {name} must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fault {name} must be a number, got {value!r}")
            elif kind is int and value != int(value):
                raise ValueError(f"fault {name} must be a whole number, got {value!r}")
            values[name] = kind(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fail_paths"] = list(self.fail_paths)
        return data


def fault_draw(seed: int, kind: str, target: str, attempt: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, fault kind, URL, attempt number)."""
    digest = hashlib.blake2b(f"{seed}|{kind}|{target}|{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
