"""MkDocs hook: Pagefind's search index, once every language is built (see ``kennisbank.search``).

Each page that may be found gets ``data-pagefind-body`` on its article content;
``kennisbank.finish`` indexes the whole site once every language is built, before
it compresses it.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import buildrun
from kennisbank.search import mark_body
from kennisbank.shell import RESULT_PAGE
from kennisbank.siteconfig import from_mkdocs

#: the strings of the search box (extra.strings; overrides/partials/search.html reads them)
STRINGS = ("search", "search_placeholder", "search_reset", "search_start", "search_none", "search_one", "search_other", "search_error")


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    buildrun.of(config).hook_state(__name__, locale)["prefix"] = site.language(locale).prefix
    missing = [key for key in STRINGS if locale not in site.strings.get(key, {})]
    if missing:
        raise PluginError(f"mkdocs.yml: extra.strings has no {locale} text for {', '.join(missing)}. Fix: add '{locale}: …' to each")


def on_post_page(output, page, config):
    search = page.meta.get("search") if isinstance(page.meta.get("search"), dict) else {}
    prefix = buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)["prefix"]
    if page.file.dest_uri == prefix + RESULT_PAGE or search.get("exclude"):
        return output
    return mark_body(output)
