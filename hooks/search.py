"""MkDocs hook: a search index per language (see ``kennisbank.search``).

After each language build, and last after mkdocs-static-i18n has written its merged
index, the entries are split by language root and each language's index is
written there with its own stemmer (from Material's translation of that language).
Material's pages look for the index under their ``base``, which ``main.html`` sets
to the language's root.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority

from kennisbank.search import index_json, split_by_language
from kennisbank.siteconfig import from_mkdocs

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    locale = config.plugins["i18n"].current_language
    _state["prefix"] = from_mkdocs(config).language(locale).prefix


def on_page_context(context, page, config, nav):
    """``search_base``: the page's way to its language's root, where its index lies."""
    prefix = _state["prefix"]
    if prefix:
        context["search_base"] = posixpath.join(context["base_url"], prefix)  # ends in "/": URLs resolve under it
    return context


@event_priority(-200)  # after the search plugin (0) and mkdocs-static-i18n (-100) have written theirs
def on_post_build(config):
    plugin = config.plugins.get("material/search")
    if plugin is None:
        return
    site = from_mkdocs(config)
    env = config.theme.get_env()
    for prefix, docs in split_by_language(plugin.search_index.entries, [lang.prefix for lang in site.languages]).items():
        language = next(lang for lang in site.languages if lang.prefix == prefix)
        own = env.get_template(f"partials/languages/{language.locale}.html").module
        fallback = env.get_template("partials/languages/en.html").module

        def t(key: str, own=own, fallback=fallback) -> str:
            return str(own.t(key)) or str(fallback.t(key))

        data = index_json(
            docs,
            lang=t("search.config.lang"),
            separator=t("search.config.separator"),
            pipeline=[step for step in re.split(r"\s*,\s*", t("search.config.pipeline")) if step],
            fields=plugin.config.fields,
        )
        target = Path(config.site_dir) / prefix / "search" / "search_index.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data, encoding="utf-8")
