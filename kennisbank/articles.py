"""Articles: Markdown pages under ``artikelen/`` with front matter, as a collection.

The build hook (``hooks/articles.py``) hands this module each article's file once
per language build (:func:`read_article` checks it), the options of every
``<!-- md:articles -->`` marker (:func:`list_options`) and the categories that need
a page (:func:`category_page`). The lists and bylines are theme partials
(``overrides/partials/kb-article-list.html``, ``kb-byline.html``) that the hook
renders with this module's :class:`Labels`. Nothing here imports MkDocs.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date
from markupsafe import Markup

from .siteconfig import SiteConfig
from .translations import FrontMatterError, front_matter, split_locale

ARTICLE_FOLDER = "artikelen/"
#: Where the build generates a page per category (not articles themselves).
CATEGORY_FOLDER = "artikelen/categorie"
WORDS_PER_MINUTE = 200
_NOT_READ = re.compile(r"<!--.*?-->|<[^>]+>|\{[^}]*\}", re.S)
_WORD = re.compile(r"\w+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!])")  # Python-Markdown's backslash escapes

#: field -> what it must hold, for the error message
REQUIRED_FIELDS: dict[str, str] = {
    "title": "the article's title",
    "description": "a summary of one or two sentences (index pages, feeds, search engines)",
    "date": "the publication date as YYYY-MM-DD",
    "author": "the author's name",
}

#: ``<!-- md:articles category=… limit=… level=… -->`` in a page's HTML. Python-Markdown
#: keeps the comment as it is, and escapes it inside code, where it stays text.
MARKER = re.compile(r"<!--\s*md:articles\b(?P<options>.*?)-->", re.DOTALL)
LIST_OPTIONS = "category=<id>, limit=<number>, per_page=<number> and level=<2|3|4> (the heading level of the titles)"
#: a list without limit= shows this many articles a page, then links to the next page
PER_PAGE = 20
#: where the further pages of a page's list are: artikelen/page/2/
PAGE_FOLDER = "page"


class ArticleError(ValueError):
    """An article or an article list the build cannot make; the message says what and the fix."""


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
    return source_path.startswith(ARTICLE_FOLDER) and not source_path.startswith(CATEGORY_FOLDER + "/") and not source_path.endswith("index.md")


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
                problems.append(f"unknown category '{category}': use one of {', '.join(known)}, or add it with its names to extra.categories in mkdocs.yml")
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


def is_article_file(src_uri: str, locales: Sequence[str]) -> bool:
    """``src_uri`` (a file under docs/, ``artikelen/x.nl.md``) is an article in one of ``locales``."""
    return is_article(split_locale(src_uri, locales)[0])


def read_article(src_uri: str, url: str, text: str, site: SiteConfig) -> Article:
    """The article in file ``src_uri`` with content ``text``, checked against
    :data:`REQUIRED_FIELDS` and the site's categories. It is written in the language
    of its suffix, or the default language's without one. :class:`ArticleError` lists every problem."""
    return _read_article(src_uri, url, text, tuple(site.locales), site.default_language.locale, tuple(sorted(site.categories)))


@functools.lru_cache(maxsize=8192)
def _read_article(src_uri: str, url: str, text: str, locales: tuple[str, ...], default: str, categories: tuple[str, ...]) -> Article:
    """:func:`read_article`, kept by everything it depends on: ``make dev`` rebuilds after
    every save and reads every article again, and parsing their YAML front matter was
    about a third of a rebuild at 1,000 articles. An Article is immutable; an
    :class:`ArticleError` is not kept (a broken file is parsed again, and reported)."""
    path, written_in = split_locale(src_uri, locales)
    try:
        meta, markdown = front_matter(text)
    except FrontMatterError as exc:
        raise ArticleError(str(exc)) from None
    problems = front_matter_problems(meta, categories)
    if problems:
        raise ArticleError("; ".join(problems))
    return article_from(path, written_in or default, url, meta, markdown)


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
    def of(cls, site: Any, locale: str) -> Labels:
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


# Lists and category pages


@dataclass(frozen=True)
class ListOptions:
    """What one ``<!-- md:articles -->`` marker asks for."""

    category: str | None = None
    limit: int | None = None
    level: int = 2
    per_page: int = PER_PAGE

    @property
    def paginated(self) -> bool:
        """A list without ``limit=`` lists every article, ``per_page`` a page."""
        return self.limit is None

    def select(self, articles: Sequence[Article]) -> list[Article]:
        """The articles of the list, in the order given (newest first)."""
        chosen = [article for article in articles if self.category is None or self.category in article.categories]
        return chosen if self.limit is None else chosen[: self.limit]


def list_options(text: str, page: str, categories: Iterable[str]) -> ListOptions:
    """The options of the marker ``<!-- md:articles{text} -->`` on ``page``, checked.

    :class:`ArticleError` names the page, the marker, the bad option and the fix."""
    marker = " ".join(["<!-- md:articles", *text.split(), "-->"])
    options: dict[str, str] = {}
    for option in text.split():
        name, _, value = option.partition("=")
        problem = _option_problem(name, value, options, sorted(categories))
        if problem:
            raise ArticleError(f"{page}: {marker}: {problem}")
        options[name] = value
    limit = options.get("limit")
    if limit and "per_page" in options:
        raise ArticleError(
            f"{page}: {marker}: limit= and per_page= exclude each other. Fix: limit=<n> for the first n articles, or per_page=<n> for every article, n a page"
        )
    return ListOptions(options.get("category"), int(limit) if limit else None, int(options.get("level", 2)), int(options.get("per_page", PER_PAGE)))


def _option_problem(name: str, value: str, seen: Mapping[str, str], categories: Sequence[str]) -> str | None:
    """What is wrong with the option ``name=value`` (``seen``: the options before it), with its fix; ``None`` if nothing."""
    if not value or name not in ("category", "limit", "level", "per_page"):
        return f"'{name}{'=' + value if value else ''}' is not an option. Fix: use {LIST_OPTIONS}"
    if name in seen:
        return f"{name} is given twice. Fix: give each option once"
    if name == "category" and value not in categories:
        return f"unknown category '{value}'. Fix: use one of {', '.join(categories)}, or add it with its names to extra.categories in mkdocs.yml"
    if name in ("limit", "per_page") and not (value.isascii() and value.isdigit() and int(value) > 0):
        return f"{name}={value} is not a number above 0. Fix: {name}=<number>, such as {name}=5"
    if name == "level" and value not in ("2", "3", "4"):
        return f"level={value} is not 2, 3 or 4. Fix: level=<2|3|4>, the heading level of the titles under the page's own headings"
    return None


def markers(markdown: str) -> list[str]:
    """The options text of every ``<!-- md:articles -->`` marker in a page's Markdown source."""
    return [match["options"] for match in MARKER.finditer(markdown)]


@dataclass(frozen=True)
class Pagination:
    """Page ``number`` of ``pages`` of one page's article list, whose first page is at ``url``."""

    url: str
    """Site-relative URL of the first page: ``artikelen/``, ``en/artikelen/categorie/x/``."""
    number: int
    pages: int

    def url_of(self, number: int) -> str:
        """Page 1 is the page itself; the others are ``<url>page/<n>/``."""
        return self.url if number == 1 else f"{self.url}{PAGE_FOLDER}/{number}/"

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    def window(self, articles: Sequence[Article], per_page: int) -> Sequence[Article]:
        """The articles on this page."""
        return articles[(self.number - 1) * per_page : self.number * per_page]


def page_count(articles: int, per_page: int) -> int:
    """How many pages a list of ``articles`` takes: at least one (that says there are none)."""
    return max(1, math.ceil(articles / per_page))


def paginated_list(markdown: str, page: str, categories: Iterable[str]) -> ListOptions | None:
    """The one list of a page's Markdown that is paginated, if it has one.

    :class:`ArticleError` if it has two: a page has one set of page links."""
    found = [options for options in (list_options(text, page, categories) for text in markers(markdown)) if options.paginated]
    if len(found) > 1:
        raise ArticleError(f"{page}: {len(found)} article lists without limit=, each would need its own pages. Fix: give all lists but one a limit=<number>")
    return found[0] if found else None


def page_title(title: str, pagination: Pagination, labels: Labels) -> str:
    """The title of a further page: ``Artikelen, pagina 2 van 3``."""
    return labels.s("pagination_title", title=title, page=pagination.number, pages=pagination.pages)


def categories_in(articles: Iterable[Article]) -> list[str]:
    """The categories that at least one of ``articles`` is in: each gets a page."""
    return sorted({category for article in articles for category in article.categories})


def category_url(category: str, prefix: str = "") -> str:
    """The site-relative URL of a category's page in the language with URL ``prefix``."""
    return f"{prefix}{CATEGORY_FOLDER}/{category}/"


def category_page(category: str, labels: Labels) -> str:
    """The Markdown of the page that lists one category's articles in ``labels``' language.
    The front matter is written by YAML itself, so any name (quotes, colons) stays one value."""
    name = labels.category(category)
    title = labels.s("category_title", category=name)
    meta = {"title": title, "description": labels.s("category_description", category=name)}
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=float("inf"))
    return f"---\n{front}---\n\n# {_markdown_text(title)}\n\n<!-- md:articles category={category} -->\n"


def _markdown_text(text: str) -> str:
    """``text`` as Markdown that shows it as it is: no emphasis, links, attribute lists or HTML."""
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", text), quote=False)
