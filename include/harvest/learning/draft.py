"""A source spec drafted from one list page and a sample of its item pages (``harvest init``).

Pure: pages in, spec text out (the fetching, robots.txt and the browser are
:mod:`harvest.scraping.draft`'s). The list page's item links, cards and next page come from
:mod:`.listpage`; the item pages' fields from :mod:`.itemfields`, plus the title (learned from
the ``<title>`` text, its site name cut off) and the user's examples (``--example
price="1.200 €"``), both through the selectors-from-values learning
(:func:`harvest.learning.candidates.learn_field`): an example pins its field to the selector
that reads that value on the page showing it and reads a value on most other pages. The key is
a field named like an id whose values differ on every page, else the part of the item URL that
differs (``from: url``). A start URL without a date (the same URL every night, the site's
current items) is drafted ``mode: catalogue``, and a note says so. The spec written validates
against :class:`~harvest.config.spec.SourceSpec`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import yaml

from harvest.config.spec import FieldSpec, SourceSpec
from harvest.fields import field_kind
from harvest.learning.candidates import KnownPage, learn_field
from harvest.learning.cardfields import card_fields
from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import (
    DraftField,
    SamplePage,
    field_values,
    find_fields,
    parse_pages,
    snake,
)
from harvest.learning.listpage import ListStructure
from harvest.parsers import Unparseable
from harvest.text import fold

_KEY_NAME = re.compile(r"(^|_)(id|sku|ref|reference|code|upc|isbn|gtin\d*|mpn)$")
_TITLE_SEPARATORS = (" | ", " - ", " \u2013 ", " \u2014 ", " :: ", " · ")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Draft:
    """What ``init`` found: the spec's text and model, the fields, and notes for the user."""

    text: str
    spec: SourceSpec
    fields: list[DraftField]
    structure: ListStructure | None
    notes: list[str] = field(default_factory=list)
    upper: tuple[ListStructure, ...] = ()
    """The levels above the list level (categories), from the start page down."""


def site_titles(pages: Sequence[SamplePage]) -> list[str | None]:
    """Each page's ``<title>`` without the site name all titles end (or start) with."""
    titles = [
        (parse_pages([p])[0][0].xpath("normalize-space(//head/title)").get() or None) for p in pages
    ]
    shown = [t for t in titles if t]
    if len(shown) < 2:
        return [t.split(" | ")[0] if t else None for t in titles]
    suffix = os.path.commonprefix([t[::-1] for t in shown])[::-1]  # noqa: RUF071 (text)
    prefix = os.path.commonprefix(shown)  # noqa: RUF071 (text, not paths)
    out: list[str | None] = []
    for title in titles:
        if title is None:
            out.append(None)
            continue
        for separator in _TITLE_SEPARATORS:
            if separator in suffix:
                title = title[: len(title) - len(suffix) + suffix.index(separator)]
                break
            if separator in prefix:
                title = title[prefix.rindex(separator) + len(separator) :]
                break
        out.append(title.strip() or None)
    return out


def _stored(name: str, kind: str, options: Mapping[str, Any], text: str) -> dict[str, Any] | None:
    """The columns the warehouse would store for ``text`` read as ``kind`` (price: amount and
    currency), as :class:`~harvest.learning.candidates.KnownPage` values; ``None`` if unread."""
    spec_kind = field_kind(kind)
    parsed = spec_kind.parser(**options)(text)
    if parsed is None or isinstance(parsed, Unparseable):
        return None
    row = {name: spec_kind.value(parsed) if spec_kind.value is not None else parsed}
    for extra in spec_kind.extra_columns:
        if extra.value is not None:
            row[extra.column(name)] = extra.value(parsed)
    return row


def learned_field(
    name: str, pages: Sequence[SamplePage], known: Sequence[str | None], how: str
) -> DraftField | None:
    """Field ``name`` learned from known values (one per page, ``None``: not known there): the
    learned selector that agrees with them and reads a value on the most pages of the sample."""
    shown = [k for k in known if k]
    if not shown:
        return None
    guess = guess_kind(shown) if how == "example" else guess_kind([])
    rows = [_stored(name, guess.kind, guess.options, k) if k else None for k in known]
    if not any(rows):
        guess = guess_kind([])
        rows = [{name: k} if k else None for k in known]
    spec = FieldSpec.model_validate({"css": "body", "kind": guess.kind, **guess.options})
    known_pages = [KnownPage(p.url, p.html, row) for p, row in zip(pages, rows, strict=True) if row]
    parsed = parse_pages(pages)
    best: tuple[tuple[float, float], DraftField] | None = None
    for candidate in learn_field(name, spec, known_pages, keep=8):
        if candidate.agreed == 0:
            continue
        values = field_values(name, candidate.selector, parsed)
        if values is None:
            continue
        draft = DraftField(name, dict(candidate.selector), how, values, guess)
        score = (candidate.agreement, draft.presence)
        if best is None or score > best[0]:
            best = (score, draft)
    return best[1] if best else None


def heading_title(pages: Sequence[SamplePage], titles: Sequence[str | None]) -> DraftField | None:
    """``h1`` (or ``h2``) as the title when it reads the ``<title>``'s text on most pages (on
    pages without a ``<title>``: the one ``h1`` of every page, differing from page to page, or
    of the one page drafted):
    the plainest selector, before anything learned."""
    parsed = parse_pages(pages)
    known = [i for i, t in enumerate(titles) if t]
    for css in ("h1", "h2"):
        values = field_values("title", {"css": css}, parsed)
        if values is None:
            continue
        if known:
            agreed = sum(fold(values[i]) == fold(titles[i]) for i in known)
            if agreed >= 0.8 * len(known):
                return DraftField("title", {"css": css}, "title", values)
        elif css == "h1" and all(values) and len(set(values)) == len(values):
            return DraftField("title", {"css": css}, "title", values)
    return None


def _key(fields: list[DraftField], urls: Sequence[str]) -> tuple[str, dict[str, Any] | None]:
    """The key field's name, and its spec when it is a new field read from the URL."""
    for draft in fields:
        values = [v for v in draft.values if v]
        if (
            _KEY_NAME.search(draft.name)
            and len(values) == len(draft.values)
            and len(set(values)) == len(values)
        ):
            return draft.name, None
    paths = [urlsplit(u).path for u in urls]
    parts = [p.split("/") for p in paths]
    regex = None
    if len(parts) > 1 and len({len(p) for p in parts}) == 1:
        varying = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
        if varying:
            at = varying[-1] if len(varying) == 1 else varying[0]
            before = "/".join(parts[0][:at])
            ext = {re.sub(r"^.*?(\.[A-Za-z]{2,5})?$", r"\1", p[at]) for p in parts}  # 7.html
            end = re.escape(ext.pop()) if len(ext) == 1 and "" not in ext else ""
            regex = re.escape(before + "/") + (r"([^/?#]+?)" + end if end else r"([^/?#]+)")
    if regex is None:
        regex = r"^https?://[^/]+(/[^#]*)"
    return "item_id", {"from": "url", "regex": regex, "required": True}


def _card_key(fields: Sequence[DraftField], structure: ListStructure | None) -> str | None:
    """When the cards outnumber the item pages they link (quotes sharing an author's page): the
    card field named like an id with a different value on every card, else ``None``."""
    cards = [f for f in fields if f.how == "card"]
    if structure is None or not cards or len(cards[0].values) <= len(structure.item_urls):
        return None
    for draft in cards:
        if (
            _KEY_NAME.search(draft.name)
            and None not in draft.values
            and len(set(draft.values)) == len(draft.values)
        ):
            return draft.name
    return None


def _base_and_start(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    rest = url[len(base) :] or "/"
    return base, "{base_url}" + _ISO_DATE.sub("{date}", rest, count=1)


def _name(url: str) -> str:
    host = urlsplit(url).hostname or "source"
    labels = [p for p in host.split(".") if p not in ("www", "m")]
    core = labels[-2] if len(labels) >= 2 and not host.replace(".", "").isdigit() else host
    return snake(core) if core[0].isalpha() else "source_" + re.sub(r"\W+", "_", core)


def _field_lines(draft: DraftField, body: dict[str, Any]) -> str:
    example = next((v for v in draft.values if v), "")
    seen = sum(v is not None for v in draft.values)
    where = "cards" if draft.how == "card" else "pages"
    comment = f"    # {draft.how}, on {seen} of {len(draft.values)} {where}, e.g. {example!r}\n"
    dumped = yaml.safe_dump({draft.name: body}, sort_keys=False, allow_unicode=True, width=200)
    return comment + "".join(f"    {line}\n" for line in dumped.splitlines())


def _level(name: str, structure: ListStructure) -> dict[str, Any]:
    level: dict[str, Any] = {"name": "categories" if structure.recurse else name}
    if structure.recurse:
        level["recurse"] = structure.recurse
    if structure.cards:
        level["cards"] = structure.cards
    if structure.links:
        level["links"] = structure.links
    if structure.next_page:
        level["next_page"] = structure.next_page
    elif structure.pages:
        level["pages"] = {"template": structure.pages}
    if structure.scroll is not None:
        level["scroll"] = dict(structure.scroll)
    return level


def spec_text(
    url: str,
    structure: ListStructure | None,
    fields: list[DraftField],
    *,
    name: str | None = None,
    javascript: Mapping[str, Any] | None = None,
    item_urls: Sequence[str] = (),
    today: dt.date | None = None,
    upper: Sequence[ListStructure] = (),
    key: str | None = None,
    levels: Sequence[Mapping[str, Any]] | None = None,
    sitemap: Mapping[str, Any] | None = None,
) -> tuple[str, SourceSpec]:
    """The spec's YAML (with a comment per field: how it was found, on how many pages, a value
    seen) and the validated model. ``SpecError``-like ``ValueError`` when it does not validate
    (a bug of the draft: the message names the key). ``key``: the key field, else it is chosen
    among ``fields`` or read from the item URLs; ``levels``: the levels as written, instead of
    those of ``structure`` and ``upper`` (a JSON API's); ``sitemap``: ``url`` is a sitemap,
    the spec starts from it (``sitemap: {urls: [url], **sitemap}``) instead of start URLs."""
    today = today or dt.datetime.now(dt.UTC).date()
    base, start = _base_and_start(url)
    key, url_key = (
        (key, None)
        if key
        else _key(fields, item_urls or (structure.item_urls if structure else (url,)))
    )
    head: dict[str, Any] = {
        "name": name or _name(url),
        "description": f"Drafted by harvest init from {url} on {today}.",
        "base_url": base,
        "start_urls": [start],
        # yesterday: the night the first run (`make demo`'s default date) processes; Airflow
        # runs no task of a date before the DAG's start_date
        "start_date": (today - dt.timedelta(days=1)).isoformat(),
    }
    if "{date}" not in start:  # the same URL every night: the current items, seen night after night
        head["mode"] = "catalogue"
    if sitemap is not None:
        del head["start_urls"]
        head["sitemap"] = {"urls": [start], **sitemap}
    found = [*upper, structure] if structure is not None else []
    if levels:
        head["levels"] = [dict(level) for level in levels]
    elif found:
        head["levels"] = [
            _level(
                "list"
                if at == len(found) - 1
                else ("categories" if len(upper) == 1 else f"categories_{at + 1}"),
                level,
            )
            for at, level in enumerate(found)
        ]
    lines = [
        f"# Drafted by `harvest init {url}` on {today}: check every field with\n",
        "# `harvest preview --spec <this file> --url <an item page>` before adding the source.\n",
        yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=200),
        "detail:\n",
        f"  key: {key}\n",
        "  fields:\n",
    ]
    if url_key is not None:
        lines.append("    # the part of the item URL that differs from item to item\n")
        dumped = yaml.safe_dump({key: url_key}, sort_keys=False, width=200)
        lines += [f"    {line}\n" for line in dumped.splitlines()]
    for draft in fields:
        body = draft.spec()
        if draft.name == key:
            body["required"] = True
        lines.append(_field_lines(draft, body))
    if javascript:
        lines.append(yaml.safe_dump({"javascript": dict(javascript)}, sort_keys=False))
    text = "".join(lines)
    spec = SourceSpec.model_validate(yaml.safe_load(text))
    return text, spec


def draft_source(
    url: str,
    structure: ListStructure | None,
    pages: Sequence[SamplePage],
    *,
    examples: Mapping[str, str] | None = None,
    name: str | None = None,
    javascript: Mapping[str, Any] | None = None,
    today: dt.date | None = None,
    upper: Sequence[ListStructure] = (),
    list_page: SamplePage | None = None,
    sitemap: Mapping[str, Any] | None = None,
) -> Draft:
    """The spec drafted from list page ``url`` (its ``structure``; ``None``: ``url`` is an item
    page itself) and item pages ``pages`` (see the module docstring). ``examples``: field name
    -> a value shown on one of ``pages``; an example no page shows is a note, not an error;
    ``sitemap``: ``url`` is a sitemap (:func:`spec_text`)."""
    if not pages:
        raise ValueError(f"{url}: no item page to draft the fields from")
    notes: list[str] = []
    extra: list[DraftField] = []
    titles = site_titles(pages)
    title = heading_title(pages, titles) or learned_field("title", pages, titles, "title")
    if title is not None:
        extra.append(title)
    for field_name, value in (examples or {}).items():
        pinned = learned_field(snake(field_name), pages, [value] * len(pages), "example")
        if pinned is None:
            notes.append(
                f"example {field_name}={value!r}: no sampled item page shows this value "
                f"({len(pages)} pages); the field is left to the guesses"
            )
        else:
            extra.append(pinned)
    fields = find_fields(pages, extra)
    if structure is not None and structure.cards and structure.links and list_page is not None:
        fields += card_fields(
            list_page.url,
            list_page.html,
            structure.cards,
            structure.links,
            fields,
            [p.url for p in pages],
        )
    if (
        structure is not None
        and structure.bare_links is not None
        and not any(f.how == "card" for f in fields)
    ):  # no field read from the cards: the links alone, each item page one record
        structure = replace(structure, cards=None, links=structure.bare_links, bare_links=None)
    key = _card_key(fields, structure)
    if key is not None:
        notes.append(f"cards share item pages: each card is a record, keyed by its {key}")
    text, spec = spec_text(
        url,
        structure,
        fields,
        name=name,
        javascript=javascript,
        item_urls=[p.url for p in pages],
        today=today,
        upper=upper,
        key=key,
        sitemap=sitemap,
    )
    if spec.mode == "catalogue":
        notes.append(
            "mode: catalogue: the start URL carries no date, so each night's crawl reads the "
            "items shown then, mostly those of the nights before (mode: listings would warn "
            "looks_like_catalogue); set mode: listings if the page shows each item on one night "
            "only (docs/concepts/modes.md)"
        )
    for draft in fields:
        if draft.presence < 1:
            seen = sum(v is not None for v in draft.values)
            where = "cards" if draft.how == "card" else "pages"
            notes.append(
                f"field {draft.name}: a value on {seen} of {len(draft.values)} {where} only"
            )
    return Draft(text, spec, fields, structure, notes, tuple(upper))
