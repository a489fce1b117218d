"""An Atom feed per language, written by feedgen (no hand-made XML).

Each language has its own feed at its root (``feed.xml``, ``en/feed.xml``), linked
from the head of every page of that language, listing the articles written in that
language; a fallback copy of another language's article is not in it, nor a draft.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from feedgen.feed import FeedGenerator

from .articles import Article, Labels, newest_first
from .siteconfig import SiteConfig

FEED_FILE = "feed.xml"


def _moment(date: dt.date) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)


def atom_feed(
    articles: Sequence[Article],
    *,
    locale: str,
    title: str,
    subtitle: str,
    home_url: str,
    feed_url: str,
    absolute: Callable[[Article], str],
    category_name: Callable[[str], str],
) -> bytes:
    """The Atom document for ``articles`` (all in ``locale``), newest first."""
    feed = FeedGenerator()
    feed.id(home_url)
    feed.title(title)
    feed.subtitle(subtitle)
    feed.language(locale)
    feed.link(href=home_url, rel="alternate", type="text/html")
    feed.link(href=feed_url, rel="self", type="application/atom+xml")
    ordered = newest_first(articles)
    feed.updated(_moment(max((a.modified for a in ordered), default=dt.date(2026, 1, 1))))
    for article in ordered:
        entry = feed.add_entry(order="append")
        url = absolute(article)
        entry.id(url)
        entry.title(article.title)
        entry.link(href=url, rel="alternate", type="text/html")
        entry.summary(article.summary)
        entry.author({"name": article.author})
        entry.published(_moment(article.date))
        entry.updated(_moment(article.modified))
        for category in article.categories:
            entry.category(term=category, label=category_name(category))
    return feed.atom_str(pretty=True)


def feed_path(site: SiteConfig, locale: str) -> str:
    """Where ``locale``'s feed is, relative to the site's root: ``"en/feed.xml"``."""
    return site.language(locale).prefix + FEED_FILE


def feed_title(site: SiteConfig, locale: str) -> str:
    return site.string("feed_title", locale, site=site.language(locale).site_name)


def language_feed(articles: Sequence[Article], site: SiteConfig, locale: str) -> bytes:
    """``locale``'s feed, of those ``articles`` that are written in ``locale`` and are no draft."""
    language = site.language(locale)
    return atom_feed(
        [article for article in articles if article.locale == locale and not article.draft],
        locale=locale,
        title=feed_title(site, locale),
        subtitle=language.site_description,
        home_url=site.site_url + language.prefix,
        feed_url=site.site_url + feed_path(site, locale),
        absolute=lambda article: site.site_url + article.url,
        category_name=Labels.of(site, locale).category,
    )
