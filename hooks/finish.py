"""MkDocs hook: the steps after every language is built (``kennisbank.finish``).

Each language's build collects its part in the build's configuration
(``kennisbank.buildrun``: the SEO, manifest, share and assets hooks add to it). At
the end of the default language's build, once mkdocs-static-i18n has built the
other languages from it, this hook hands every language's part to
``kennisbank.finish.finish``, the same function ``python -m kennisbank.build`` calls.
A one-language build (``KENNISBANK_LANGUAGE``) leaves its part in the parallel
build's folder instead, or, in the writer's preview, nowhere.
"""

from __future__ import annotations

import logging

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import buildrun, languages
from kennisbank.finish import FinishError, finish
from kennisbank.siteconfig import from_mkdocs

log = logging.getLogger("mkdocs.hooks.finish")


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    buildrun.of(config).begin(config.plugins["i18n"].current_language, from_mkdocs(config))


@event_priority(-300)  # after mkdocs-static-i18n (-100) has built the other languages, and after every other hook
def on_post_build(config):
    i18n = config.plugins["i18n"]
    run = buildrun.of(config)
    if i18n.building:
        # a nested language build (the default language's build finishes for it), or one
        # language's process of python -m kennisbank.build, which finishes from its part
        languages.save_part(i18n.current_language, run.part(i18n.current_language))
        return
    try:
        finish(config.site_dir, run.parts, compress=not languages.serving(), report=log.info)
    except FinishError as exc:
        raise PluginError(str(exc)) from None
