"""MkDocs hook: build one language only when ``KENNISBANK_LANGUAGE`` names it.

Runs before mkdocs-static-i18n's ``on_config`` (priority -100): it sets the plugin's
language and marks the build as one of its nested language builds, so the plugin
starts no other language's build and the hooks leave the after-all steps (sitemap,
manifest, Pagefind, compression) to ``python -m kennisbank.build``, or skip them in
``make dev``. Inside that parallel build (``KENNISBANK_BUILD_PARTS`` set) the site
folder is not cleaned: the builder cleaned it once, and the languages share it.
In the writer's preview (``mkdocs serve --dirty``, ``make dev``) a rebuild keeps the
404 page and reuses the compiled templates. See ``kennisbank.languages``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs import utils
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import languages


@event_priority(100)  # before mkdocs-static-i18n (-100) and every other hook (-110)
def on_config(config):
    locale = languages.only_language()
    if locale is None:
        return config
    i18n = config.plugins["i18n"]
    if locale not in i18n.build_languages:
        raise PluginError(
            f"{languages.LANGUAGE}={locale}: not a language the site builds. "
            f"Fix: use one of {', '.join(i18n.build_languages)} (plugins.i18n.languages in mkdocs.yml), or unset it"
        )
    i18n.current_language = locale
    i18n.building = True  # a nested language build: the plugin builds no other language
    if languages.dirty() and (Path(config.site_dir) / "404.html").is_file():
        # a preview's rebuild: the 404 page (Material renders it with the whole nav) is there
        config.theme.static_templates.discard("404.html")
    if languages.parts_dir() is not None:
        # MkDocs would empty site/ while the other languages write into it; the
        # builder emptied it before starting them (mkdocs-static-i18n does the same)
        utils.clean_directory = lambda directory: None
    return config


def on_env(env, config, files):
    if languages.dirty():  # a preview's rebuild: Material's templates compiled once, not per save
        env.bytecode_cache = languages.templates
    return env
