"""MkDocs hook: write the build manifest once every language is built.

It hands ``kennisbank.manifest.builder`` the facts MkDocs has: the site's
configuration, every page's HTML (for the CSP hashes of its inline scripts) and the
result page of each language (the shell of the server's replies) and the page
"how contracts in the field score" (the server fills in its figures). The assessment
hook hands it the definitions. What the manifest holds and why is said in
``kennisbank.manifest``.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import languages
from kennisbank.manifest import ManifestError, builder
from kennisbank.shell import FIELD_PAGE, RESULT_PAGE, PageError
from kennisbank.siteconfig import from_mkdocs

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    i18n = config.plugins["i18n"]
    site = from_mkdocs(config)
    builder.start(site, first=not i18n.building)
    _state["prefix"] = site.language(i18n.current_language).prefix
    _state["locale"] = i18n.current_language


def on_post_page(output, page, config):
    builder.add_page(output)
    if page.file.dest_uri == _state["prefix"] + RESULT_PAGE:
        try:
            builder.add_result_page(_state["locale"], _state["prefix"], output, f"{config.site_dir}/{page.file.dest_uri}")
        except PageError as exc:
            raise PluginError(str(exc)) from None
    if page.file.dest_uri == _state["prefix"] + FIELD_PAGE:
        try:
            builder.add_field_page(_state["locale"], _state["prefix"], output, f"{config.site_dir}/{page.file.dest_uri}")
        except PageError as exc:
            raise PluginError(str(exc)) from None
    return output


def on_post_template(output, template_name, config):
    if template_name.endswith(".html"):
        builder.add_page(output)
    return output


@event_priority(-120)  # after mkdocs-static-i18n (-100) built the other languages, and after the other hooks
def on_post_build(config):
    if config.plugins["i18n"].building:
        # a nested language build; the outer (default language) build writes it once,
        # or python -m kennisbank.build from every language's part
        languages.save_part("manifest", _state["locale"], builder)
        return
    try:
        builder.write(config.site_dir)
    except ManifestError as exc:
        raise PluginError(f"the build manifest: {exc}") from None
