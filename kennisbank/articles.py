"""Articles: Markdown pages under ``artikelen/`` with front matter, as a collection.

The build hook (``hooks/articles.py``) reads each article's front matter once per
language build, checks it here, and asks this module for the lists, bylines and
feeds. Nothing here imports MkDocs.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from babel import Locale
from babel.dates import format_date
from markupsafe import Markup

from .templating import templates

ARTICLE_FOLDER = "artikelen/"
#: Where the build generates a page per category (not articles themselves).
CATEGORY_FOLDER = "artikelen/categorie"
WORDS_PER_MINUTE = 200
_NOT_READ = re.compile(r"<!--.*?-->|<[^>]+>|\{[^}]*\}", re.S)
_WORD = re.compile(r"\w+")

#: field -> what it must hold, for the error message
REQUIRED_FIELDS: dict[str, str] = {
    "title": "the article's title",
    "description": "a summary of one or two sentences (index pages, feeds, search engines)",
    "date": "the publication date as YYYY-MM-DD",
    "author": "the author's name",
}



@dataclass(frozen=True)
class Article:
    path: str
    """Source path under docs/ without language suffix: ``artikelen/x.md``."""
    locale: str
    """The language the text is written in."""
    url: str
    """Site-relative URL, ``artikelen/x/`` or ``en/artikelen/x/``."""
    title: str
    summary: str
    author: str
    date: dt.date
    updated: dt.date | None
    categories: tuple[str, ...]
    words: int
    draft: bool = False

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.words / WORDS_PER_MINUTE))

    @property
    def modified(self) -> dt.date:
        return self.updated or self.date


def is_article(source_path: str) -> bool:
    """``source_path`` is a page path under docs/ without language suffix."""
    return (
        source_path.startswith(ARTICLE_FOLDER)
        and not source_path.startswith(CATEGORY_FOLDER + "/")
        and not source_path.endswith("index.md")
    )


def front_matter_problems(meta: Mapping[str, Any], categories: Iterable[str] | None = None) -> list[str]:
    """What is missing or malformed in an article's front matter, each with its fix."""
    problems = []
    for field, meaning in REQUIRED_FIELDS.items():
        if meta.get(field) in (None, ""):
            problems.append(f"front matter field '{field}' is missing: add {field}: <{meaning}>")
    for field in ("date", "updated"):
        value = meta.get(field)
        if value not in (None, "") and not isinstance(value, dt.date):
            problems.append(f"front matter field '{field}' is {value!r}, not a date: write it as YYYY-MM-DD")
    listed = meta.get("categories", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        problems.append("front matter field 'categories' must be a list of category ids: categories: [outsourcing]")
    elif categories is not None:
        known = sorted(categories)
        for category in listed:
            if category not in known:
                problems.append(
                    f"unknown category '{category}': use one of {', '.join(known)}, "
                    "or add it with its names to extra.categories in mkdocs.yml"
                )
    if "draft" in meta and not isinstance(meta["draft"], bool):
        problems.append("front matter field 'draft' must be true or false")
    return problems


def count_words(markdown: str) -> int:
    """Words a reader reads: Markdown without HTML comments, tags and attribute lists."""
    return len(_WORD.findall(_NOT_READ.sub(" ", markdown)))


def article_from(path: str, locale: str, url: str, meta: Mapping[str, Any], markdown: str) -> Article:
    """An article from its checked front matter (see :func:`front_matter_problems`)."""
    return Article(
        path=path,
        locale=locale,
        url=url,
        title=str(meta["title"]),
        summary=" ".join(str(meta["description"]).split()),
        author=str(meta["author"]),
        date=meta["date"],
        updated=meta.get("updated"),
        categories=tuple(meta.get("categories") or ()),
        words=count_words(markdown),
        draft=bool(meta.get("draft", False)),
    )


def newest_first(articles: Iterable[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: (a.date, a.title), reverse=True)


@functools.lru_cache(maxsize=4096)
def long_date(date: dt.date, region: str) -> str:
    """``26 november 2026`` / ``26 November 2026``, by Babel, in the regional locale."""
    return format_date(date, format="long", locale=region)


def language_name(of_locale: str, in_locale: str) -> str:
    """The name of language ``of_locale`` in language ``in_locale``: ``("nl", "en")`` -> ``Dutch``."""
    return Locale.parse(in_locale).languages.get(of_locale, of_locale)


# Rendering


@dataclass(frozen=True)
class Labels:
    """What the templates need of the site's configuration for one language."""

    locale: str
    region: str
    strings: Mapping[str, Mapping[str, str]]
    categories: Mapping[str, Mapping[str, str]]

    def s(self, key: str, **values: object) -> str:
        return self.strings[key][self.locale].format(**values)

    @classmethod
    def of(cls, site: Any, locale: str) -> "Labels":
        """The labels of ``locale`` from the site configuration (``kennisbank.siteconfig.SiteConfig``)."""
        return cls(locale, site.language(locale).region, site.strings, site.categories)

    def html(self, key: str, **values: object) -> Markup:
        """A string as HTML: its text escaped, values escaped unless they are Markup."""
        return Markup.escape(self.strings[key][self.locale]).format(**values)

    def time(self, date: dt.date) -> Markup:
        return Markup('<time datetime="{}">{}</time>').format(date.isoformat(), self.date(date))

    def category(self, category_id: str) -> str:
        return self.categories[category_id][self.locale]

    def date(self, date: dt.date) -> str:
        return long_date(date, self.region)

    def language(self, locale: str) -> str:
        return language_name(locale, self.locale)


def render_list(articles: Sequence[Article], labels: Labels, level: int, link: Any, category_link: Any) -> Markup:
    """The article list with titles as ``<h{level}>``; ``link(article)`` and
    ``category_link(id)`` give relative URLs."""
    template = templates.get_template("articles/list.html")
    return Markup(template.render(articles=articles, l=labels, level=level, link=link, category_link=category_link))


def render_byline(article: Article, labels: Labels, category_link: Any) -> Markup:
    template = templates.get_template("articles/byline.html")
    return Markup(template.render(article=article, l=labels, category_link=category_link))

