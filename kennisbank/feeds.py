"""An Atom feed per language, written by feedgen (no hand-made XML)."""

from __future__ import annotations

import datetime as dt
from typing import Callable, Sequence

from feedgen.feed import FeedGenerator

from .articles import Article, newest_first


def _moment(date: dt.date) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)


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
