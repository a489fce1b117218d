"""MkDocs hook: the contact and rights-request form where a page asks for it.

A page asks with ``<!-- md:contact-form -->``; the form comes from
``kennisbank.contact`` (the package's template, the site's strings in the page's
language) and posts to the manifest's ``contact_endpoint``, which ``kennisbank serve``
answers (``kennisbank.server.intake.contact``).
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.utils import get_relative_url

from kennisbank import buildrun
from kennisbank.contact import render_form
from kennisbank.siteconfig import from_mkdocs

MARKER = re.compile(r"<!--\s*md:contact-form\s*-->")


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    state = _state(config)
    state.update(site=from_mkdocs(config), locale=config.plugins["i18n"].current_language)


def on_page_content(html, page, config, files):
    state = _state(config)
    if "md:contact-form" not in html:
        return html
    privacy = next((file for file in files.documentation_pages() if file.src_uri in (f"privacy.{state['locale']}.md", "privacy.md")), None)
    if privacy is None:
        raise PluginError(f"docs/{page.file.src_uri}: the contact form links to the privacy statement, but docs/privacy.<lang>.md is missing. Fix: add it")
    form = render_form(state["site"], state["locale"], privacy_url=get_relative_url(privacy.url, page.url), page="/" + page.url)
    return MARKER.sub(lambda match: form, html, count=1)


def _state(config) -> dict:
    """This hook's state in the build of the current language (``kennisbank.buildrun``)."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)
