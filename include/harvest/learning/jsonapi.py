"""A JSON API page drafted as a source (for ``harvest init``): its records are the objects of
its largest array, read with JMESPath (docs/cookbook/page-shapes.md, "A JSON API").

The cards: the array of objects with the most elements, found at most :data:`DEPTH` keys deep
(``products``, ``data.jobs``; the page itself when it is an array: ``@``). The fields, all
``from: card``: every scalar of the objects at most :data:`DEPTH` keys deep (``price.amount``,
named ``price_amount``) present in at least :data:`PRESENCE` of them, read through Harvest's own
extraction and typed by :func:`.guess.guess_kind`; the key: a field named like an id with a
different value on every card, else the first such field. The pagination: a string field whose
key names "next" (``next``, ``links.next``, ``next_page_url``) as ``next_page``; else a boolean
one naming "next" or "more" (``has_next``, ``data.has_more``) as ``pages`` with ``has_next``,
numbered by the start URL's page parameter (``page``, else a query parameter holding a number,
else ``page``), its other parameters kept (``?q=x&p={page}``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector

from harvest.config.selectors import SelectorSpec
from harvest.learning.draft import _KEY_NAME, Draft, spec_text
from harvest.learning.guess import guess_kind
from harvest.learning.itemfields import DraftField, field_values, snake
from harvest.selection import Page, select

DEPTH = 3
PRESENCE = 0.5
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PAGE_NAMES = ("page", "p", "pg", "page_number", "pageNumber")


def json_data(text: str) -> Any | None:
    """The JSON ``text`` holds when it is a JSON object or array, else ``None``."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _walk(value: Any, path: str, depth: int) -> Iterable[tuple[str, Any]]:
    """``(jmespath, value)`` of ``value`` and everything below it, at most ``depth`` keys deep
    (keys JMESPath can name bare only)."""
    yield path, value
    if depth and isinstance(value, dict):
        for key, inner in value.items():
            if _NAME.match(key):
                yield from _walk(inner, f"{path}.{key}" if path else key, depth - 1)


def _cards(data: Any) -> tuple[str, list[dict[str, Any]]] | None:
    best: tuple[str, list[dict[str, Any]]] | None = None
    for path, value in _walk(data, "", DEPTH):
        objects = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if objects and (best is None or len(value) > len(best[1])):
            best = (path or "@", value)
    return best


def _scalars(card: dict[str, Any]) -> Iterable[str]:
    for path, value in _walk(card, "", DEPTH):
        if path and isinstance(value, str | int | float):  # a bool too (an int)
            yield path


def _pagination(url: str, data: Any, cards: str) -> dict[str, Any]:
    """The level's ``next_page`` or ``pages`` keys (module docstring); ``{}`` when none."""
    flags = []
    for path, value in _walk(data, "", DEPTH):
        last = path.rsplit(".", 1)[-1].lower()
        if not path or path == cards or path.startswith(f"{cards}."):
            continue
        if "next" in last and isinstance(value, str) and value:
            return {"next_page": {"jmespath": path}}
        if ("next" in last or "more" in last) and isinstance(value, bool):
            flags.append(path)
    if not flags:
        return {}
    pairs = [[*p.split("=", 1), ""] for p in urlsplit(url).query.split("&") if p]
    query = {p[0]: p[1] for p in pairs}
    name = next((n for n in _PAGE_NAMES if n in query), None)
    name = name or next((n for n, v in query.items() if v.isdigit()), "page")
    kept = [f"{k}={v}" for k, v in query.items() if k != name]  # the other parameters stay
    template = "?" + "&".join([*kept, f"{name}={{page}}"])
    return {"pages": {"template": template, "has_next": {"jmespath": flags[0]}}}


def draft_api(
    url: str, body: str, *, name: str | None = None, today: dt.date | None = None
) -> Draft:
    """The spec of JSON page ``url`` (``body``): one level whose cards are its records (module
    docstring). ``ValueError`` when the page holds no array of objects."""
    data = json_data(body)
    found = _cards(data) if data is not None else None
    if found is None:
        raise ValueError(f"{url}: a JSON page without an array of objects to read records in")
    cards_path, objects = found
    selector = Selector(text=body, type="json")
    page = Page(selector, url)
    cards = list(select(SelectorSpec(jmespath=cards_path), selector, page))
    fields: list[DraftField] = []
    for path in dict.fromkeys(p for card in objects for p in _scalars(card)):
        keys = {"from": "card", "jmespath": path}
        values = field_values("card", keys, [(c, page) for c in cards])
        if values is None or sum(v is not None for v in values) < PRESENCE * len(cards):
            continue
        fields.append(
            DraftField(snake(path.replace(".", "_")), keys, "card", values, guess_kind(values))
        )
    if not fields:
        raise ValueError(f"{url}: the objects of {cards_path!r} hold no value to read")
    unique = [
        f.name for f in fields if None not in f.values and len(set(f.values)) == len(f.values)
    ]
    key = next((n for n in unique if _KEY_NAME.search(n)), unique[0] if unique else fields[0].name)
    level = {
        "name": "records",
        "cards": {"jmespath": cards_path},
        **_pagination(url, data, cards_path),
    }
    text, spec = spec_text(url, None, fields, name=name, today=today, key=key, levels=[level])
    notes = [f"a JSON page: each object of {cards_path!r} is a record ({len(cards)} on this page)"]
    if not unique:
        notes.append(f"no field differs on every record: the key {key} is a guess, check it")
    if len(level) == 2:
        notes.append("no next page or has_next flag found: only this page is read")
    return Draft(text, spec, fields, None, notes)
