"""MkDocs hook: check every page before it is rendered.

- an article (a page under ``artikelen/``) lacking a front-matter field the templates
  need stops the build, naming the file and the fix;
- a page without its translation is a warning (so ``--strict`` fails) naming the file
  to create, unless its source's front matter says ``translation: optional``.
The rules live in ``kennisbank.articles`` and ``kennisbank.translations``.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger

from kennisbank.articles import front_matter_problems, is_article
from kennisbank.translations import split_locale, translation_file

log = get_plugin_logger("pages")

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    i18n = config.plugins["i18n"]
    _state["locale"] = i18n.current_language
    _state["default"] = i18n.default_language
    _state["locales"] = list(i18n.build_languages)


def on_page_markdown(markdown, page, config, files):
    page_path, file_locale = split_locale(page.file.src_uri, _state["locales"])
    if is_article(page_path):
        problems = front_matter_problems(page.meta)
        if problems:
            raise PluginError(f"docs/{page.file.src_uri}: " + "; ".join(problems))
    locale = _state["locale"]
    if locale != _state["default"] and (file_locale or _state["default"]) != locale:
        if page.meta.get("translation") != "optional":
            log.warning(
                f"docs/{page.file.src_uri} has no {locale} translation: the {locale} site shows the "
                f"{file_locale or _state['default']} page. Fix: create docs/{translation_file(page_path, locale)}, "
                f"or accept it with 'translation: optional' in the front matter of docs/{page.file.src_uri}"
            )
    return markdown
