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

from kennisbank.operator import Operator, OperatorError
from kennisbank.publisher import Publisher, PublisherError, is_public
from kennisbank.siteconfig import from_mkdocs

log = get_plugin_logger("publisher")

MARKER = re.compile(r"<!--\s*md:publisher\s+(?P<key>\w+)\s*-->")
OPERATOR = re.compile(r"<!--\s*md:operator\s+(?P<key>\w+)\s*-->")

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    try:
        publisher = Publisher.from_mapping(config.extra.get("publisher"))
    except PublisherError as exc:
        raise PluginError(str(exc)) from None
    site = from_mkdocs(config)
    try:
        operator = Operator.from_mapping(config.extra.get("operator"), site.locales)
    except OperatorError as exc:
        raise PluginError(str(exc)) from None
    problems = publisher.problems()
    placeholders = operator.problems()
    if (problems or placeholders) and is_public(config.site_url or ""):
        raise PluginError(
            f"the site is built for {config.site_url}, but it is not ready to go live:\n  "
            + "\n  ".join(problems + placeholders)
            + "\nReaders must be able to see who publishes the site and who processes their data (GDPR art. 13, art. 3:15d BW)."
        )
    locale = config.plugins["i18n"].current_language
    _state.update(
        publisher=publisher,
        operator=operator,
        locale=locale,
        strings=site.strings,
        problems=problems,
        labels={key: site.string(key, locale) for key in ("publisher_kvk", "publisher_unconfigured")},
    )


def on_page_content(html, page, config, files):
    if "md:operator" in html:
        try:
            html = OPERATOR.sub(lambda match: str(_state["operator"].markup(match["key"], _state["locale"], _state["strings"])), html)
        except (OperatorError, KeyError) as exc:
            raise PluginError(f"docs/{page.file.src_uri}: {exc}. Fix: name an operator fact, and give extra.strings the privacy_* texts it needs") from None
    if "md:publisher" not in html:
        return html
    try:
        return MARKER.sub(lambda match: str(_state["publisher"].markup(match["key"])), html)
    except PublisherError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: {exc}") from None


def on_page_context(context, page, config, nav):
    return _context(context)


def on_template_context(context, template_name, config):
    return _context(context)


def _context(context):
    context["publisher"] = _state["publisher"]
    context["publisher_unconfigured"] = bool(_state["problems"])
    context["publisher_labels"] = _state["labels"]
    return context
