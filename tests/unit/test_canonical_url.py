"""The crawl's URL canonicalisation (:func:`harvest.crawler.limits.canonical_url`): its shortcut
for a URL that is canonical already gives what w3lib's ``canonicalize_url`` gives, on URLs
generated to hit every edge (case, ports, dot segments, escapes, parameters, non-ASCII)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from w3lib.url import canonicalize_url, url_query_cleaner

from harvest.crawler.limits import already_canonical, canonical_url

LABEL = st.one_of(
    st.text("abz09-", min_size=1, max_size=6), st.sampled_from(["Ex", "é", "a_b", "", "x" * 64])
)
SEGMENT = st.one_of(
    st.text("abAZ09._~-", max_size=6),
    st.sampled_from([".", "..", "%41", "%2f", "a;jsessionid=1", "a b", "ü", "a:b", "a+b"]),
)
PORT = st.one_of(
    st.just(""),
    st.integers(1, 99999).map(lambda p: f":{p}"),
    st.sampled_from([":80", ":443", ":0", ":08000", ":"]),
)
URL = st.builds(
    lambda scheme, labels, port, path, tail: f"{scheme}://{'.'.join(labels)}{port}{path}{tail}",
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    st.lists(LABEL, min_size=1, max_size=3),
    PORT,
    st.one_of(st.just(""), st.lists(SEGMENT, max_size=4).map(lambda s: "/" + "/".join(s))),
    st.one_of(st.just(""), st.sampled_from(["?", "?b=2&a=1", "?sid=x", "#top", "?a=1#f"])),
)
# URLs of the shortcut's shape (some with dot segments, long labels or ports it leaves out)
PLAIN = st.builds(
    lambda scheme, labels, port, path: f"{scheme}://{'.'.join(labels)}{port}/{path}",
    st.sampled_from(["http", "https"]),
    st.lists(st.text("az09-", min_size=1, max_size=64), min_size=1, max_size=3),
    st.one_of(st.just(""), st.integers(1, 99999).map(lambda p: f":{p}")),
    st.lists(st.text("az09._~-", max_size=5), max_size=4).map("/".join),
)


def outcome(canonical: Any, url: str) -> str:
    """``canonical(url)``, or the name of the error it raised."""
    try:
        return str(canonical(url))
    except ValueError as exc:
        return type(exc).__name__


def w3lib_canonical(url: str, drop: list[str], keep_fragment: bool, encoding: str) -> str:
    """What canonical_url gave before its shortcut: w3lib's cleaner and canonicalize_url."""
    if drop and "?" in url:
        url = url_query_cleaner(url, drop, remove=True, keep_fragments=True)
    return canonicalize_url(url, keep_fragments=keep_fragment, encoding=encoding)


@settings(max_examples=500, deadline=None)
@given(st.one_of(URL, PLAIN), st.booleans(), st.sampled_from(["utf-8", "latin-1"]))
def test_the_shortcut_gives_what_w3lib_gives(url: str, keep: bool, encoding: str) -> None:
    if not already_canonical(url):
        expected = outcome(lambda u: w3lib_canonical(u, [], keep, encoding), url)
        assert outcome(lambda u: canonical_url(u, [], keep, encoding), url) == expected
        return
    assert w3lib_canonical(url, [], keep, encoding) == url
    assert w3lib_canonical(url, ["sid", "jsessionid"], keep, encoding) == url
    assert canonical_url(url, ["sid", "jsessionid"], keep, encoding) == url


def test_plain_links_take_the_shortcut_and_others_do_not() -> None:
    for url in (
        "http://127.0.0.1:58817/listing/L-20260301-0001",
        "https://shop.example/a/b.html",
        "http://h:65535/",
    ):
        assert already_canonical(url), url
    for url in (
        "http://Example.com/a",  # upper-case host
        "http://h",  # no path: w3lib adds "/"
        "http://h/a/../b",  # a dot segment
        "http://h/%41",  # an escape w3lib normalises
        "http://h/a?b=1",  # a query: sorted, parameters dropped
        "http://h/a#top",  # a fragment
        "http://h:0080/a",  # a port with a leading zero
        "http://h:65536/a",  # no port: w3lib raises ValueError
        "http://h/a;sid=1",  # a ;parameter
    ):
        assert not already_canonical(url), url
        assert outcome(canonical_url, url) == outcome(
            lambda u: w3lib_canonical(u, [], False, "utf-8"), url
        )
