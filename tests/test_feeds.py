"""An Atom feed per language, with that language's metadata and articles."""

from __future__ import annotations

import feedparser
import pytest

from support import ARTICLE


@pytest.mark.parametrize(
    "prefix,locale,title,entry",
    [
        ("", "nl", "Kennisbank outsourcing & SSC: nieuwe artikelen", "Hoe klantgericht optreden bevorderen bij jullie outsourcing leverancier of SSC"),
        ("en/", "en", "Outsourcing & SSC Knowledge Base: new articles", "How to make your outsourcing provider or SSC more customer-focused"),
    ],
)
def test_each_language_has_its_own_feed(site, prefix, locale, title, entry):
    feed = feedparser.parse((site.site / prefix / "feed.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.language == locale
    assert feed.feed.title == title
    assert [e.title for e in feed.entries] == [entry]
    assert feed.entries[0].link == f"http://127.0.0.1:8000/{prefix}{ARTICLE}/"
    assert feed.entries[0].author == "Koos Overbeeke"
    assert feed.entries[0].published.startswith("2026-11-26")


@pytest.mark.parametrize("prefix,locale", [("", "nl"), ("en/", "en")])
def test_every_page_links_its_languages_feed(site, prefix, locale):
    from urllib.parse import urljoin

    pages = [p for p in site.pages() if p.relative_to(site.site).as_posix().startswith(prefix) and "404" not in p.name]
    if not prefix:
        pages = [p for p in pages if not p.relative_to(site.site).as_posix().startswith("en/")]
    assert len(pages) >= 5
    for page in pages:
        path = page.relative_to(site.site).as_posix()
        link = site.html(path).select_one('head link[rel=alternate][type="application/atom+xml"]')
        assert link is not None, path
        assert urljoin(f"http://site/{path}", link["href"]) == f"http://site/{prefix}feed.xml", path
