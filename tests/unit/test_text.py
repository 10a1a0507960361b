"""Text helpers shared by every floor: whitespace, folding, yes/no words, URL redaction."""

from __future__ import annotations

import pandas as pd
import pytest

from harvest.text import FALSE_WORDS, TRUE_WORDS, collapse_whitespace, fold, redact_url, yes_no


def test_collapse_whitespace() -> None:
    assert collapse_whitespace("  a \n\t b ") == "a b"
    assert collapse_whitespace(" \n ") is None
    assert collapse_whitespace(None) is None
    assert collapse_whitespace(float("nan")) is None
    assert collapse_whitespace(pd.NA) is None
    assert collapse_whitespace(12) == "12"


def test_fold() -> None:
    assert fold("  Köln ") == "koln"
    assert fold("MÜNCHEN\u00a0Ost") == "munchen ost"
    assert fold("") is None


def test_yes_no_words() -> None:
    assert not TRUE_WORDS & FALSE_WORDS
    assert [yes_no(w) for w in (" Yes ", "JA", "✓", "no", "Nein", "-")] == [True] * 3 + [False] * 3
    assert yes_no("maybe") is None and yes_no(None) is None and yes_no("  ") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://harvest:p%40ss@db/warehouse", "postgresql://harvest:***@db/warehouse"),
        (
            "mongodb://u:pw@a:1,b:2/raw?authSource=admin",
            "mongodb://u:***@a:1,b:2/raw?authSource=admin",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:////tmp/w.db", "sqlite:////tmp/w.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected
