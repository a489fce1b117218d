"""MkDocs hook: articles as a collection, per language.

Per language build it reads every article's front matter once (``on_files``),
leaves drafts out unless ``KENNISBANK_DRAFTS=1`` (``make dev``), adds a page per
category, replaces ``<!-- md:articles -->`` markers with the list (newest first;
``category=<id>`` and ``limit=<n>`` narrow it, ``level=3`` sets the titles'
heading level), puts the author line under each
article's title, and writes the language's Atom feed (``feed.xml`` at the
language's root). The rules and markup live in ``kennisbank.articles`` and
``kennisbank.feeds``; articles stay out of the navigation, so a build grows
linearly with the number of articles.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

from kennisbank.articles import CATEGORY_FOLDER, Labels, article_from, front_matter_problems, is_article, newest_first, render_byline, render_list
from kennisbank.feeds import atom_feed
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import FrontMatterError, front_matter, split_locale

MARKER = re.compile(r"<!--\s*md:articles(?P<options>(?:\s+\w+=[\w-]+)*)\s*-->")

_state: dict = {}


# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    language = site.language(locale)
    _state.update(
        site=site,
        locale=locale,
        language=language,
        labels=Labels.of(site, locale),
        drafts=os.environ.get("KENNISBANK_DRAFTS") == "1",
    )


@event_priority(-110)  # after mkdocs-static-i18n has chosen this language's files
def on_files(files, config):
    site = _state["site"]
    articles = []
    for file in list(files.documentation_pages()):
        path, file_locale = split_locale(file.src_uri, site.locales)
        if not is_article(path):
            continue
        try:
            meta, markdown = front_matter(file.content_string)
        except FrontMatterError as exc:
            raise PluginError(f"docs/{file.src_uri}: {exc}") from None
        problems = front_matter_problems(meta, site.categories)
        if problems:
            raise PluginError(f"docs/{file.src_uri}: " + "; ".join(problems))
        article = article_from(path, file_locale or site.default_language.locale, file.url, meta, markdown)
        if article.draft and not _state["drafts"]:
            files.remove(file)
            continue
        articles.append(article)
    _state["articles"] = newest_first(articles)
    _state["by_path"] = {article.path: article for article in articles}
    for category in sorted({c for article in articles for c in article.categories}):
        files.append(_category_page(category, config))
    return files


def on_page_content(html, page, config, files):
    if "md:articles" in html:
        html = MARKER.sub(lambda match: _list(match["options"], page), html)
    article = _state["by_path"].get(split_locale(page.file.src_uri, _state["site"].locales)[0])
    if article is not None:
        byline = render_byline(article, _state["labels"], lambda c: _category_url(c, page))
        html = html.replace("</h1>", f"</h1>\n{byline}", 1)
    return html


def on_page_context(context, page, config, nav):
    """``feed``: this language's feed, for ``<link rel="alternate">`` in every page's head."""
    language = _state["language"]
    context["feed"] = {
        "url": get_relative_url(f"{language.prefix}feed.xml", page.url),
        "title": _state["site"].string("feed_title", language.locale, site=language.site_name),
    }
    return context


def on_post_build(config):
    site, language = _state["site"], _state["language"]
    own = [a for a in _state["articles"] if a.locale == language.locale and not a.draft]
    home = site.site_url + language.prefix
    feed = atom_feed(
        own,
        locale=language.locale,
        title=site.string("feed_title", language.locale, site=language.site_name),
        subtitle=language.site_description,
        home_url=home,
        feed_url=home + "feed.xml",
        absolute=lambda article: site.site_url + article.url,
        category_name=_state["labels"].category,
    )
    target = Path(config.site_dir) / language.prefix / "feed.xml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(feed)


# Helper functions


def _category_page(category: str, config) -> File:
    """A generated page listing one category's articles in this build's language."""
    labels, prefix, locale = _state["labels"], _state["language"].prefix, _state["locale"]
    name = labels.category(category)
    content = (
        "---\n"
        f"title: {labels.s('category_title', category=name)!r}\n"
        f"description: {labels.s('category_description', category=name)!r}\n"
        "---\n\n"
        f"# {labels.s('category_title', category=name)}\n\n"
        f"<!-- md:articles category={category} -->\n"
    )
    file = File.generated(config, f"{CATEGORY_FOLDER}/{category}.md", content=content)
    file.dest_uri = f"{prefix}{CATEGORY_FOLDER}/{category}/index.html"
    file.url = f"{prefix}{CATEGORY_FOLDER}/{category}/"
    # what mkdocs-static-i18n expects of its files (the language switcher reads alternates)
    file.locale = file.localization = file.locale_alternate_of = locale
    file.norm_src_uri = file.src_uri
    file.alternates = {}
    for language in _state["site"].languages:
        twin = File.generated(config, file.src_uri, content="")
        twin.url = f"{language.prefix}{CATEGORY_FOLDER}/{category}/"
        file.alternates[language.locale] = twin
    return file


def _category_url(category: str, page) -> str:
    return get_relative_url(f"{_state['language'].prefix}{CATEGORY_FOLDER}/{category}/", page.url)


def _list(options: str, page) -> str:
    settings = dict(option.split("=", 1) for option in options.split())
    unknown = set(settings) - {"category", "limit", "level"}
    if unknown or not settings.get("limit", "1").isdigit() or settings.get("level", "2") not in ("2", "3", "4"):
        raise PluginError(
            f"docs/{page.file.src_uri}: <!-- md:articles{options} -->: unknown or malformed option. "
            "Fix: use category=<id>, limit=<number> and level=<2|3|4> (the heading level of the titles)"
        )
    articles = _state["articles"]
    if "category" in settings:
        articles = [a for a in articles if settings["category"] in a.categories]
    if "limit" in settings:
        articles = articles[: int(settings["limit"])]
    return render_list(
        articles,
        _state["labels"],
        int(settings.get("level", 2)),
        lambda article: get_relative_url(article.url, page.url),
        lambda category: _category_url(category, page),
    )
