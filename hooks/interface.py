"""MkDocs hook: interface text that Python-Markdown writes, in the page's language.

The title of a heading's anchor link is ``toc``'s ``permalink_title``, one setting
for every language, and mkdocs-static-i18n refuses per-language
``markdown_extensions``. Each language build sets it here from
``extra.strings.permalink_title`` before any page is rendered.
"""

from __future__ import annotations

from mkdocs.plugins import event_priority

from kennisbank.siteconfig import from_mkdocs


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    toc = config.mdx_configs.setdefault("toc", {})
    if toc.get("permalink"):
        locale = config.plugins["i18n"].current_language
        toc["permalink_title"] = from_mkdocs(config).string("permalink_title", locale)
    return config
