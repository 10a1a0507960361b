"""Selectors in a spec, checked when the spec loads: CSS, XPath, JMESPath and embedded metadata.

A selector of the crawl graph (``links``, ``cards``, ``next_page``, ``recurse``,
``pages.has_next``) is a CSS string, or a mapping with one of ``css``, ``xpath``,
``metadata`` (``json-ld`` or ``microdata``: the page's embedded metadata read by extruct, as a
JSON object keyed by ``@type``) and/or ``jmespath`` (read the JSON the first part selected: a
``<script>`` text, the metadata, or without a first part the JSON page or JSON card itself).
Every selector is compiled here (parsel's CSS translator, lxml's XPath compiler, jmespath's
parser), so a selector that does not compile, or is written in the other language, is a spec
error naming the field and the selector, never a failed page later.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

METADATA_SYNTAXES = ("json-ld", "microdata")
"""What ``metadata:`` reads (extruct's syntaxes), each as a JSON object keyed by ``@type``."""

_CSS_LOOKING = re.compile(r"^[A-Za-z*][\w-]*([.#\[:][^/]*)?(\s*[>+~ ]\s*[A-Za-z*.#][^/]*)*$")


def check_css(css: str) -> str:
    """``css`` when parsel can translate it (``::text`` and ``::attr(name)`` included); else a
    ``ValueError`` saying why, and when it looks like XPath, to put it under ``xpath:``."""
    from cssselect import SelectorError
    from parsel.csstranslator import HTMLTranslator

    try:
        HTMLTranslator().css_to_xpath(css)
    except SelectorError as exc:
        hint = ""
        if css.lstrip().startswith(("/", "(", "./")) or "@" in css.split("[")[0]:
            hint = "; it looks like XPath: write it as 'xpath: ...'"
        raise ValueError(f"css {css!r} is not a CSS selector ({exc}){hint}") from None
    return css


def check_xpath(xpath: str) -> str:
    """``xpath`` when lxml compiles it; else a ``ValueError``. An expression with no path, no
    attribute and no function call (``div.price``, ``h1 > a``) is refused as CSS written as
    XPath: lxml would accept it and it would match nothing."""
    from lxml import etree

    try:
        etree.XPath(xpath)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"xpath {xpath!r} is not an XPath expression ({exc})") from None
    stripped = xpath.strip()
    if stripped != "." and not any(c in stripped for c in "/@(") and _CSS_LOOKING.match(stripped):
        raise ValueError(
            f"xpath {xpath!r} looks like a CSS selector: write it as 'css: {stripped}' "
            f"(or as an XPath path such as '//{stripped.split()[0].split('.')[0]}')"
        )
    return xpath


def check_jmespath(expression: str) -> str:
    """``expression`` when jmespath parses it; else a ``ValueError`` with the parser's message."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        message = " ".join(str(exc).split())
        raise ValueError(
            f"jmespath {expression!r} is not a JMESPath expression ({message})"
        ) from None
    return expression


class SelectorSpec(BaseModel):
    """One selector: ``css`` or ``xpath`` or ``metadata``, then optionally ``jmespath`` on the
    JSON it selected; or ``jmespath`` alone (on a JSON page or a JSON card). A plain string in a
    spec is ``css``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    css: str | None = None
    xpath: str | None = None
    metadata: Literal["json-ld", "microdata"] | None = None
    jmespath: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _string_is_css(cls, value: Any) -> Any:
        return {"css": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _compiles(self) -> SelectorSpec:
        check_selector(self.css, self.xpath, self.metadata, self.jmespath)
        return self

    @property
    def text(self) -> str:
        """The selector as written, for messages: ``a.next`` (CSS alone, as a spec writes it),
        ``xpath: //a``, ``jmespath: next``."""
        if self.css is not None and self.jmespath is None:
            return self.css
        return describe(self.css, self.xpath, self.metadata, self.jmespath)


def check_selector(
    css: str | None, xpath: str | None, metadata: str | None, jmespath: str | None
) -> None:
    """Raise ``ValueError`` unless exactly one of css/xpath/metadata is given (jmespath may
    follow it), or jmespath alone; and every part compiles."""
    first = [k for k, v in (("css", css), ("xpath", xpath), ("metadata", metadata)) if v]
    if len(first) > 1:
        raise ValueError(f"give one of 'css', 'xpath' or 'metadata', not {' and '.join(first)}")
    if not first and not jmespath:
        raise ValueError("give a selector: 'css', 'xpath', 'metadata' or 'jmespath'")
    if metadata and not jmespath:
        raise ValueError(
            f"'metadata: {metadata}' needs a 'jmespath' into it (e.g. 'Product.name': the "
            "objects are keyed by their @type)"
        )
    if css is not None:
        check_css(css)
    if xpath is not None:
        check_xpath(xpath)
    if jmespath is not None:
        check_jmespath(jmespath)


def describe(css: str | None, xpath: str | None, metadata: str | None, jmespath: str | None) -> str:
    """A selector as written, for messages."""
    parts = [f"{k}: {v}" for k, v in (("css", css), ("xpath", xpath), ("metadata", metadata)) if v]
    if jmespath:
        parts.append(f"jmespath: {jmespath}")
    return ", then ".join(parts)
