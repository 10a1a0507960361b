"""Values written after a label inside one element: ``<p><b>City:</b> Berlin</p>``. No
element's whole text is the value (the ``<p>`` reads ``City: Berlin``), but the text node after
the label is; its candidates select that text node by the label before it:
``//b[normalize-space()='City:']/following-sibling::text()[1]`` (and with ``*`` for any tag).
Numbers, prices and dates inside a sentence (``Now only 12,99 EUR!``) need none of this: the
kinds' parsers read them from the element's whole text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harvest.learning.values import Key, ValueReader
from harvest.selection import _literal
from harvest.text import collapse_whitespace

MAX_LABEL = 40


def label_text_nodes(
    root: Any, reader: ValueReader, wanted: Key
) -> Iterator[tuple[str, dict[str, str]]]:
    """Candidates (how, selector) of the text nodes of ``root`` that follow a short label
    element and read as ``wanted``."""
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tail:
            continue
        if reader.read(element.tail) != wanted:
            continue
        label = collapse_whitespace(" ".join(element.xpath(".//text()")))
        if not label or len(label) > MAX_LABEL:
            continue
        literal = _literal(label)
        for tag in (element.tag, "*"):
            xpath = f"//{tag}[normalize-space()={literal}]/following-sibling::text()[1]"
            yield "label", {"xpath": xpath}
