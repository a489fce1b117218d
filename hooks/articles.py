"""MkDocs hook: articles as a collection, per language.

Per language build it reads every article once (``on_files``), leaves drafts out
unless ``KENNISBANK_DRAFTS=1`` (``make dev``), adds a page per category, replaces
``<!-- md:articles -->`` markers with the list (``overrides/partials/kb-article-list.html``;
``category=<id>`` and ``limit=<n>`` narrow it, ``level=3`` sets the titles' heading
level), splits a list without ``limit=`` into pages of ``per_page`` articles (20 by
default: ``artikelen/``, ``artikelen/page/2/``, …; category pages the same), each
generated page with the language versions, sitemap entry and ``rel=prev/next`` links
every page has, puts the author line under each article's title (``kb-byline.html``) and
writes the language's Atom feed (``feed.xml`` at the language's root). What an
article must say, what a marker may ask for, what a category page says and what a
feed lists is decided in ``kennisbank.articles`` and ``kennisbank.feeds``. Articles
stay out of the navigation, so a build grows linearly with the number of articles.
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

from kennisbank import buildrun, languages
from kennisbank.articles import (
    CATEGORY_FOLDER,
    MARKER,
    ArticleError,
    Labels,
    Pagination,
    categories_in,
    category_page,
    category_url,
    is_article_file,
    list_options,
    newest_first,
    page_count,
    page_title,
    paginated_list,
    read_article,
)
from kennisbank.feeds import feed_path, feed_title, language_feed
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import split_locale

# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    env = config.theme.get_env()  # the theme's templates, overrides/ first
    _state(config).update(
        list=env.get_template("partials/kb-article-list.html"),
        byline=env.get_template("partials/kb-byline.html"),
        site=site,
        locale=locale,
        prefix=site.language(locale).prefix,
        labels=Labels.of(site, locale),
        drafts=os.environ.get("KENNISBANK_DRAFTS") == "1",
    )


@event_priority(-110)  # after mkdocs-static-i18n has chosen this language's files
def on_files(files, config):
    state = _state(config)
    site = state["site"]
    articles = []
    for file in list(files.documentation_pages()):
        if not is_article_file(file.src_uri, site.locales):
            continue
        try:
            article = read_article(file.src_uri, file.url, file.content_string, site)
        except ArticleError as exc:
            raise PluginError(f"docs/{file.src_uri}: {exc}") from None
        if article.draft and not state["drafts"]:
            files.remove(file)
        else:
            articles.append(article)
    state["articles"] = newest_first(articles)
    state["by_path"] = {article.path: article for article in articles}
    lists_changed = _lists_changed(state, files)
    categories = [_category_file(category, config) for category in categories_in(articles)]
    generated = list(categories)
    state["pagination"] = {}
    for file in [*files.documentation_pages(), *categories]:  # category pages are paginated too
        if not is_article_file(file.src_uri, site.locales):
            generated.extend(_paginate(file, files, config))
    if lists_changed:
        for file in generated:
            files.append(file)
    return files


def on_page_markdown(markdown, page, config, files):
    state = _state(config)
    pagination = state["pagination"].get(page.url)
    if pagination is not None and pagination.number > 1:
        title = page.meta.get("title") or page.title or ""
        page.meta["title"] = page_title(str(title), pagination, state["labels"])
        page.meta["search"] = {"exclude": True}  # the same text as page 1, which search finds (hooks/pagefind.py)
    return markdown


def on_page_content(html, page, config, files):
    state = _state(config)
    if "md:articles" in html:
        html = MARKER.sub(lambda match: _list(state, match["options"], page), html)
    article = state["by_path"].get(split_locale(page.file.src_uri, state["site"].locales)[0])
    if article is not None:
        byline = state["byline"].render(article=article, l=state["labels"], category_link=lambda category: _category_link(state, category, page))
        html = html.replace("</h1>", f"</h1>\n{byline}", 1)
    return html


def on_page_context(context, page, config, nav):
    """``feed``: this language's feed, for ``<link rel="alternate">`` in every page's head."""
    state = _state(config)
    site, locale = state["site"], state["locale"]
    context["feed"] = {"url": get_relative_url(feed_path(site, locale), page.url), "title": feed_title(site, locale)}
    pagination = state["pagination"].get(page.url)
    if pagination is not None:  # overrides/main.html: rel=prev/next of the list's pages instead of the nav's
        context["pagination"] = {
            rel: get_relative_url(pagination.url_of(number), page.url) if number else None
            for rel, number in (("prev", pagination.previous), ("next", pagination.next))
        }
    return context


def on_post_build(config):
    state = _state(config)
    site, locale = state["site"], state["locale"]
    target = Path(config.site_dir) / feed_path(site, locale)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(language_feed(state["articles"], site, locale))


# Helper functions


def _category_file(category: str, config) -> File:
    """The generated page of one category in this build's language, as mkdocs-static-i18n
    expects its files (the language switcher reads ``alternates``)."""
    state = _state(config)
    locale, prefix = state["locale"], state["prefix"]
    file = File.generated(config, f"{CATEGORY_FOLDER}/{category}.md", content=category_page(category, state["labels"]))
    file.dest_uri = category_url(category, prefix) + "index.html"
    file.url = category_url(category, prefix)
    file.locale = file.localization = file.locale_alternate_of = locale
    file.norm_src_uri = file.src_uri
    file.alternates = {}
    for language in state["site"].languages:
        twin = File.generated(config, file.src_uri, content="")
        twin.url = category_url(category, language.prefix)
        file.alternates[language.locale] = twin
    return file


def _paginate(file: File, files, config) -> list[File]:
    """If ``file``'s page lists articles without limit=, the pages after its first:
    generated files that render the same Markdown with the next articles."""
    state = _state(config)
    source = file.content_string
    if "md:articles" not in source:
        return []
    try:
        options = paginated_list(source, f"docs/{file.src_uri}", state["site"].categories)
    except ArticleError as exc:
        raise PluginError(str(exc)) from None
    if options is None:
        return []
    generated = []
    pages = page_count(len(options.select(state["articles"])), options.per_page)
    state["pagination"][file.url] = Pagination(file.url, 1, pages)
    prefix = state["prefix"]
    for number in range(2, pages + 1):
        pagination = Pagination(file.url, number, pages)
        url = pagination.url_of(number)
        # artikelen/page/2/index.md: an index, so no hook takes it for an article
        page = File.generated(config, url.removeprefix(prefix) + "index.md", content=source)
        page.dest_uri = url + "index.html"
        page.url = url
        for attr in ("locale", "localization", "locale_alternate_of"):
            setattr(page, attr, getattr(file, attr, state["locale"]))
        page.norm_src_uri = page.src_uri
        page.alternates = {}
        for locale, twin_of in (getattr(file, "alternates", None) or {}).items():
            twin = File.generated(config, page.src_uri, content="")
            twin.url = Pagination(twin_of.url, number, pages).url_of(number)
            twin.locale = getattr(twin_of, "locale", locale)
            page.alternates[locale] = twin
        generated.append(page)
        state["pagination"][page.url] = pagination
    return generated


def _lists_changed(state: dict, files) -> bool:
    """Whether the article lists must be built: always, except in a preview's rebuild
    (``mkdocs serve --dirty``, ``make dev``) in which no list shows anything new.

    A dirty rebuild builds only the pages whose source changed, and every generated
    page (MkDocs cannot tell its age): at 1,000 articles some 100 list pages, most of
    a rebuild. So it compares what the lists show of every article with the rebuild
    before: the same, and the generated pages are left out (their last build stays in
    the preview's folder); changed, and every page with a list is built again, its
    source unchanged or not."""
    if not languages.dirty():
        return True
    shown = tuple((a.path, a.url, a.title, a.summary, a.author, a.date, a.updated, a.categories, a.reading_minutes, a.draft) for a in state["articles"])
    key = f"articles:{state['locale']}"
    changed = languages.previous.get(key) != shown
    languages.previous[key] = shown
    if changed:
        for file in files.documentation_pages():
            if "md:articles" in file.content_string:
                file.content_string = file.content_string  # a page with content is "modified" to MkDocs
    return changed


def _category_link(state: dict, category: str, page) -> str:
    return get_relative_url(category_url(category, state["prefix"]), page.url)


def _list(state: dict, options: str, page) -> str:
    try:
        chosen = list_options(options, f"docs/{page.file.src_uri}", state["site"].categories)
    except ArticleError as exc:
        raise PluginError(str(exc)) from None
    articles = chosen.select(state["articles"])
    pagination = state["pagination"].get(page.url) if chosen.paginated else None
    if pagination is not None:
        articles = pagination.window(articles, chosen.per_page)
    return state["list"].render(
        articles=articles,
        pagination=pagination,
        page_link=lambda number: get_relative_url(pagination.url_of(number), page.url),
        l=state["labels"],
        level=chosen.level,
        link=lambda article: get_relative_url(article.url, page.url),
        category_link=lambda category: _category_link(state, category, page),
    )


def _state(config) -> dict:
    """This hook's state in the build of the current language (``kennisbank.buildrun``)."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)
