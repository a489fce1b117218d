"""MkDocs hook: the publisher's identity from ``extra.publisher``, where the site shows it.

A page names a value with a marker, ``<!-- md:publisher name -->`` (also
``address``, ``kvk``, ``vat``, ``email``, ``privacy_email``); the footer
(``overrides/partials/copyright.html``) shows them all. A strict build for a public
``site_url`` fails while one is missing or a placeholder; a local build shows a
notice in the footer. The rules live in ``kennisbank.publisher``.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger

from kennisbank import buildrun
from kennisbank.operator import Operator, OperatorError
from kennisbank.publisher import Publisher, PublisherError, is_public
from kennisbank.siteconfig import from_mkdocs

log = get_plugin_logger("publisher")

MARKER = re.compile(r"<!--\s*md:publisher\s+(?P<key>\w+)\s*-->")
OPERATOR = re.compile(r"<!--\s*md:operator\s+(?P<key>\w+)\s*-->")


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    state = _state(config)
    try:
        publisher = Publisher.from_mapping(config.extra.get("publisher"))
    except PublisherError as exc:
        raise PluginError(str(exc)) from None
    problems = publisher.problems()
    site = from_mkdocs(config)
    try:
        operator = Operator.from_mapping(config.extra.get("operator"), site.locales)
    except OperatorError as exc:
        raise PluginError(str(exc)) from None
    placeholders = operator.problems()
    if (problems or placeholders) and is_public(config.site_url or ""):
        raise PluginError(
            f"the site is built for {config.site_url}, but it is not ready to go live:\n  "
            + "\n  ".join(problems + placeholders)
            + "\nReaders must be able to see who publishes the site and who processes their data (GDPR art. 13, art. 3:15d BW)."
        )
    locale = config.plugins["i18n"].current_language
    state.update(
        publisher=publisher,
        operator=operator,
        locale=locale,
        strings=site.strings,
        problems=problems,
        labels={key: site.string(key, locale) for key in ("publisher_kvk", "publisher_unconfigured")},
    )


def on_page_content(html, page, config, files):
    state = _state(config)
    if "md:operator" in html:
        try:
            html = OPERATOR.sub(lambda match: str(state["operator"].markup(match["key"], state["locale"], state["strings"])), html)
        except (OperatorError, KeyError) as exc:
            raise PluginError(f"docs/{page.file.src_uri}: {exc}. Fix: name an operator fact, and give extra.strings the privacy_* texts it needs") from None
    if "md:publisher" not in html:
        return html
    try:
        return MARKER.sub(lambda match: str(state["publisher"].markup(match["key"])), html)
    except PublisherError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: {exc}") from None


def on_page_context(context, page, config, nav):
    return _context(_state(config), context)


def on_template_context(context, template_name, config):
    return _context(_state(config), context)


def _context(state: dict, context):
    context["publisher"] = state["publisher"]
    context["publisher_unconfigured"] = bool(state["problems"])
    context["publisher_labels"] = state["labels"]
    return context


def _state(config) -> dict:
    """This hook's state in the build of the current language (``kennisbank.buildrun``)."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)
