"""MkDocs hook: Pagefind's search index, once every language is built (see ``kennisbank.search``).

Each page that may be found gets ``data-pagefind-body`` on its article content; and after
mkdocs-static-i18n has built the last language, the outer build indexes the whole
site, before the assets hook compresses it.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank.search import SearchIndexError, build_index, mark_body
from kennisbank.shell import RESULT_PAGE
from kennisbank.siteconfig import from_mkdocs

#: the strings of the search box (extra.strings; overrides/partials/search.html reads them)
STRINGS = ("search", "search_placeholder", "search_reset", "search_start", "search_none", "search_one", "search_other", "search_error")

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    _state["prefix"] = site.language(locale).prefix
    missing = [key for key in STRINGS if locale not in site.strings.get(key, {})]
    if missing:
        raise PluginError(f"mkdocs.yml: extra.strings has no {locale} text for {', '.join(missing)}. Fix: add '{locale}: …' to each")


def on_post_page(output, page, config):
    search = page.meta.get("search") if isinstance(page.meta.get("search"), dict) else {}
    if page.file.dest_uri == _state["prefix"] + RESULT_PAGE or search.get("exclude"):
        return output
    return mark_body(output)


@event_priority(-200)  # after every language is built (mkdocs-static-i18n: -100), before the assets hook (-300) compresses
def on_post_build(config):
    if config.plugins["i18n"].building:
        return  # a nested language build; the outer (default language) build indexes them all
    try:
        build_index(config.site_dir)
    except SearchIndexError as exc:
        raise PluginError(f"the search index: {exc}") from None
