"""``python -m harvest preview``: one page through a spec, every field and link level shown.

The loop of writing a spec: fetch one page (through headless Chromium when the spec's
``javascript`` says the page needs it), then print for every field its selector, the strings it
matched, the value after ``regex``/``map``/``default`` and the parsed value or the reason it
failed; whether the crawl would keep the page (accepted, or rejected and why: its type, a
login/blocked page, a selector in the wrong language); and for every level of the crawl graph
the cards, links, deeper pages, next and numbered pages found on this page and what the crawl
would do with them (follow, join cards sharing an item page, skip as duplicate). It uses
the crawl's own extraction (:mod:`harvest.extract`) and the field kinds' parsers, so
what it shows is what a crawl would store.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

from parsel import Selector
from scrapy.http import HtmlResponse, TextResponse

from harvest.config.settings import Settings
from harvest.config.spec import LevelSpec, SourceSpec, SpecError, load_spec
from harvest.errors import HarvestError
from harvest.extract import Extractor, FieldExtractor, FieldValue
from harvest.fields import field_kind
from harvest.parsers import Unparseable
from harvest.selection import Page, WrongPageType, hrefs, select

SHOWN_LINKS = 3


class PreviewError(HarvestError, RuntimeError):
    """The page could not be fetched or rendered; the message names the URL."""


def fetch_page(url: str, user_agent: str, timeout: float = 30.0) -> TextResponse:
    """GET ``url`` as a Scrapy response (decoded as Scrapy decodes it: header, ``<meta>``, BOM)."""
    if not re.match(r"^https?://", url):
        raise PreviewError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            body, status, headers, final = answer.read(), answer.status, answer.headers, answer.url
    except urllib.error.HTTPError as exc:
        raise PreviewError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreviewError(f"{url}: cannot fetch it ({exc})") from exc
    kind = headers.get("Content-Type", "text/html")
    json_page = "json" in kind.split(";")[0]
    cls = HtmlResponse if not json_page and ("html" in kind or "xml" not in kind) else TextResponse
    return cls(final, status=status, body=body, headers={"Content-Type": kind})


def render_page(spec: SourceSpec, url: str, user_agent: str) -> TextResponse:
    """``url`` rendered by headless Chromium (the spec's ``javascript.wait_for`` awaited)."""
    from harvest.crawler.browser import BrowserPool

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        raise PreviewError(f"{url} needs JavaScript but Chromium/chromedriver are not installed")
    js = spec.javascript
    pool = BrowserPool(
        1,
        chromium,
        driver,
        wait_for=js.wait_for,
        timeout_seconds=js.timeout_seconds,
        user_agent=user_agent,
    )
    try:
        rendered = pool.render(url)
    finally:
        pool.close()
    if rendered.error:
        raise PreviewError(f"{url}: {rendered.error}")
    return HtmlResponse(rendered.final_url or url, body=rendered.html, encoding="utf-8")


def needs_rendering(spec: SourceSpec, response: TextResponse) -> bool:
    js = spec.javascript
    if any(re.search(p, response.url) for p in js.url_patterns):
        return True
    return bool(js.marker and response.selector.type != "json" and response.css(js.marker))


def _show(value: object) -> str:
    return repr(value) if value is not None else "(none)"


def _field_lines(
    extractor: FieldExtractor, selector: Selector, url: str, page: Page | None = None
) -> Iterator[str]:
    trace = extractor.trace(selector, url, page)
    yield f"  {trace.name}  [{trace.selector}]"
    yield f"      matched: {trace.matches if trace.matches else '(nothing)'}"
    yield f"      value:   {_show(trace.value)}" + (f"  ({trace.problem})" if trace.problem else "")
    yield f"      parsed:  {parsed_text(extractor, trace.value)}"


def parsed_text(extractor: FieldExtractor, value: FieldValue) -> str:
    """The parsed value of an extracted value, or ``FAILED: <reason>``."""
    if value is None or value == []:
        return "MISSING (required)" if extractor.spec.required else "(none)"
    kind = field_kind(extractor.spec.kind)
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        result = kind.parse(item)
        if isinstance(result, Unparseable):
            return f"FAILED ({extractor.spec.kind}): {result.reason}"
        out.append(result)
    return repr(out if isinstance(value, list) else out[0])


def page_verdict(spec: SourceSpec, response: TextResponse) -> str:
    """Whether the crawl would keep this page (``accepted``) or fail it, and why: the checks of
    :mod:`harvest.crawler.outcomes` that apply to a fetched page."""
    kind = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    mime = kind.split(";")[0].strip().lower()
    json_page = mime.endswith("json")
    if mime and mime not in ("text/html", "application/xhtml+xml") and not json_page:
        return f"REJECTED: not an HTML or JSON page (Content-Type: {kind})"
    if json_page and not spec.reads_json:
        return (
            f"REJECTED: a JSON page (Content-Type: {kind}) but the spec reads HTML (css/xpath): "
            "read JSON with 'jmespath:' selectors"
        )
    blocked = spec.crawl.blocked_selector
    if blocked and response.selector.type != "json" and response.css(blocked):
        return f"REJECTED: a login/blocked page: it matches blocked_selector {blocked!r}"
    for pattern in spec.crawl.blocked_url_patterns:
        if re.search(pattern, response.url):
            return f"REJECTED: a login/blocked page: {response.url} matches {pattern!r}"
    what = "a JSON page" if response.selector.type == "json" else "an HTML page"
    return f"accepted ({what})"


def _urls(response: TextResponse, selection: list[str]) -> str:
    shown = ", ".join(response.urljoin(h) for h in selection[:SHOWN_LINKS])
    more = f", ... ({len(selection)} in all)" if len(selection) > SHOWN_LINKS else ""
    return f"{len(selection)} found" + (f": {shown}{more}" if selection else "")


def _level_lines(
    spec: SourceSpec, level: LevelSpec, last: bool, response: TextResponse, page: Page
) -> Iterator[str]:
    """What the crawl would do on this page as a page of ``level``."""
    extractor = Extractor(spec)
    where = "item pages" if last else "the next level"
    cards = None
    if level.cards is not None:
        cards = select(level.cards, response.selector, page)
        yield f"      cards [{level.cards.text}]: {len(cards)} found"
        if level.links is None:
            yield f"        -> each card is a record ({len(cards)} records)"
    if level.links is not None:
        scopes = list(cards) if cards is not None else [response.selector]
        per_scope = 1 if cards is not None else None  # a card's first link, as the crawl
        links = [h for scope in scopes for h in hrefs(select(level.links, scope, page))[:per_scope]]
        yield f"      links [{level.links.text}] to {where}: {_urls(response, links)}"
        unique = {response.urljoin(h) for h in links}
        shared = len(links) - len(unique)
        if cards is not None and shared:
            yield (
                f"        -> {len(unique)} pages fetched, each joined to every card linking it "
                f"({shared} card(s) link a page another card links: one record per detail.key)"
            )
        elif shared:
            yield f"        -> {len(unique)} followed, {shared} skipped (duplicate)"
        if cards is not None and len(links) < len(cards):
            yield f"        -> {len(cards) - len(links)} cards have no link: skipped (no link)"
    if level.recurse is not None:
        deeper = hrefs(select(level.recurse, response.selector, page))
        yield (
            f"      recurse [{level.recurse.text}] into this level (max_recursion "
            f"{level.max_recursion}): {_urls(response, deeper)}"
        )
    if level.next_page is not None:
        nxt = hrefs(select(level.next_page, response.selector, page))
        yield f"      next_page [{level.next_page.text}]: {_urls(response, nxt)}"
    if level.pages is not None:
        pages = level.pages
        nxt_url = response.urljoin(pages.template.format(page=pages.first))
        line = f"      pages [{pages.template}]: page {pages.first} would be {nxt_url}"
        if pages.has_next is not None:
            flags = [m.get() for m in select(pages.has_next, response.selector, page)]
            line += f"; has_next [{pages.has_next.text}] is {flags[0] if flags else '(none)'}"
        yield line + " (stops at an empty page, no new item, or pages.max)"
    if cards and extractor.card:
        yield "      the first card's fields (from: card):"
        for field in extractor.card:
            for line in _field_lines(field, cards[0], response.url, page):
                yield "    " + line


def preview_lines(spec: SourceSpec, response: TextResponse) -> Iterator[str]:
    """The report of one page (see the module docstring), line by line."""
    extractor = Extractor(spec)
    url = response.url
    page = Page(response.selector, url)
    yield f"{url}  HTTP {response.status}, {response.encoding}: {page_verdict(spec, response)}"
    yield ""
    yield "fields on this page as an item page (from: page and from: url):"
    for field in extractor.page:
        yield from _field_lines(field, response.selector, url, page)
    graph = spec.graph
    if graph:
        yield ""
        yield "crawl levels on this page as a list page (what the crawl would follow):"
    for number, level in enumerate(graph):
        yield f"  level {level.name!r}:"
        try:
            yield from _level_lines(spec, level, number + 1 == len(graph), response, page)
        except WrongPageType as exc:
            yield f"      REJECTED: {exc}"


def run_preview(
    settings: Settings,
    args: argparse.Namespace,
    find_spec: Callable[[Settings, str], SourceSpec | None],
) -> int:
    """The ``preview`` command: the spec of ``--spec`` (a file) or ``--source``
    (``find_spec(settings, source)``, ``None`` after saying why), the page of ``--url``
    (rendered with Chromium when ``--render`` or the spec says so), then its report."""
    if args.spec:
        try:
            spec: SourceSpec | None = load_spec(args.spec)
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        spec = find_spec(settings, args.source)
    if spec is None:
        return 2
    try:
        response = fetch_page(args.url, settings.user_agent)
        if args.render or needs_rendering(spec, response):
            print(f"(rendered with Chromium: {spec.name}'s javascript settings say so)")
            response = render_page(spec, args.url, settings.user_agent)
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in preview_lines(spec, response):
        print(line)
    return 0
