"""``python -m harvest preview``: one page through a spec, every field and link level shown.

The loop of writing a spec: fetch one page (through headless Chromium when the spec's
``javascript`` says the page needs it), then print for every field its selector, the strings it
matched, the value after ``regex``/``map``/``default`` and the parsed value or the reason it
failed; and for every level of the crawl graph the cards and links found on this page. It uses
the crawl's own extraction (:mod:`harvest.extract`) and the field kinds' parsers, so
what it shows is what a crawl would store.
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator

from parsel import Selector
from scrapy.http import HtmlResponse, TextResponse

from harvest.config.spec import SourceSpec
from harvest.extract import Extractor, FieldExtractor, FieldValue
from harvest.fields import field_kind
from harvest.parsers import Unparseable

SHOWN_LINKS = 3


class PreviewError(RuntimeError):
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
    cls = HtmlResponse if "html" in kind or "xml" not in kind else TextResponse
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
    return bool(js.marker and response.css(js.marker))


def _show(value: object) -> str:
    return repr(value) if value is not None else "(none)"


def _field_lines(extractor: FieldExtractor, selector: Selector, url: str) -> Iterator[str]:
    trace = extractor.trace(selector, url)
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


def preview_lines(spec: SourceSpec, response: TextResponse) -> Iterator[str]:
    """The report of one page (see the module docstring), line by line."""
    extractor = Extractor(spec)
    url = response.url
    yield f"{url}  HTTP {response.status}, {response.encoding}"
    yield ""
    yield "fields on this page as an item page (from: page and from: url):"
    for field in extractor.page:
        yield from _field_lines(field, response.selector, url)
    graph = spec.graph
    if graph:
        yield ""
        yield "crawl levels on this page as a list page:"
    for level in graph:
        yield f"  level {level.name!r}:"
        cards = response.css(level.cards) if level.cards else None
        if level.cards:
            yield f"      cards {level.cards!r}: {len(cards or [])} found"
        if level.links:
            scopes = list(cards) if cards is not None else [response.selector]
            per_scope = 1 if cards is not None else None  # a card's first link, as the crawl
            hrefs = [
                href
                for scope in scopes
                for link in scope.css(level.links)[:per_scope]
                if (href := link.attrib.get("href"))
            ]
            shown = ", ".join(response.urljoin(h) for h in hrefs[:SHOWN_LINKS])
            more = f", ... ({len(hrefs)} in all)" if len(hrefs) > SHOWN_LINKS else ""
            yield f"      links {level.links!r}: {len(hrefs)} found" + (
                f": {shown}{more}" if hrefs else ""
            )
        if level.next_page:
            nxt = [a.attrib.get("href") for a in response.css(level.next_page)[:1]]
            target = response.urljoin(nxt[0]) if nxt and nxt[0] else "(none)"
            yield f"      next_page {level.next_page!r}: {target}"
        if cards and extractor.card:
            yield "      the first card's fields (from: card):"
            for field in extractor.card:
                for line in _field_lines(field, cards[0], url):
                    yield "    " + line
