"""MkDocs hook: what the build manifest needs of each page, per language.

It hands the language's ``kennisbank.manifest.ManifestBuilder`` (in its part,
``kennisbank.buildrun``) every page's HTML (for the CSP hashes of its inline
scripts), its address and title (the pages whose views the server counts), the result page (the shell of the server's replies) and the page "how
contracts in the field score" (the server fills in its figures). The assessment
hook hands it the definitions; ``hooks/finish.py`` writes the manifest once every
language is built. What the manifest holds and why is said in ``kennisbank.manifest``.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import buildrun
from kennisbank.shell import FIELD_PAGE, RESULT_PAGE, PageError
from kennisbank.siteconfig import from_mkdocs


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    buildrun.of(config).begin(config.plugins["i18n"].current_language, from_mkdocs(config))


def on_post_page(output, page, config):
    part = buildrun.of(config).part(config.plugins["i18n"].current_language)
    prefix = part.site.language(part.locale).prefix
    part.manifest.add_page(output)
    if page.file.dest_uri.endswith(".html"):  # the pages whose views the server counts
        part.manifest.add_known_page(part.locale, page.file.dest_uri, page.title or "")
    try:
        if page.file.dest_uri == prefix + RESULT_PAGE:
            part.manifest.add_result_page(part.locale, prefix, output, f"{config.site_dir}/{page.file.dest_uri}")
        if page.file.dest_uri == prefix + FIELD_PAGE:
            part.manifest.add_field_page(part.locale, prefix, output, f"{config.site_dir}/{page.file.dest_uri}")
    except PageError as exc:
        raise PluginError(str(exc)) from None
    return output


def on_post_template(output, template_name, config):
    if template_name.endswith(".html"):
        buildrun.of(config).part(config.plugins["i18n"].current_language).manifest.add_page(output)
    return output
