"""MkDocs hook: missing and outdated translations, with a notice for the reader.

In a language other than the default, a page shown from the default language's file
(no translation yet) gets a "not yet translated" notice; a translation whose
``source_hash`` no longer matches its source gets an "outdated" notice. Each is also
a warning, so ``mkdocs build --strict`` fails, unless the front matter accepts it
(``translation: optional`` in the source, ``translation: outdated-ok`` in the
translation). The rules live in ``kennisbank.translations``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger
from mkdocs.utils import get_relative_url

from kennisbank.articles import Labels, render_notice
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import FrontMatterError, ACCEPT_KEY, ACCEPT_MISSING, ACCEPT_OUTDATED, HASH_KEY, source_hash, split_locale, translation_file

log = get_plugin_logger("translations")

_state: dict = {}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    _state.update(
        site=site,
        locale=locale,
        default=site.default_language.locale,
        docs=Path(config.docs_dir),
        labels=Labels.of(site, locale),
    )


def on_page_content(html, page, config, files):
    locale, default = _state["locale"], _state["default"]
    if locale == default or page.file.generated_by:
        return html
    page_path, file_locale = split_locale(page.file.src_uri, _state["site"].locales)
    file_locale = file_locale or default
    if file_locale != locale:
        notice = _missing(page, page_path, file_locale)
    else:
        notice = _outdated(page, page_path)
    return html.replace("</h1>", f"</h1>\n{notice}", 1) if notice else html


def _missing(page, page_path: str, file_locale: str) -> str:
    if page.meta.get(ACCEPT_KEY) != ACCEPT_MISSING:
        log.warning(
            f"docs/{page.file.src_uri} has no {_state['locale']} translation: the {_state['locale']} site shows the "
            f"{file_locale} page. Fix: create docs/{translation_file(page_path, _state['locale'])}, "
            f"or accept it with '{ACCEPT_KEY}: {ACCEPT_MISSING}' in the front matter of docs/{page.file.src_uri}"
        )
    return render_notice("not_translated", _state["labels"], file_locale, "")


def _outdated(page, page_path: str) -> str:
    source = _state["docs"] / translation_file(page_path, _state["default"])
    if not source.is_file():
        return ""
    try:
        current = source_hash(source.read_text(encoding="utf-8"))
    except FrontMatterError as exc:
        raise PluginError(f"docs/{translation_file(page_path, _state['default'])}: {exc}") from None
    recorded = page.meta.get(HASH_KEY)
    if recorded is not None and str(recorded) == current:
        return ""
    if page.meta.get(ACCEPT_KEY) != ACCEPT_OUTDATED:
        log.warning(
            f"docs/{page.file.src_uri} is outdated: its source docs/{translation_file(page_path, _state['default'])} "
            f"changed ({HASH_KEY} {recorded or 'missing'}, now {current}). Fix: update the translation "
            f"(`kennisbank i18n-status` shows what changed), then run `kennisbank i18n-mark docs/{page.file.src_uri}`; "
            f"or accept it with '{ACCEPT_KEY}: {ACCEPT_OUTDATED}' in its front matter"
        )
    original = page.file.alternates.get(_state["default"]) if hasattr(page.file, "alternates") else None
    original_url = get_relative_url(original.url, page.url) if original else ""
    return render_notice("outdated", _state["labels"], _state["default"], original_url)
