"""Small text helpers every floor uses: whitespace, comparison folding, yes/no words, URL redaction.

Standard library only: config, the parsers and the scraper import this module at DAG parse time.
"""

from __future__ import annotations

import sys
import unicodedata
from urllib.parse import urlsplit, urlunsplit

TRUE_WORDS = frozenset({"yes", "y", "true", "1", "ja", "oui", "si", "✓", "x"})
"""Lower-case words read as ``True`` (English, German, French, Italian/Spanish, ticks)."""
FALSE_WORDS = frozenset({"no", "n", "false", "0", "nein", "non", "-", "✗"})
"""Lower-case words read as ``False``."""


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
