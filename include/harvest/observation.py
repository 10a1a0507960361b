"""What a crawl observed: which list pages it read whole, and which items each listed.

A catalogue closes an item's version only when the crawl *looked where the item was listed* and
did not find it (DESIGN.md: "An item is gone only when the crawl saw where it was listed and it
was not there"). The spider (:mod:`harvest.crawler.spiders.base`, ``listing``) records for each
list page its *branch* (the URL of the first page of the chain of next/numbered pages it belongs
to), the branch that linked that first page (its *parent*), the URLs it links and the pages of
its own branch it goes on to. From a partition's raw documents, :func:`listing_account` builds:

- per branch: its pages, how many failed, and whether it was read **whole** (every page fetched
  without error and every next page it names fetched; a page budget, a deadline or a failed page
  leaves it unread in part), with the reason when it was not;
- per listed URL (an item page, a deeper list page) the branches listing it, item URLs resolved
  to where they ended (a ``/x/`` redirecting to ``/x`` is ``/x``); cards that are the items are
  listed on their own page's branch under their record URL (``<page>#card-<n>``).

:func:`looked_for` is the rule the warehouse applies per item and date (see
:mod:`harvest.storage.warehouse.versions`). Pure functions, no I/O, below every stage and storage
(the warehouse applies :func:`looked_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Protocol


class RawPage(Protocol):
    """What this module reads of a raw document (:class:`harvest.storage.raw.RawDocument`)."""

    url: str
    final_url: str | None
    page_type: str
    status: int | None
    error: str | None
    records: list[dict[str, Any]]
    listing: dict[str, Any] | None


LISTED_NO_RECORD = "listed, no record"
"""Why an item is unobserved: its list page was read and lists it, but its own page failed or
its record was quarantined."""
LIST_PAGE_UNREAD = "list page not read whole"
"""Why an item is unobserved: a page of the branch that listed it failed or was not fetched."""
NO_ACCOUNT = "crawl incomplete, item's list page unknown"
"""Why an item is unobserved: its last observation says nothing of where it was listed, and the
crawl did not read every list page whole."""


@dataclass
class Branch:
    """One branch of list pages on one date (see the module docstring)."""

    url: str
    parent: str | None = None
    level: str | None = None
    pages: int = 0
    failed: list[str] = field(default_factory=list)  # "URL (error)" of each failed page
    unread: list[str] = field(default_factory=list)  # next pages it names that were not fetched

    @property
    def complete(self) -> bool:
        return self.pages > 0 and not self.failed and not self.unread

    @property
    def reason(self) -> str | None:
        """Why the branch was not read whole (``None`` when it was)."""
        parts = []
        if self.failed:
            parts.append(f"{len(self.failed)} page(s) failed: {', '.join(self.failed[:3])}")
        if self.unread:
            parts.append(f"{len(self.unread)} page(s) not fetched: {', '.join(self.unread[:3])}")
        return "; ".join(parts) or None

    def row(self) -> dict[str, Any]:
        return {
            "branch": self.url,
            "parent": self.parent,
            "level": self.level,
            "pages": self.pages,
            "failed_pages": len(self.failed),
            "complete": self.complete,
            "reason": self.reason,
        }


@dataclass
class ListingAccount:
    """A partition's list pages: ``branches`` by URL, and ``listed``: URL -> the branches whose
    pages list it (items by the URL they ended at, deeper pages by the URL asked for)."""

    branches: dict[str, Branch] = field(default_factory=dict)
    listed: dict[str, set[str]] = field(default_factory=dict)

    @property
    def recorded(self) -> bool:
        """Whether the crawl recorded its list pages at all (a hand-written spider may not)."""
        return bool(self.branches)

    @property
    def whole(self) -> bool:
        """Whether every branch was read whole."""
        return all(branch.complete for branch in self.branches.values())

    def branch_rows(self) -> list[dict[str, Any]]:
        return [branch.row() for _, branch in sorted(self.branches.items())]

    def listed_rows(self) -> list[dict[str, Any]]:
        return [
            {"url": url, "branch": branch}
            for url, branches in sorted(self.listed.items())
            for branch in sorted(branches)
        ]


def item_url(doc: RawPage) -> str:
    """The URL an item page is identified by: where it ended (after redirects), else as asked."""
    return doc.final_url or doc.url


def listing_account(docs: Iterable[RawPage]) -> ListingAccount:
    """The :class:`ListingAccount` of a partition's raw documents."""
    docs = list(docs)
    ended = {doc.url: item_url(doc) for doc in docs if doc.page_type == "detail"}
    fetched = {doc.url for doc in docs}
    account = ListingAccount()
    for doc in docs:
        listing = doc.listing
        if not listing or doc.page_type == "detail":
            continue
        url = str(listing.get("branch") or doc.url)
        branch = account.branches.setdefault(url, Branch(url))
        branch.parent = branch.parent or listing.get("parent")
        branch.level = branch.level or listing.get("level")
        branch.pages += 1
        if doc.error or (doc.status is not None and not 200 <= doc.status < 300):
            branch.failed.append(f"{doc.url} ({doc.error or f'HTTP {doc.status}'})")
        for page in listing.get("continues") or []:
            if page not in fetched:
                branch.unread.append(str(page))
        for link in listing.get("links") or []:
            account.listed.setdefault(ended.get(link, link), set()).add(url)
        for number in range(1, len(doc.records) + 1):  # cards that are the items
            account.listed.setdefault(f"{doc.url}#card-{number}", set()).add(url)
    return account


@dataclass(frozen=True)
class DayAccount:
    """What the warehouse keeps of one date's :class:`ListingAccount`: whether each branch was
    read whole (``complete``), and ``listed`` (URL -> branches; the URLs asked about)."""

    complete: Mapping[str, bool]
    listed: Mapping[str, AbstractSet[str]]

    @property
    def whole(self) -> bool:
        return all(self.complete.values())


def looked_for(
    branches: Iterable[str],
    url: str | None,
    on: DayAccount | None,
    parents: Mapping[str, str | None],
) -> tuple[bool, str | None]:
    """Whether an item not observed on a date was looked for there: ``(gone, reason)``.

    ``branches``: where it was listed when last observed (with its ``url`` then); ``on``: the
    date's account (``None``: the crawl recorded none, so absence means gone, as before this
    rule); ``parents``: a branch's parent as last known. Gone when a branch that listed it was
    read whole, or no longer exists (its parent was looked at and no longer links it);
    otherwise unobserved, with the reason (:data:`LISTED_NO_RECORD`, :data:`LIST_PAGE_UNREAD`,
    :data:`NO_ACCOUNT`).
    """
    if on is None:
        return True, None
    if url is not None and url in on.listed:
        return False, LISTED_NO_RECORD
    branches = list(branches)
    if not branches:
        return (True, None) if on.whole else (False, NO_ACCOUNT)
    if any(_looked_at(b, on, parents, set()) for b in branches):
        return True, None
    return False, LIST_PAGE_UNREAD


def _looked_at(
    branch: str, on: DayAccount, parents: Mapping[str, str | None], seen: set[str]
) -> bool:
    """A branch read whole on the date, or gone from a parent that was looked at."""
    if branch in on.complete:
        return on.complete[branch]
    parent = parents.get(branch)
    if parent is None or parent in seen:
        return False  # a start page not asked for: the crawl did not look
    seen.add(branch)
    still_linked = parent in on.listed.get(branch, frozenset())
    return not still_linked and _looked_at(parent, on, parents, seen)
