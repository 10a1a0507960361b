"""Small text helpers every floor uses: the stored form of text, whitespace, comparison folding,
yes/no words, URL redaction.

Standard library only: config, the parsers and the scraper import this module at DAG parse time.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

TRUE_WORDS = frozenset({"yes", "y", "true", "1", "ja", "oui", "si", "✓", "x"})
"""Lower-case words read as ``True`` (English, German, French, Italian/Spanish, ticks)."""
FALSE_WORDS = frozenset({"no", "n", "false", "0", "nein", "non", "-", "✗"})
"""Lower-case words read as ``False``."""


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class TextRepairs:
    """How many values :func:`normalise_text` changed, per repair: ``nul_removed`` (held U+0000),
    ``surrogates_repaired`` (held surrogate code points), ``recomposed`` (were not NFC)."""

    counts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, int]:
        """The non-zero counts, e.g. ``{"nul_removed": 2}``."""
        return {name: n for name, n in self.counts.items() if n}

    @property
    def suspicious(self) -> int:
        """Values that held what no page should (NUL, surrogates); NFC recomposition is normal."""
        return self.counts["nul_removed"] + self.counts["surrogates_repaired"]

    def describe(self) -> str:
        """``2 value(s) held NUL (removed), 1 held surrogates (U+FFFD)``, for logs."""
        return (
            f"{self.counts['nul_removed']} value(s) held NUL (removed), "
            f"{self.counts['surrogates_repaired']} held surrogates (joined, or U+FFFD when lone), "
            f"{self.counts['recomposed']} were recomposed to NFC"
        )


def normalise_text(value: str, repairs: TextRepairs | None = None) -> str:
    """The one stored form of a text, the same on every warehouse backend: surrogate code points
    joined into their character when they form a pair, else replaced by U+FFFD (they cannot be
    encoded as UTF-8); NUL (U+0000) removed (PostgreSQL text cannot hold it); Unicode NFC (an
    accent typed decomposed is the same text). Nothing else changes: whitespace, control
    characters and quotes are kept. Each change is counted in ``repairs``; idempotent."""
    text = value
    if "\x00" in text:  # first: a NUL between a letter and its accent would block composing
        text = text.replace("\x00", "")
        if repairs is not None:
            repairs.counts["nul_removed"] += 1
    if text.isascii():
        return text
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        if repairs is not None:
            repairs.counts["surrogates_repaired"] += 1
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
        if repairs is not None:
            repairs.counts["recomposed"] += 1
    return text


def collapse_whitespace(value: object) -> str | None:
    """``value`` as text, trimmed, with every run of whitespace made one space; ``None`` for
    ``None``, NaN, ``pd.NA`` and blank text (a missing value)."""
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    pandas = sys.modules.get("pandas")  # a value can only be pd.NA once pandas is loaded
    if pandas is not None and value is pandas.NA:
        return None
    text = " ".join(str(value).split())
    return text or None


def fold(value: object) -> str | None:
    """The comparison form of a text: collapsed, case-folded, accents removed (``Köln`` -> ``koln``)."""
    text = collapse_whitespace(value)
    if text is None:
        return None
    # compatibility forms first (math letters, ligatures), then case: casefold then NFKD again,
    # since folding can produce new decomposable characters; idempotent by construction
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(folded.split()) or None


def yes_no(value: str | None) -> bool | None:
    """``True``/``False`` for a yes/no word (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`, any case),
    ``None`` for anything else."""
    text = collapse_whitespace(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (``redis://u:***@host/0``), for logs and
    error messages; a URL without a password comes back unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
