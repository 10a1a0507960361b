"""``harvest init`` on a category tree of mixed depth: the few pages fetched to see it.

The start page's :data:`PROBES` most item-like link groups are tried, each on
:data:`PROBE_PAGES` of the pages it links (spread over the group): the first whose pages lead
further through links sitting the same way is the tree's ``recurse``
(:func:`harvest.learning.tree.leads_deeper`). The tree is then walked breadth first, at most
:data:`CHILDREN` sub-categories of each page (twice as many of the start page; spread over
them) and :data:`TREE_PAGES` category
pages in all, so a few branches are seen down to their items; the level is drafted from them
(:func:`harvest.learning.tree.tree_structure`). robots.txt is obeyed, a page that fails is left
out, and every page is fetched once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from harvest.learning.itemfields import SamplePage
from harvest.learning.listpage import ListStructure
from harvest.learning.tree import LinkPage, leads_deeper, link_page, ranked_groups, tree_structure
from harvest.scraping.preview import PreviewError

PROBES = 3
"""Link groups of the start page tried as the tree's sub-category links."""
PROBE_PAGES = 2
"""Pages of each tried group fetched to see whether they lead deeper."""
CHILDREN = 2
"""Sub-categories of each category page walked."""
TREE_PAGES = 12
"""Most category pages fetched to see the tree."""


class _Fetcher(Protocol):
    def allowed(self, url: str) -> bool: ...

    def get(self, url: str) -> SamplePage: ...


def _spread(urls: list[str], count: int) -> list[str]:
    if len(urls) <= count:
        return urls
    step = len(urls) / count
    return [urls[int(i * step)] for i in range(count)]


def find_tree(fetcher: _Fetcher, start: SamplePage) -> tuple[ListStructure, SamplePage, int] | None:
    """The one level of the category tree below ``start`` (its ``recurse``, item links and
    cards, next page), the category page with the most items, and the category pages seen;
    ``None`` when no link group of the start page leads deeper (module docstring)."""
    root = link_page(start)
    fetched: dict[str, LinkPage | None] = {root.url: root}

    def fetch(url: str) -> LinkPage | None:
        if url not in fetched:
            page = None
            if len([p for p in fetched.values() if p]) < TREE_PAGES + PROBES * PROBE_PAGES:
                try:
                    page = link_page(fetcher.get(url)) if fetcher.allowed(url) else None
                except PreviewError:  # a page that fails is no evidence either way
                    page = None
            fetched[url] = page
        return fetched[url]

    for signature in ranked_groups(root)[:PROBES]:
        children = [fetch(u) for u in _spread(root.targets(signature), PROBE_PAGES)]
        if not any(c is not None and leads_deeper(signature, root, c) for c in children):
            continue
        found = _walk(root, signature, fetch)
        if found is not None:
            return found
    return None


def _walk(
    root: LinkPage, signature: str, fetch: Callable[[str], LinkPage | None]
) -> tuple[ListStructure, SamplePage, int] | None:
    categories: list[LinkPage] = [root]
    known = {root.url, *root.targets(signature)}
    queue = [(root, u) for u in _spread(root.targets(signature), 2 * CHILDREN)]
    while queue and len(categories) <= TREE_PAGES:
        parent, url = queue.pop(0)
        page = fetch(url)
        if page is None or page in categories:
            continue
        categories.append(page)
        deeper = [u for u in leads_deeper(signature, parent, page) if u not in known]
        known.update(deeper)
        queue += [(page, u) for u in _spread(deeper, CHILDREN)]
    found = tree_structure(categories, signature, known)
    return (*found, len(categories)) if found is not None else None
