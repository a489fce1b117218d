"""MkDocs hook: missing and outdated translations, with a notice for the reader.

For every page ``kennisbank.translations.page_status`` decides whether its
translation into this build's language is current, missing or outdated, and whether
the front matter accepts the gap (``translation: optional`` in the source,
``translation: outdated-ok`` in the translation); ``kennisbank i18n-status`` reports
the same decision. This hook only shows it: a notice under the page's title
(``overrides/partials/kb-notice.html``), and a warning for a gap that is not
accepted, so ``mkdocs build --strict`` fails.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger
from mkdocs.utils import get_relative_url

from kennisbank import buildrun
from kennisbank.articles import Labels
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import FrontMatterError, page_status, split_locale

log = get_plugin_logger("translations")

# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    state = _state(config)
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    template = config.theme.get_env().get_template("partials/kb-notice.html")  # overrides/ first
    state.update(site=site, locale=locale, docs=Path(config.docs_dir), labels=Labels.of(site, locale), template=template)


def on_page_content(html, page, config, files):
    state = _state(config)
    site = state["site"]
    path = split_locale(page.file.src_uri, site.locales)[0]
    try:
        status = page_status(state["docs"], path, state["locale"], site.default_language.locale)
    except FrontMatterError as exc:
        raise PluginError(str(exc)) from None
    if status.needs_work:
        log.warning(status.message)
    if status.notice is None:
        return html
    return html.replace("</h1>", f"</h1>\n{_notice(state, status, page)}", 1)


# Helper functions


def _notice(state: dict, status, page) -> str:
    """The notice, linking the original's version of ``page`` (mkdocs-static-i18n's alternates)."""
    original = (getattr(page.file, "alternates", None) or {}).get(status.original)
    original_url = get_relative_url(original.url, page.url) if original is not None else ""
    return state["template"].render(status=status, l=state["labels"], original_url=original_url)


def _state(config) -> dict:
    """This hook's state in the build of the current language (``kennisbank.buildrun``)."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)
