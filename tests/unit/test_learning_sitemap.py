"""``harvest init`` on a sitemap (issue 24): the item URLs are the largest group of one path,
written as ``sitemap.follow``; an index's sitemaps are read. Hand-written XML, served from
memory (no network)."""

from __future__ import annotations

import re

from harvest.learning.itemfields import SamplePage
from harvest.scraping.draft_sitemap import item_pattern, page_urls, sitemap_kind
from harvest.scraping.preview import PreviewError

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(paths: list[str]) -> str:
    urls = "".join(f"<url><loc>http://s.test{p}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset {NS}>{urls}</urlset>'


class Pages:
    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages

    def get(self, url: str) -> SamplePage:
        if url not in self.pages:
            raise PreviewError(f"{url}: 404")
        return SamplePage(url, self.pages[url])


def test_an_index_s_sitemaps_give_the_item_urls_of_one_path() -> None:
    index = (
        f'<?xml version="1.0"?><sitemapindex {NS}>'
        "<sitemap><loc>http://s.test/a.xml</loc></sitemap>"
        "<sitemap><loc>http://s.test/gone.xml</loc></sitemap>"
        "<sitemap><loc>http://s.test/b.xml</loc></sitemap></sitemapindex>"
    )
    site = Pages({
        "http://s.test/a.xml": urlset(["/en/shoes/red-1", "/en/shoes/blue-2", "/contact"]),
        "http://s.test/b.xml": urlset(["/en/shoes/green-3", "/en/bags/tote", "/en/shoes/x-4"]),
    })  # fmt: skip
    start = SamplePage("http://s.test/sitemap.xml", index)
    assert sitemap_kind(start) == "sitemapindex"
    urls = page_urls(site, start)  # gone.xml fails: left out
    assert len(urls) == 6
    pattern = item_pattern(urls)
    assert pattern is not None
    assert [u for u in urls if re.search(pattern, u)] == [
        "http://s.test/en/shoes/red-1",
        "http://s.test/en/shoes/blue-2",
        "http://s.test/en/shoes/green-3",
        "http://s.test/en/shoes/x-4",
    ]


def test_html_is_no_sitemap_and_few_urls_are_no_items() -> None:
    assert sitemap_kind(SamplePage("http://s.test/", "<html><body>hi</body></html>")) is None
    assert item_pattern(["http://s.test/a/1", "http://s.test/b/2", "http://s.test/c"]) is None
