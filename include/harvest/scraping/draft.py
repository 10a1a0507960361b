"""``harvest init URL``: fetch a list page and a sample of its item pages, draft a spec from them
(:mod:`harvest.learning.draft`) and write it.

Only the site is asked: its ``robots.txt`` (obeyed: a disallowed page is not fetched), the list
page and up to ``--sample`` item pages spread over the list, one request at a time with
``--delay`` seconds between them (the crawl's polite default, 1 s). A page that carries scripts
is also rendered by headless Chromium (Harvest's browser pool) when it is installed; when the
rendered page shows more text than the plain one, the page needs JavaScript: the spec gets a
``javascript:`` section (a ``<body>``/``<html>`` attribute only such pages carry as its
``marker``, else the item URLs' path as ``url_patterns``; an attribute the script adds as
``wait_for``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
import urllib.robotparser
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector
from w3lib.url import safe_url_string

from harvest.config.settings import Settings
from harvest.learning.cardrecords import draft_records, records_structure
from harvest.learning.draft import Draft, draft_source
from harvest.learning.itemfields import SamplePage, snake
from harvest.learning.jsonapi import draft_api, json_data
from harvest.learning.listpage import ListStructure, find_structure
from harvest.scraping.draft_scroll import with_scroll
from harvest.scraping.draft_sitemap import draft_from_sitemap, sitemap_kind
from harvest.scraping.draft_tree import find_tree
from harvest.scraping.preview import PreviewError, fetch_page

SAMPLE = 10
MAX_UPPER = 2
"""Most levels of categories above the list level."""
SHARE_LISTS = 0.6
"""The share of sampled pages that must be lists for them to be a level of categories."""
MORE_TEXT = 3
"""A rendered page needs JavaScript when it shows more than this many characters more."""


class Fetcher:
    """Plain HTTP GETs (robots.txt obeyed unless ``obey_robots`` is false: none, a 4xx, allows
    everything, a 5xx or no answer nothing, RFC 9309 as the crawl reads it; ``delay`` seconds
    apart, or its ``Crawl-delay`` up to ``max_crawl_delay``) and, when Chromium is installed and
    ``browser`` is true, rendering in one headless browser started when first needed (awaiting
    the CSS ``wait_for``)."""

    def __init__(
        self,
        user_agent: str,
        *,
        delay: float = 1.0,
        browser: bool = True,
        obey_robots: bool = True,
        max_crawl_delay: float = 0.0,
        wait_for: str | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.delay = delay
        self.browser = browser
        self.obey_robots = obey_robots
        self.max_crawl_delay = max_crawl_delay
        self.wait_for = wait_for
        self.requests = 0
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._pool: Any = None
        self._last = 0.0
        self.encoding = "utf-8"
        self._pages: dict[str, SamplePage] = {}

    def _wait(self) -> None:
        pause = self.delay - (time.monotonic() - self._last)
        if pause > 0:
            time.sleep(pause)
        self._last = time.monotonic()
        self.requests += 1

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        if root not in self._robots:
            robots = urllib.robotparser.RobotFileParser()
            try:
                self._wait()
                robots.parse(fetch_page(f"{root}/robots.txt", self.user_agent).text.splitlines())
            except PreviewError as exc:  # RFC 9309, as the crawl: a 4xx (none) allows all,
                code = getattr(exc.__cause__, "code", 0)  # a 5xx or no answer allows nothing
                robots.parse([] if 400 <= code < 500 else ["User-agent: *", "Disallow: /"])
            self._robots[root] = robots
            asked = robots.crawl_delay(self.user_agent)
            if asked:  # as the crawl: the site's Crawl-delay, capped
                self.delay = max(self.delay, min(float(asked), self.max_crawl_delay))
        return not self.obey_robots or self._robots[root].can_fetch(self.user_agent, url)

    def get(self, url: str) -> SamplePage:
        # as Scrapy asks it: the path in UTF-8, the query in the encoding of the page linking it
        url = safe_url_string(url, encoding=self.encoding)
        if url in self._pages:  # a page the draft looked at twice (a probe, then a sample)
            return self._pages[url]
        if not self.allowed(url):
            raise PreviewError(f"{url}: robots.txt disallows it; harvest init does not fetch it")
        self._wait()
        response = fetch_page(url, self.user_agent)
        if self.requests <= 2:  # the start page's (after robots.txt): its links' encoding
            self.encoding = response.encoding
        self._pages[url] = SamplePage(response.url, response.text)
        return self._pages[url]

    @property
    def can_render(self) -> bool:
        return self.browser and bool(
            (shutil.which("chromium") or shutil.which("chromium-browser"))
            and shutil.which("chromedriver")
        )

    def render(self, url: str, scroll: Any = None) -> SamplePage:
        if self._pool is None:
            from harvest.crawler.browser import BrowserPool

            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            self._pool = BrowserPool(
                1,
                str(chromium),
                str(shutil.which("chromedriver")),
                user_agent=self.user_agent,
                wait_for=self.wait_for,
            )
        self._wait()
        rendered = self._pool.render(url, scroll)
        if rendered.error:
            raise PreviewError(f"{url}: {rendered.error}")
        return SamplePage(rendered.final_url or url, rendered.html)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _visible(html: str) -> str:
    selector = Selector(text=html)
    return " ".join(selector.xpath("//body//text()[not(ancestor::script)]").getall()).strip()


def _has_scripts(html: str) -> bool:
    return bool(Selector(text=html).xpath("//script[not(@type='application/ld+json')]"))


def _attributes(html: str) -> set[str]:
    """``body[name=value]`` / ``html[name=value]`` for each attribute of those two tags."""
    selector = Selector(text=html)
    out = set()
    for tag in ("html", "body"):
        for element in selector.xpath(f"//{tag}"):
            for name, value in element.attrib.items():
                if re.match(r"^[\w-]+$", name) and re.match(r"^[\w-]+$", value or ""):
                    out.add(f"{tag}[{name}={value}]")
    return out


def javascript_section(
    plain: Sequence[SamplePage], rendered: Sequence[SamplePage | None]
) -> dict[str, Any] | None:
    """The spec's ``javascript:`` for item pages some of which needed rendering (``rendered[i]``
    is page i rendered when it needed it, else ``None``); ``None`` when none did."""
    needed = [i for i, r in enumerate(rendered) if r is not None]
    if not needed:
        return None
    out: dict[str, Any] = {}
    markers = set.intersection(*(_attributes(plain[i].html) for i in needed))
    for i, page in enumerate(plain):
        if i not in needed:
            markers -= _attributes(page.html)
    if markers and len(needed) < len(plain):
        out["marker"] = sorted(markers)[0]
    else:
        paths = [urlsplit(plain[i].url).path for i in needed]
        prefix = paths[0][: len(paths[0]) - len(paths[0].split("/")[-1])]
        out["url_patterns"] = [re.escape(prefix)]
    added = set.intersection(
        *(_attributes(r.html) - _attributes(plain[i].html) for i, r in enumerate(rendered) if r)
    )
    if added:
        out["wait_for"] = sorted(added)[0]
    return out


def sample_urls(urls: Sequence[str], count: int) -> list[str]:
    """``count`` of ``urls`` spread evenly over them (all when there are fewer)."""
    if len(urls) <= count:
        return list(urls)
    step = len(urls) / count
    return [urls[int(i * step)] for i in range(count)]


def _items(
    fetcher: Fetcher,
    page: SamplePage,
    structure: ListStructure | None,
    sample: int,
    notes: list[str],
) -> list[SamplePage]:
    """Up to ``sample`` of the item pages ``structure`` links (spread over the list, those
    robots.txt allows), fetched plain; ``page`` itself when there is no structure."""
    if structure is None:
        return [page]
    urls = list(structure.item_urls)
    refused = [u for u in urls if not fetcher.allowed(u)]
    if refused:
        notes.append(f"robots.txt disallows {len(refused)} item links (not fetched): {refused[0]}")
        urls = [u for u in urls if u not in refused]
    if not urls:
        raise PreviewError(f"{page.url}: robots.txt disallows every item link found there")
    return [fetcher.get(u) for u in sample_urls(urls, sample)]


def _lists(pages: Sequence[SamplePage]) -> tuple[ListStructure, SamplePage] | None:
    """When most of ``pages`` are list pages with the same item links (categories, not items):
    their list structure, with the item URLs of all of them, and the first of them; else
    ``None``."""
    structures = [find_structure(p.url, p.html) for p in pages]
    found = [s for s in structures if s is not None]
    if len(found) < max(2, SHARE_LISTS * len(pages)) or len({s.links for s in found}) != 1:
        return None
    first_page = next(p for p, s in zip(pages, structures, strict=True) if s is not None)
    nexts = Counter(s.next_page for s in found if s.next_page)
    first = found[0]
    merged = ListStructure(
        links=first.links,
        cards=first.cards if len({s.cards for s in found}) == 1 else None,
        next_page=nexts.most_common(1)[0][0] if nexts else None,
        item_urls=tuple(dict.fromkeys(u for s in found for u in s.item_urls)),
        next_url=first.next_url,
    )
    return merged, first_page


def _numbered(fetcher: Fetcher, page: SamplePage, records: ListStructure) -> ListStructure:
    """``records`` with ``pages: ?page={page}`` when it has no next link, its URL no query,
    and ``?page=2`` shows cards of the same selector with other text than page 1."""
    if records.next_page or urlsplit(page.url).query or records.cards is None:
        return records
    try:
        second = fetcher.get(page.url + "?page=2")
    except PreviewError:  # no page 2 (404, refused by robots.txt): no numbered pages
        return records
    first = Selector(text=page.html).css(records.cards).getall()
    shown = Selector(text=second.html).css(records.cards).getall()
    if shown and not set(shown) & set(first):
        return replace(records, pages="?page={page}")
    return records


def draft_from_url(
    url: str,
    fetcher: Fetcher,
    *,
    sample: int = SAMPLE,
    examples: dict[str, str] | None = None,
    name: str | None = None,
) -> Draft:
    """Fetch list page ``url`` and ``sample`` item pages, and draft the spec (module docstring)."""
    page = fetcher.get(url)
    if json_data(page.html) is not None:  # a JSON API: its largest array's objects
        return draft_api(page.url, page.html, name=name)
    if sitemap_kind(page) is not None:
        return draft_from_sitemap(fetcher, page, sample=sample, examples=examples, name=name)
    structure = find_structure(page.url, page.html)
    notes = []
    if structure is None and fetcher.can_render and _has_scripts(page.html):
        structure = find_structure(page.url, fetcher.render(url).html)
        if structure is not None:
            notes.append("the list page's links appear only once rendered: render it too")
    if structure is None:
        records = records_structure(page.url, page.html)
        if records is not None:
            records = with_scroll(fetcher, page, _numbered(fetcher, page, records))
            draft = draft_records(page.url, page.html, records, name=name)
            draft.notes[:0] = notes
            return draft
    upper: list[ListStructure] = []
    list_page = page
    tree = find_tree(fetcher, page) if structure is not None else None
    if tree is not None:
        structure, list_page, seen = tree
        notes.append(
            f"a category tree ({seen} category pages seen): sub-categories [{structure.recurse}]"
            f" are followed into the same level (recurse), item links [{structure.links}] at "
            "every depth"
        )
    plain = _items(fetcher, page, structure, sample, notes)
    while tree is None and structure is not None and len(upper) < MAX_UPPER:
        below = _lists(plain)
        if below is None:
            break
        notes.append(f"the pages {structure.links!r} leads to are lists: a level of categories")
        upper.append(structure)
        structure, list_page = below
        plain = _items(fetcher, page, structure, sample, notes)
    rendered: list[SamplePage | None] = []
    for item in plain:
        better = None
        if fetcher.can_render and _has_scripts(item.html):
            shown = fetcher.render(item.url)
            if len(_visible(shown.html)) > len(_visible(item.html)) + MORE_TEXT:
                better = shown
        rendered.append(better)
    pages = [r or p for p, r in zip(plain, rendered, strict=True)]
    javascript = javascript_section(plain, rendered)
    draft = draft_source(
        url,
        structure,
        pages,
        examples=examples,
        name=name,
        javascript=javascript,
        upper=upper,
        list_page=list_page,
    )
    if any(_has_scripts(p.html) for p in plain) and not fetcher.can_render:
        notes.append(
            "pages carry scripts but Chromium/chromedriver are not installed (or --no-browser): "
            "fields only a script fills in were not seen"
        )
    draft.notes[:0] = notes
    return draft


def _examples(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"--example {pair!r}: write it as field=value (price='1.200 €')")
        out[name.strip()] = value.strip()
    return out


def run_init(settings: Settings, args: argparse.Namespace) -> int:
    """The ``init`` command: draft, write ``--output`` (default ``<name>.yaml`` here), say what
    was found and the next step."""
    try:
        examples = _examples(args.example or [])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fetcher = Fetcher(settings.user_agent, delay=args.delay, browser=not args.no_browser)
    name = args.name or (snake(Path(args.output).stem) if args.output else None)  # the file's
    try:
        draft = draft_from_url(args.url, fetcher, sample=args.sample, examples=examples, name=name)
    except (PreviewError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        fetcher.close()
    output = Path(args.output or f"{draft.spec.name}.yaml")
    if output.exists() and not args.force:
        print(f"error: {output} exists (--force overwrites it)", file=sys.stderr)
        return 1
    output.write_text(draft.text, encoding="utf-8")
    structure = draft.structure
    if structure is not None:
        print(
            f"list page: {len(structure.item_urls)} item links [{structure.links}]"
            + (f" in cards [{structure.cards}]" if structure.cards else "")
            + (f", next page [{structure.next_page}]" if structure.next_page else ", no next page")
        )
    else:
        print("no repeated item links found: the page is drafted as an item page itself")
    sampled = len(draft.fields[0].values) if draft.fields else 0
    print(f"{len(draft.fields)} fields on {sampled} item pages ({fetcher.requests} requests):")
    for field in draft.fields:
        seen = sum(v is not None for v in field.values)
        example = next((v for v in field.values if v), "")
        where = f"{seen}/{len(field.values)}" + (" cards" if field.how == "card" else "")
        print(f"  {field.name:<20} {field.guess.kind:<6} {where}  {field.text}  e.g. {example!r}")
    for note in draft.notes:
        print(f"note: {note}")
    item = structure.item_urls[0] if structure else args.url
    print(f"wrote {output}; next: python -m harvest preview --spec {output} --url {item}")
    return 0
