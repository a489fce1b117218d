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


def test_a_language_feed_lists_only_its_own_languages_published_articles():
    import datetime as dt

    from kennisbank.articles import article_from
    from kennisbank.feeds import feed_path, language_feed
    from kennisbank.siteconfig import Language, SiteConfig

    site = SiteConfig(
        site_url="https://example.org/kb/",
        site_name="KB",
        languages=(Language("nl", "Nederlands", True, "KB", "Over.", "nl_NL"), Language("en", "English", False, "Knowledge base", "About.", "en_GB")),
        strings={"feed_title": {"nl": "{site}: nieuw", "en": "{site}: new"}},
        categories={"outsourcing": {"nl": "Uitbesteding", "en": "Outsourcing"}},
    )

    def article(name, locale, day, draft=False):
        meta = {"title": name, "description": "D", "author": "A", "date": dt.date(2026, 1, day), "categories": ["outsourcing"], "draft": draft}
        return article_from(f"artikelen/{name}.md", locale, f"{site.language('en').prefix}artikelen/{name}/", meta, "")

    articles = [article("older", "en", 1), article("copy", "nl", 3), article("draft", "en", 4, draft=True), article("newer", "en", 2)]
    feed = feedparser.parse(language_feed(articles, site, "en"))
    assert not feed.bozo, feed.bozo_exception
    assert feed_path(site, "en") == "en/feed.xml" and feed_path(site, "nl") == "feed.xml"
    assert (feed.feed.title, feed.feed.language) == ("Knowledge base: new", "en")
    assert [link.href for link in feed.feed.links] == ["https://example.org/kb/en/", "https://example.org/kb/en/feed.xml"]
    assert [entry.title for entry in feed.entries] == ["newer", "older"]
    assert feed.entries[0].link == "https://example.org/kb/en/artikelen/newer/"
    assert [tag.label for tag in feed.entries[0].tags] == ["Outsourcing"]
