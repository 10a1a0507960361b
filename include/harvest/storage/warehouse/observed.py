"""What each date's crawl of a catalogue source read of its list pages (``crawl_branches``,
``crawl_listed``; :mod:`harvest.observation`): written by the validate stage from the raw
partition, read by the version rebuild (:mod:`.versions`) to tell a gone item from an
unobserved one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from harvest.observation import DayAccount
from harvest.storage.warehouse.schema import CRAWL_BRANCHES, CRAWL_LISTED

_CHUNK = 500  # URLs per IN (...) list


def replace_crawl_account(
    conn: sa.Connection,
    source: str,
    day: dt.date,
    branches: Sequence[Mapping[str, Any]],
    listed: Sequence[Mapping[str, Any]],
) -> None:
    """Make one date's crawl account exactly ``branches`` and ``listed`` (the rows of
    :meth:`harvest.observation.ListingAccount.branch_rows` / ``listed_rows``)."""
    for table in (CRAWL_LISTED, CRAWL_BRANCHES):
        conn.execute(sa.delete(table).where(table.c.source == source, table.c.logical_date == day))
    key = {"source": source, "logical_date": day}
    if branches:
        conn.execute(sa.insert(CRAWL_BRANCHES), [{**key, **row} for row in branches])
    if listed:
        conn.execute(sa.insert(CRAWL_LISTED), [{**key, **row} for row in listed])


Listed = dict[dt.date, dict[str, set[str]]]
"""date -> URL -> the branches that listed it."""


@dataclass
class CrawlAccounts:
    """The crawl accounts of one source: per date, whether each branch was read whole, and each
    branch's parent (as last recorded). ``listed_for`` reads what listed given URLs."""

    source: str
    complete: dict[dt.date, dict[str, bool]] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)

    def listed_for(self, conn: sa.Connection, urls: Iterable[str]) -> Listed:
        """For ``urls`` and every branch URL: on which dates which branches listed them."""
        wanted = sorted(set(urls) | set(self.parents))
        out: Listed = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = conn.execute(
                sa.select(
                    CRAWL_LISTED.c.logical_date, CRAWL_LISTED.c.url, CRAWL_LISTED.c.branch
                ).where(CRAWL_LISTED.c.source == self.source, CRAWL_LISTED.c.url.in_(chunk))
            )
            for day, url, branch in rows:
                out.setdefault(day, {}).setdefault(url, set()).add(branch)
        return out

    def day(self, day: dt.date, listed: Listed) -> DayAccount | None:
        """The account of ``day`` (``None``: its crawl recorded no list page)."""
        complete = self.complete.get(day)
        if not complete:
            return None
        return DayAccount(complete=complete, listed=listed.get(day, {}))


def crawl_accounts(conn: sa.Connection, source: str) -> CrawlAccounts:
    """The branches of every date of ``source`` (a few rows per date)."""
    accounts = CrawlAccounts(source)
    rows = conn.execute(
        sa.select(
            CRAWL_BRANCHES.c.logical_date,
            CRAWL_BRANCHES.c.branch,
            CRAWL_BRANCHES.c.parent,
            CRAWL_BRANCHES.c.complete,
        )
        .where(CRAWL_BRANCHES.c.source == source)
        .order_by(CRAWL_BRANCHES.c.logical_date)
    )
    for day, branch, parent, complete in rows:
        accounts.complete.setdefault(day, {})[branch] = bool(complete)
        accounts.parents[branch] = parent
    return accounts
